"""Mounted by promptlab/urls.py at workspaces/<slug>/audit/: a workspace's page, kept in
this app so that the workspaces app's URLs need not know of it."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.workspace_log, name="log"),
    path("export.csv", views.workspace_log_csv, name="log_csv"),
]
