from __future__ import annotations

from django.urls import path

from . import views

app_name = "workspaces"

urlpatterns = [
    path("", views.list_workspaces, name="list"),
    path("<slug:slug>/", views.workspace_detail, name="detail"),
    path("<slug:slug>/members/", views.members, name="members"),
    path("<slug:slug>/members/<int:membership_id>/role/", views.change_role, name="change_role"),
    path("<slug:slug>/members/<int:membership_id>/remove/", views.remove_member, name="remove_member"),
    path("<slug:slug>/leave/", views.leave_workspace, name="leave"),
    path("<slug:slug>/transfer/", views.transfer_ownership, name="transfer"),
    path("<slug:slug>/settings/", views.workspace_settings, name="settings"),
    path("<slug:slug>/delete/", views.delete_workspace, name="delete"),
]
