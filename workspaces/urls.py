from __future__ import annotations

from django.urls import path, re_path  # noqa: F401  (the pages add their routes here)

from . import invitation_views

app_name = "workspaces"

urlpatterns: list = []

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
