from __future__ import annotations

from django.urls import path, re_path

from . import invitation_views, views

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

# Invitations. A link's token is 43 URL-safe characters (secrets.token_urlsafe(32)):
# matched exactly, so that no workspace page under /workspaces/<slug>/… is taken for one.
TOKEN = r"(?P<token>[A-Za-z0-9_-]{43})"

urlpatterns += [
    path("<slug:slug>/invitations/", invitation_views.workspace_invitations, name="invitations"),
    path(
        "<slug:slug>/invitations/<int:invitation_id>/revoke/",
        invitation_views.revoke_invitation,
        name="revoke-invitation",
    ),
    re_path(rf"^invitations/{TOKEN}/$", invitation_views.invitation_page, name="invitation"),
    re_path(rf"^invitations/{TOKEN}/accept/$", invitation_views.accept_invitation, name="accept-invitation"),
    re_path(
        rf"^invitations/{TOKEN}/decline/$", invitation_views.decline_invitation, name="decline-invitation"
    ),
]
