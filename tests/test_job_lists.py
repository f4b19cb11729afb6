"""The job list: filters (template, status, dates), search of inputs and output, link text
that names the template, dates in the reader's locale, and each person's jobs only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from jobs.models import Job, JobStatus
from templates_app.models import Visibility

from .test_api import jwt_for

pytestmark = pytest.mark.django_db

DAY_ONE = datetime(2026, 12, 1, 14, 3, tzinfo=UTC)
DAY_TWO = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_job(template: Any, owner: Any, *, topic: str, output: str, status: str, created_at: datetime) -> Job:
    version = template.published_version
    return Job.objects.create(
        template_version=version,
        owner=owner,
        inputs={"topic": topic, "count": 2},
        input_hash=f"{topic}-{created_at.isoformat()}",
        prompt=f"About {topic}",
        provider=version.provider,
        model=version.model,
        status=status,
        output=output,
        created_at=created_at,
    )


@pytest.fixture
def jobs(make_template, owner, other_user) -> dict[str, Job]:
    meeting = make_template(slug="meeting", owner=owner, visibility=Visibility.PUBLIC)
    meeting.name_translations = {"pt-br": "Ata de reunião"}
    meeting.save()
    haiku = make_template(slug="haiku", owner=owner, visibility=Visibility.PUBLIC)
    return {
        "budget": make_job(
            meeting,
            owner,
            topic="budget ação",
            output="Minutes",
            status=JobStatus.SUCCEEDED,
            created_at=DAY_ONE,
        ),
        "spring": make_job(
            haiku,
            owner,
            topic="spring",
            output="Cherry blossoms fall",
            status=JobStatus.FAILED,
            created_at=DAY_TWO,
        ),
        "theirs": make_job(
            haiku, other_user, topic="secret", output="Cherry", status=JobStatus.SUCCEEDED, created_at=DAY_TWO
        ),
    }


def listed(response: Any) -> list[str]:
    return [job.inputs["topic"] for job in response.context["page"].object_list]


def test_filters_by_template_status_and_dates(owner, jobs) -> None:
    client = signed_in(owner)
    assert listed(client.get("/jobs/")) == ["spring", "budget ação"]
    assert listed(client.get("/jobs/", {"template": "meeting"})) == ["budget ação"]
    assert listed(client.get("/jobs/", {"status": "failed"})) == ["spring"]
    assert listed(client.get("/jobs/", {"created_from": "2026-12-02"})) == ["spring"]
    assert listed(client.get("/jobs/", {"created_to": "2026-12-01"})) == ["budget ação"]
    assert listed(client.get("/jobs/", {"created_from": "2026-12-01", "created_to": "2026-12-01"})) == [
        "budget ação"
    ]


def test_search_looks_in_inputs_and_output_of_ones_own_jobs_only(
    client: Client, owner, other_user, jobs
) -> None:
    mine = signed_in(owner)
    assert listed(mine.get("/jobs/", {"q": "BLOSSOM"})) == ["spring"]  # the output
    assert listed(mine.get("/jobs/", {"q": "ação"})) == ["budget ação"]  # an input, not ASCII
    assert listed(mine.get("/jobs/", {"q": "secret"})) == []  # another user's input
    assert listed(signed_in(other_user).get("/jobs/", {"q": "cherry"})) == ["secret"]
    assert listed(client.get("/jobs/", {"q": "cherry"})) == []  # an anonymous visitor: this session's only
    api = client.get("/api/v1/jobs", {"q": "blossom"}, HTTP_AUTHORIZATION=f"Bearer {jwt_for(owner)}")
    assert [job["id"] for job in api.json()["results"]] == [str(jobs["spring"].pk)]


def test_a_bad_filter_shows_its_error_and_no_500(owner, jobs) -> None:
    client = signed_in(owner)
    response = client.get(
        "/jobs/", {"created_from": "2026-12-09", "created_to": "2026-12-01", "status": "nope"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and "There is a problem" in page
    assert "The end date must be the same as or after the start date." in page
    assert page.count('href="#id_status"') == 1
    assert listed(client.get("/jobs/", {"q": "a\x00b"})) == ["spring", "budget ação"]  # refused, not a 500
    api = client.get("/api/v1/jobs", {"q": "a\x00b"}, HTTP_AUTHORIZATION=f"Bearer {jwt_for(owner)}")
    assert api.status_code == 400


def test_the_template_choices_are_the_templates_of_ones_jobs(owner, other_user, jobs, make_template) -> None:
    make_template(slug="unused", owner=owner)
    choices = dict(signed_in(owner).get("/jobs/").context["filters"].fields["template"].choices)
    assert set(choices) == {"", "meeting", "haiku"}
    assert set(dict(signed_in(other_user).get("/jobs/").context["filters"].fields["template"].choices)) == {
        "",
        "haiku",
    }


def test_links_name_the_template_and_dates_follow_the_language(owner, jobs) -> None:
    client = signed_in(owner)
    english = client.get("/jobs/").content.decode()
    assert f'<a href="/jobs/{jobs["budget"].pk}/">Meeting<span class="visually-hidden">' in english
    assert "1 December 2026" in english
    portuguese = client.get("/jobs/", headers={"accept-language": "pt-BR"}).content.decode()
    assert f'<a href="/jobs/{jobs["budget"].pk}/">Ata de reunião<span' in portuguese
    assert "1 de dezembro de 2026" in portuguese


def test_the_pages_keep_the_filter(owner, make_template) -> None:
    template = make_template(slug="many", owner=owner)
    for number in range(30):
        make_job(
            template, owner, topic=f"t{number}", output="", status=JobStatus.SUCCEEDED, created_at=DAY_ONE
        )
    page = signed_in(owner).get("/jobs/", {"status": "succeeded"}).content.decode()
    assert 'href="?status=succeeded&amp;page=2"' in page
