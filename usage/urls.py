from __future__ import annotations

from django.urls import path

from . import views

app_name = "usage"

urlpatterns = [
    path("", views.usage_page, name="page"),
]
