from __future__ import annotations

from django.urls import path

from . import views

app_name = "budgets"

# Mounted at workspaces/<slug:slug>/budgets/ (promptlab/urls.py).
urlpatterns = [path("", views.edit_budgets, name="edit")]
