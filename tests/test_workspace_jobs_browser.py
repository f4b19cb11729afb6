"""Another member's jobs, seen through a workspace that shares them, in a real browser
(headless Chromium, axe-core on every page, both languages): the list says who ran each,
the job page says so too and offers no cancel or retry; the list is reached by keyboard."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from jobs.models import Job, JobStatus
from templates_app.models import Visibility
from workspaces import services
from workspaces.models import Membership, Role

from .conftest import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def job_of(template: Any, owner: User, status: str, output: str = "") -> Job:
    version = template.published_version
    return Job.objects.create(
        template_version=version,
        owner=owner,
        inputs={"topic": "spring", "count": 2},
        input_hash=f"{owner.pk}-{status}",
        prompt="About spring",
        provider=version.provider,
        model=version.model,
        status=status,
        output=output,
        error_code="provider_error" if status == JobStatus.FAILED else "",
    )


@pytest.mark.parametrize("locale", ["en-US", "pt-BR"])
def test_a_member_reads_another_member_s_jobs_without_their_actions(
    signed_in_page: Any, live_server_url: str, make_template: Any, locale: str
) -> None:
    editor = User.objects.create_user("editor@example.com", "correct horse battery")
    member = User.objects.create_user("member@example.com", "correct horse battery")
    workspace = services.create_team_workspace(editor, "Team")
    workspace.members_see_all_jobs = True
    workspace.save()
    Membership.objects.create(workspace=workspace, user=member, role=Role.MEMBER)
    template = make_template(slug="team-notes", owner=editor, visibility=Visibility.WORKSPACE)
    template.workspace = workspace
    template.save(update_fields=["workspace"])
    template.refresh_from_db()
    succeeded = job_of(template, editor, JobStatus.SUCCEEDED, output="Blossoms")
    failed = job_of(template, editor, JobStatus.FAILED)
    own = job_of(template, member, JobStatus.CANCELLED)

    page = signed_in_page(member, locale)
    page.goto(f"{live_server_url}/jobs/")
    assert_accessible(page)
    run_by = page.locator("[data-run-by]")
    assert run_by.count() == 2
    assert "editor@example.com" in run_by.first.inner_text()
    # By keyboard, to the first job's page.
    link = page.locator(f'a[href="/jobs/{succeeded.pk}/"]')
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/jobs/{succeeded.pk}/")
    assert_accessible(page)
    assert "editor@example.com" in page.locator("p[data-run-by]").inner_text()
    assert "Blossoms" in page.locator("#job-output").inner_text()

    page.goto(f"{live_server_url}/jobs/{failed.pk}/")
    assert_accessible(page)
    assert page.locator(f'form[action="/jobs/{failed.pk}/retry/"]').count() == 0
    assert page.locator("#job-cancel").count() == 0

    page.goto(f"{live_server_url}/jobs/{own.pk}/")
    assert_accessible(page)
    assert page.locator("p[data-run-by]").count() == 0
    assert page.locator(f'form[action="/jobs/{own.pk}/retry/"]').count() == 1
