"""Review before publishing: in a workspace that asks for it, an editor's publish becomes a
proposal that an admin (never its proposer) approves, which publishes, or sends back."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from templates_app.models import ReviewAction, ReviewError, ReviewState, Template
from workspaces.models import Membership, Role, Workspace
from workspaces.services import create_team_workspace

pytestmark = pytest.mark.django_db

BODY = "Write about {{ topic }}."
PARAMETERS = [{"name": "topic", "type": "string", "label": "Topic"}]


@pytest.fixture
def team(db: None) -> dict[str, Any]:
    people = {
        role: User.objects.create_user(f"{role}@example.com", "correct horse battery")
        for role in ("owner", "admin", "editor", "member", "outsider")
    }
    workspace = create_team_workspace(people["owner"], "Docs team")
    workspace.review_required = True
    workspace.save()
    for role in ("admin", "editor", "member"):
        Membership.objects.create(workspace=workspace, user=people[role], role=role)
    template = Template.objects.create(
        slug="release-notes", name="Release notes", owner=people["editor"], workspace=workspace
    )
    # The first version, published by an admin: the form page has something to serve.
    template.save_content({"body": BODY, "parameters": PARAMETERS}, author=people["admin"], publish=True)
    return {"workspace": workspace, "template": template, **people}


def _fresh(team: dict[str, Any]) -> Template:
    return Template.objects.get(pk=team["template"].pk)


def _user(team: dict[str, Any], role: str) -> User:
    # A fresh object per step: the per-request role memo must not carry over.
    return User.objects.get(pk=team[role].pk)


def test_an_editors_publish_is_a_proposal_and_leaves_the_form_alone(team: dict[str, Any]) -> None:
    template = _fresh(team)
    published = template.published_version
    saved = template.save_content({"body": "New {{ topic }}."}, author=_user(team, "editor"), publish=True)
    template.refresh_from_db()
    assert saved.proposed and saved.created and not saved.published
    assert template.published_version == published
    assert saved.version.review_state == ReviewState.PROPOSED
    assert list(saved.version.reviews.values_list("action", "author__email")) == [
        (ReviewAction.PROPOSED, "editor@example.com")
    ]


def test_the_proposer_cannot_publish_their_own_proposal(team: dict[str, Any]) -> None:
    template = _fresh(team)
    version = template.save_content(
        {"body": "New {{ topic }}."}, author=_user(team, "editor"), publish=True
    ).version
    with pytest.raises(ReviewError) as refused:
        template.approve(version, _user(team, "editor"))
    assert refused.value.code == "permission_denied"
    # Promoted to admin later, still not their own proposal.
    Membership.objects.filter(user=team["editor"]).update(role=Role.ADMIN)
    with pytest.raises(ReviewError) as refused:
        _fresh(team).approve(version, _user(team, "editor"))
    assert refused.value.code == "own_proposal"
    assert _fresh(team).published_version != version


def test_approval_publishes_and_every_step_is_kept(team: dict[str, Any]) -> None:
    template = _fresh(team)
    version = template.save_content(
        {"body": "New {{ topic }}."}, author=_user(team, "editor"), publish=True
    ).version
    template.comment_on(version, _user(team, "member"), "Looks fine to me.")
    template.request_changes(version, _user(team, "admin"), "Say which release.")
    with pytest.raises(ReviewError) as refused:
        template.approve(version, _user(team, "owner"))
    assert refused.value.code == "not_proposed"  # sent back: the editor proposes again
    template.propose(version, _user(team, "editor"), "Done.")
    _fresh(team).approve(version, _user(team, "owner"), "Thanks.")
    template = _fresh(team)
    version.refresh_from_db()
    assert template.published_version == version
    assert version.review_state == ReviewState.APPROVED
    assert version.first_published_at is not None
    assert list(version.reviews.values_list("action", "author__email", "comment")) == [
        ("proposed", "editor@example.com", ""),
        ("commented", "member@example.com", "Looks fine to me."),
        ("changes_requested", "admin@example.com", "Say which release."),
        ("proposed", "editor@example.com", "Done."),
        ("approved", "owner@example.com", "Thanks."),
    ]


def test_asking_for_changes_needs_a_comment(team: dict[str, Any]) -> None:
    template = _fresh(team)
    version = template.save_content(
        {"body": "New {{ topic }}."}, author=_user(team, "editor"), publish=True
    ).version
    with pytest.raises(ReviewError) as refused:
        template.request_changes(version, _user(team, "admin"), "  ")
    assert refused.value.code == "comment_required"


def test_admins_publish_directly_and_without_review_editors_do_too(team: dict[str, Any]) -> None:
    template = _fresh(team)
    saved = template.save_content({"body": "Admin {{ topic }}."}, author=_user(team, "admin"), publish=True)
    assert saved.published and not saved.proposed
    Workspace.objects.filter(pk=team["workspace"].pk).update(review_required=False)
    saved = _fresh(team).save_content(
        {"body": "Editor {{ topic }}."}, author=_user(team, "editor"), publish=True
    )
    assert saved.published and not saved.proposed


def test_a_new_templates_first_version_waits_for_review_too(team: dict[str, Any]) -> None:
    template = Template.objects.create(slug="fresh", name="Fresh", workspace=team["workspace"])
    saved = template.save_content(
        {"body": BODY, "parameters": PARAMETERS}, author=_user(team, "editor"), publish=False
    )
    template.refresh_from_db()
    assert template.published_version is None and saved.proposed


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_history_publish_button_proposes_for_an_editor(team: dict[str, Any]) -> None:
    template = _fresh(team)
    version = template.save_content(
        {"body": "New {{ topic }}."}, author=_user(team, "editor"), publish=False
    ).version
    response = _client(team["editor"]).post(f"/t/{template.slug}/v{version.number}/publish/", follow=True)
    assert response.status_code == 200
    assert "Proposed version 2 for review." in response.content.decode()
    assert _fresh(team).published_version.number == 1
    # The admin's publish of the proposal is its approval.
    _client(team["admin"]).post(f"/t/{template.slug}/v{version.number}/publish/")
    assert _fresh(team).published_version.number == 2
    assert version.reviews.filter(action="approved", author=team["admin"]).exists()


def test_the_review_page_shows_the_diff_and_takes_each_step(team: dict[str, Any]) -> None:
    template = _fresh(team)
    version = template.save_content(
        {"body": "Newer {{ topic }}."}, author=_user(team, "editor"), publish=True
    ).version
    url = f"/t/{template.slug}/v{version.number}/review/"
    page = _client(team["admin"]).get(url).content.decode()
    assert "Changes from version 1" in page and "Newer {{ topic }}." in page
    assert 'value="approve"' in page
    # The proposer sees no approve button, and a POST of one is refused with a message.
    editor_page = _client(team["editor"]).get(url).content.decode()
    assert 'value="approve"' not in editor_page
    refused = _client(team["editor"]).post(url, {"action": "approve"})
    assert refused.status_code == 200 and "Only the workspace" in refused.content.decode()
    # Asking for changes without a comment names the field.
    empty = _client(team["admin"]).post(url, {"action": "request_changes", "comment": ""})
    assert "Error:" in empty.content.decode() and "Say what should change." in empty.content.decode()
    assert _client(team["admin"]).post(url, {"action": "approve", "comment": "Ship it"}).status_code == 302
    assert _fresh(team).published_version == version


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("admin", 200), ("editor", 200), ("member", 404), ("outsider", 404), (None, 404)],
)
def test_review_page_access(team: dict[str, Any], role: str | None, status: int) -> None:
    client = _client(team[role]) if role else Client()
    assert client.get(f"/t/{team['template'].slug}/v1/review/").status_code == status


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_api_saves_a_proposal_and_reviews_it(team: dict[str, Any]) -> None:
    slug = team["template"].slug
    saved = _api(team["editor"]).patch(
        f"/api/v1/templates/{slug}", {"body": "API {{ topic }}."}, format="json"
    )
    assert saved.status_code == 200, saved.content
    assert saved.json()["proposed"] is True
    versions = _api(team["editor"]).get(f"/api/v1/templates/{slug}/versions").json()
    assert versions[0]["review_state"] == "proposed" and versions[0]["published"] is False
    url = f"/api/v1/templates/{slug}/versions/2/review"
    own = _api(team["editor"]).post(url, {"action": "approve"}, format="json")
    assert own.status_code == 403 and own.json()["error"]["code"] == "permission_denied"
    bad = _api(team["admin"]).post(url, {"action": "request_changes"}, format="json")
    assert bad.status_code == 400 and "comment" in bad.json()["error"]["details"]
    unknown = _api(team["admin"]).post(url, {"action": "merge"}, format="json")
    assert unknown.status_code == 400 and "action" in unknown.json()["error"]["details"]
    approved = _api(team["admin"]).post(url, {"action": "approve", "comment": "Good"}, format="json")
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["published"] is True and body["review_state"] == "approved"
    assert [step["action"] for step in body["reviews"]] == ["proposed", "approved"]
    again = _api(team["owner"]).post(url, {"action": "approve"}, format="json")
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("role", "status"), [("member", 403), ("outsider", 404), ("editor", 200), ("admin", 200)]
)
def test_api_review_access(team: dict[str, Any], role: str, status: int) -> None:
    Template.objects.filter(pk=team["template"].pk).update(visibility="workspace")
    response = _api(team[role]).post(
        f"/api/v1/templates/{team['template'].slug}/versions/1/review",
        {"action": "comment", "comment": "Hello"},
        format="json",
    )
    assert response.status_code == status, response.content


def test_an_unknown_version_is_a_404(team: dict[str, Any]) -> None:
    response = _api(team["admin"]).post(
        f"/api/v1/templates/{team['template'].slug}/versions/99/review",
        {"action": "comment", "comment": "x"},
        format="json",
    )
    assert response.status_code == 404


def test_every_review_step_is_in_the_audit_log(team: dict[str, Any]) -> None:
    from audit.models import Action, AuditEntry

    template = _fresh(team)
    version = template.save_content(
        {"body": "New {{ topic }}."}, author=_user(team, "editor"), publish=True
    ).version
    template.request_changes(version, _user(team, "admin"), "Say which release.")
    template.propose(version, _user(team, "editor"), "Done.")
    _fresh(team).approve(version, _user(team, "owner"))
    entries = AuditEntry.objects.filter(
        workspace=team["workspace"], details__version=version.number
    ).order_by("pk")
    assert [(entry.action, entry.actor.email) for entry in entries] == [
        (Action.TEMPLATE_EDITED, "editor@example.com"),
        (Action.TEMPLATE_PROPOSED, "editor@example.com"),
        (Action.TEMPLATE_CHANGES_REQUESTED, "admin@example.com"),
        (Action.TEMPLATE_PROPOSED, "editor@example.com"),
        (Action.TEMPLATE_APPROVED, "owner@example.com"),
        (Action.TEMPLATE_PUBLISHED, "owner@example.com"),
    ]
