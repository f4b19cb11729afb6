"""Whose jobs a person sees, with workspaces: their own always; with the workspace's
``members_see_all_jobs`` on, every member also reads (never cancels, never retries) the
jobs its members ran with its templates. Anyone else's job is a 404; a job seen but
not run is a 403 for its actions; leaving the workspace ends the view at once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from jobs.models import Job, JobStatus
from templates_app.models import Template, Visibility
from workspaces import services
from workspaces.models import Membership, Role, Workspace

from .test_api import jwt_for

pytestmark = pytest.mark.django_db

VIEWERS = ("owner", "admin", "editor", "member", "outsider")


def make_job(
    template: Template, owner: Any, *, status: str = JobStatus.RUNNING, session_key: str = ""
) -> Job:
    version = template.published_version
    return Job.objects.create(
        template_version=version,
        owner=owner,
        session_key=session_key,
        inputs={"topic": f"{owner.email if owner else 'visitor'}'s topic", "count": 2},
        input_hash=f"{owner.pk if owner else session_key}-{template.pk}",
        prompt="About it",
        provider=version.provider,
        model=version.model,
        status=status,
    )


@pytest.fixture
def team(make_template: Any) -> dict[str, Any]:
    """A team workspace with one person of each role, its template (which anyone signed
    in may run), a job of each person with it, a visitor's, and a job of the member
    with a template of their own personal workspace."""
    people = {
        name: User.objects.create_user(f"{name}@example.com", "correct horse battery") for name in VIEWERS
    }
    workspace = services.create_team_workspace(people["owner"], "Team")
    for name in ("admin", "editor", "member"):
        Membership.objects.create(workspace=workspace, user=people[name], role=Role(name))
    template = make_template(slug="team-notes", owner=people["editor"], visibility=Visibility.SIGNED_IN)
    template.workspace = workspace
    template.save(update_fields=["workspace"])
    template.refresh_from_db()
    own = make_template(slug="my-notes", owner=people["member"], visibility=Visibility.PUBLIC)
    jobs = {name: make_job(template, user) for name, user in people.items()}
    return {
        "people": people,
        "workspace": workspace,
        "template": template,
        "jobs": jobs,
        "visitor": make_job(template, None, session_key="a-visitor"),
        "personal": make_job(own, people["member"]),
    }


def visible_ids(team: dict[str, Any], viewer: str) -> set[str]:
    """What the rule should give ``viewer``: their job, and with the setting on (for a
    member of the workspace) the jobs its members ran with its template."""
    jobs = team["jobs"]
    seen = {str(jobs[viewer].pk)}
    if viewer == "member":
        seen.add(str(team["personal"].pk))
    if team["workspace"].members_see_all_jobs and viewer != "outsider":
        seen |= {str(jobs[name].pk) for name in VIEWERS if name != "outsider"}
    return seen


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {jwt_for(user)}"}


@pytest.mark.parametrize("shared", [False, True], ids=["own-jobs-only", "members-see-all"])
@pytest.mark.parametrize("viewer", VIEWERS)
def test_the_job_list_page_and_api_show_own_jobs_and_the_workspace_s_when_it_shares_them(
    team: dict[str, Any], viewer: str, shared: bool
) -> None:
    Workspace.objects.filter(pk=team["workspace"].pk).update(members_see_all_jobs=shared)
    team["workspace"].refresh_from_db()
    user = team["people"][viewer]
    expected = visible_ids(team, viewer)
    assert {str(pk) for pk in Job.objects.visible_to(user, None).values_list("pk", flat=True)} == expected

    page = signed_in(user).get("/jobs/")
    assert page.status_code == 200
    listed = {str(job.pk) for job in page.context["page"].object_list}
    assert listed == expected
    # Another's job says whose it is; one's own does not.
    others = [job for job in page.context["page"].object_list if job.owner_id != user.pk]
    assert page.content.decode().count("data-run-by") == len(others)

    api = Client().get("/api/v1/jobs", headers=bearer(user))
    assert api.status_code == 200
    assert {item["id"] for item in api.json()["results"]} == expected
    runners = {
        str(job.pk): job.owner.email
        for job in Job.objects.filter(owner__isnull=False).select_related("owner")
    }
    assert all(item["run_by"] == runners[item["id"]] for item in api.json()["results"])

    graphql = Client().post(
        "/graphql",
        json.dumps({"query": "{ jobs { results { id runBy } } }"}),
        content_type="application/json",
        headers=bearer(user),
    )
    results = graphql.json()["data"]["jobs"]["results"]
    assert {item["id"] for item in results} == expected
    assert all(item["runBy"] == runners[item["id"]] for item in results)


@pytest.mark.parametrize("shared", [False, True], ids=["own-jobs-only", "members-see-all"])
@pytest.mark.parametrize("viewer", VIEWERS)
def test_a_job_page_is_a_404_unless_the_rule_shows_it_and_only_its_runner_may_cancel(
    team: dict[str, Any], viewer: str, shared: bool
) -> None:
    Workspace.objects.filter(pk=team["workspace"].pk).update(members_see_all_jobs=shared)
    team["workspace"].refresh_from_db()
    user = team["people"][viewer]
    client = signed_in(user)
    expected = visible_ids(team, viewer)
    for name, job in team["jobs"].items():
        page = client.get(f"/jobs/{job.pk}/")
        api = Client().get(f"/api/v1/jobs/{job.pk}", headers=bearer(user))
        if str(job.pk) not in expected:
            assert (page.status_code, api.status_code) == (404, 404), name
            assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 404
            assert Client().post(f"/api/v1/jobs/{job.pk}/cancel", headers=bearer(user)).status_code == 404
            continue
        assert (page.status_code, api.status_code) == (200, 200), name
        html = page.content.decode()
        if name == viewer:
            assert 'id="job-cancel"' in html
            assert "data-run-by" not in html
            continue
        # Seen through the workspace: read-only, and the actions refused with a 403.
        assert 'id="job-cancel"' not in html
        assert "data-run-by" in html and team["people"][name].email in html
        assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 403
        refused = Client().post(f"/api/v1/jobs/{job.pk}/cancel", headers=bearer(user))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"
        job.refresh_from_db()
        assert job.status == JobStatus.RUNNING
    # Their own job, they cancel.
    own = team["jobs"][viewer]
    assert client.post(f"/jobs/{own.pk}/cancel/").status_code == 302
    own.refresh_from_db()
    assert own.status == JobStatus.CANCELLED


def test_nobody_sees_a_visitor_s_or_an_outsider_s_run_of_the_workspace_s_template(
    team: dict[str, Any],
) -> None:
    Workspace.objects.filter(pk=team["workspace"].pk).update(members_see_all_jobs=True)
    for name in ("owner", "admin", "editor", "member"):
        seen = Job.objects.visible_to(team["people"][name], None)
        assert not seen.filter(pk__in=[team["visitor"].pk, team["jobs"]["outsider"].pk]).exists()
    # Nor does the member's job with a template of their own personal workspace show.
    assert not Job.objects.visible_to(team["people"]["owner"], None).filter(pk=team["personal"].pk).exists()
    # The visitor still sees theirs, by their browser session.
    assert list(Job.objects.visible_to(None, "a-visitor")) == [team["visitor"]]


def test_retrying_another_member_s_failed_job_is_refused(team: dict[str, Any]) -> None:
    Workspace.objects.filter(pk=team["workspace"].pk).update(members_see_all_jobs=True)
    job = team["jobs"]["editor"]
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
    client = signed_in(team["people"]["member"])
    page = client.get(f"/jobs/{job.pk}/")
    assert page.status_code == 200
    assert f'action="/jobs/{job.pk}/retry/"' not in page.content.decode()
    assert client.post(f"/jobs/{job.pk}/retry/").status_code == 403
    assert client.post(f"/jobs/{job.pk}/retry-steps/").status_code == 403
    assert Job.objects.count() == 7  # no new job
    api = Client().post(f"/api/v1/jobs/{job.pk}/retry", headers=bearer(team["people"]["member"]))
    assert api.status_code == 403
    # Its runner sees the retry button.
    mine = signed_in(team["people"]["editor"]).get(f"/jobs/{job.pk}/")
    assert f'action="/jobs/{job.pk}/retry/"' in mine.content.decode()


@pytest.mark.parametrize("how", ["removed", "left"])
def test_whoever_leaves_the_workspace_loses_its_jobs_on_the_next_request(
    team: dict[str, Any], how: str
) -> None:
    Workspace.objects.filter(pk=team["workspace"].pk).update(members_see_all_jobs=True)
    team["workspace"].refresh_from_db()
    member = team["people"]["member"]
    client = signed_in(member)
    editors_job = team["jobs"]["editor"]
    assert client.get(f"/jobs/{editors_job.pk}/").status_code == 200
    assert Client().get(f"/api/v1/jobs/{editors_job.pk}", headers=bearer(member)).status_code == 200

    if how == "removed":
        membership = Membership.objects.get(workspace=team["workspace"], user=member)
        services.remove_member(team["workspace"], team["people"]["admin"], membership)
    else:
        services.leave(team["workspace"], member)

    assert client.get(f"/jobs/{editors_job.pk}/").status_code == 404
    assert Client().get(f"/api/v1/jobs/{editors_job.pk}", headers=bearer(member)).status_code == 404
    listed = {job.pk for job in client.get("/jobs/").context["page"].object_list}
    assert listed == {team["jobs"]["member"].pk, team["personal"].pk}
    # The one who left still has their own job; the others no longer see it.
    assert (
        not Job.objects.visible_to(team["people"]["owner"], None)
        .filter(pk=team["jobs"]["member"].pk)
        .exists()
    )


def test_turning_the_setting_off_hides_the_others_jobs_again(team: dict[str, Any]) -> None:
    workspace = team["workspace"]
    member = team["people"]["member"]
    Workspace.objects.filter(pk=workspace.pk).update(members_see_all_jobs=True)
    assert Job.objects.visible_to(member, None).filter(pk=team["jobs"]["owner"].pk).exists()
    Workspace.objects.filter(pk=workspace.pk).update(members_see_all_jobs=False)
    assert signed_in(member).get(f"/jobs/{team['jobs']['owner'].pk}/").status_code == 404


def test_the_job_list_filter_offers_the_templates_of_the_jobs_shown(team: dict[str, Any]) -> None:
    Workspace.objects.filter(pk=team["workspace"].pk).update(members_see_all_jobs=True)
    page = signed_in(team["people"]["owner"]).get("/jobs/", {"template": "team-notes"})
    choices = dict(page.context["filters"].fields["template"].choices)
    assert "team-notes" in choices and "my-notes" not in choices
    assert len(page.context["page"].object_list) == 4


def test_a_personal_workspace_sharing_its_jobs_shows_its_owner_nobody_else_s(
    team: dict[str, Any], make_template: Any
) -> None:
    owner = team["people"]["owner"]
    personal = Workspace.objects.personal_for(owner)
    Workspace.objects.filter(pk=personal.pk).update(members_see_all_jobs=True)
    mine = make_template(slug="owner-public", owner=owner, visibility=Visibility.PUBLIC)
    strangers = make_job(mine, team["people"]["outsider"])
    assert not Job.objects.visible_to(owner, None).filter(pk=strangers.pk).exists()


def finished(template: Template, owner: Any, runs: int) -> None:
    """``runs`` succeeded jobs of ``owner`` (each counted in the usage rollups as it ends)."""
    for number in range(runs):
        job = make_job(template, owner, status=JobStatus.QUEUED)
        Job.objects.filter(pk=job.pk).update(input_hash=f"{job.pk}-{number}")
        attempt = job.claim("task")
        assert attempt is not None
        assert job.mark_succeeded(attempt, output="ok", input_tokens=1, output_tokens=1, cost=None)


def runs_seen(user: User) -> int:
    response = Client().get("/api/v1/stats", headers=bearer(user))
    assert response.status_code == 200, response.content
    return response.json()["total"]["runs"]


def test_a_workspace_s_admins_see_the_usage_of_its_members_runs_of_its_templates(
    team: dict[str, Any], make_template: Any
) -> None:
    Job.objects.all().delete()
    people, template = team["people"], team["template"]
    personal = Template.objects.get(slug="my-notes")
    finished(template, people["member"], 2)
    finished(personal, people["member"], 1)  # the member's own business
    finished(template, people["outsider"], 4)  # not a member: not the workspace's figures
    finished(template, people["admin"], 8)
    assert runs_seen(people["owner"]) == 2 + 8
    assert runs_seen(people["admin"]) == 2 + 8
    assert runs_seen(people["editor"]) == 0
    assert runs_seen(people["member"]) == 2 + 1
    assert runs_seen(people["outsider"]) == 4
    client = signed_in(people["admin"])
    assert client.get("/usage/").context["total"].runs == 10
    # The member leaves: their runs are no longer the admins' to see.
    services.leave(team["workspace"], people["member"])
    assert runs_seen(people["admin"]) == 8


def test_the_usage_page_says_whose_runs_it_counts(team: dict[str, Any]) -> None:
    for name, members in (("admin", True), ("owner", True), ("editor", False), ("outsider", False)):
        page = signed_in(team["people"][name]).get("/usage/")
        assert page.context["members"] is members, name
        assert ("your members' runs" in page.content.decode()) is members, name


@pytest.mark.needs_redis
@pytest.mark.parametrize("shared", [False, True], ids=["own-jobs-only", "members-see-all"])
def test_the_event_streams_open_for_whoever_sees_the_job(team: dict[str, Any], shared: bool) -> None:
    """The page's and the API's streams (served under ASGI) ask the same rule when they open."""
    from asgiref.sync import async_to_sync
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import Http404
    from django.test import RequestFactory

    from jobs.api.views import job_events_api
    from jobs.views import job_events

    Workspace.objects.filter(pk=team["workspace"].pk).update(members_see_all_jobs=shared)
    job = team["jobs"]["editor"]

    def page_stream(user: User) -> int:
        request = RequestFactory().get(f"/jobs/{job.pk}/events/")
        request.session = SessionStore()

        async def auser() -> User:
            return user

        request.auser = auser
        try:
            return async_to_sync(job_events)(request, job.pk).status_code
        except Http404:
            return 404

    def api_stream(user: User) -> int:
        request = RequestFactory().get(f"/api/v1/jobs/{job.pk}/events", headers=bearer(user))
        return async_to_sync(job_events_api)(request, job.pk).status_code

    for name in VIEWERS:
        user = team["people"][name]
        seen = name == "editor" or (shared and name != "outsider")
        assert (page_stream(user), api_stream(user)) == ((200, 200) if seen else (404, 404)), name
