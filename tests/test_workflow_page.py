"""A workflow run's job page without a browser: its stages and steps in every status, in
words; figures per step and in total; outputs escaped with a link to each step's job;
for_each items nested; the live parts (event stream with Redis, a polled steps fragment
without it, a refresh without JavaScript); "Retry from the failed step" and its access."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from jobs.models import Job, JobStatus

from .workflow_helpers import add_step, child_job, failed_run, make_run, make_workflow

pytestmark = pytest.mark.django_db


def signed_in(user: User, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    return client


@pytest.fixture
def workflow(make_template, owner):
    return make_workflow(make_template, owner=owner)


def running_run(workflow, owner) -> Job:
    """outline succeeded, intro running, lines: item 0 succeeded and item 1 running, article waiting."""
    run = make_run(workflow, owner)
    outline = child_job(run, "outline", '["a", "b"]')
    usage = {"input_tokens": 5, "output_tokens": 7, "cost": Decimal("0.000100")}
    add_step(run, "outline", 0, "succeeded", job=outline, output='["a", "b"]', **usage)
    intro = child_job(run, "intro", "So far <b>bold</b>", status=JobStatus.RUNNING)
    add_step(run, "intro", 1, "running", job=intro)
    add_step(run, "lines", 2, "running")
    first = child_job(run, "lines", "Line A", item=0)
    usage = {"input_tokens": 3, "output_tokens": 4, "cost": Decimal("0.000020")}
    add_step(run, "lines", 2, "succeeded", item=0, job=first, output="Line A", **usage)
    second = child_job(run, "lines", "Line B so", item=1, status=JobStatus.RUNNING)
    add_step(run, "lines", 2, "running", item=1, job=second)
    add_step(run, "article", 3, "waiting")
    return run


def test_the_stages_say_the_order_and_which_steps_run_in_parallel(workflow, owner) -> None:
    run = running_run(workflow, owner)
    html = signed_in(owner).get(run.get_absolute_url()).content.decode()
    stages = re.findall(r'<h3 class="workflow__stage-title">(.*?)</h3>', html)
    assert stages == [
        "Stage 1",
        "Stage 2 — runs after outline; these run in parallel:",
        "Stage 3 — runs after intro, lines",
    ]
    assert '<ol class="workflow__stages">' in html  # an ordered list, read as such
    assert html.index('id="step-outline"') < html.index('id="step-intro"') < html.index('id="step-article"')


def test_every_status_is_written_in_words(workflow, owner, make_template) -> None:
    run = make_run(workflow, owner)
    for position, (name, status) in enumerate(
        [("outline", "succeeded"), ("intro", "running"), ("lines", "skipped"), ("article", "waiting")]
    ):
        add_step(run, name, position, status)
    html = signed_in(owner).get(run.get_absolute_url()).content.decode()
    for name, label in [
        ("outline", "Succeeded"),
        ("intro", "Running"),
        ("lines", "Skipped"),
        ("article", "Waiting"),
    ]:
        assert re.search(
            rf'id="step-{name}".*?<h4[^>]*>{name} · <span class="status[^"]*">{label}</span>', html, re.S
        )
    failed = failed_run(make_workflow(make_template, slug="post2", owner=owner), owner)
    html = signed_in(owner).get(failed.get_absolute_url()).content.decode()
    assert ">Failed</span>" in html and ">Cancelled</span>" in html


def test_outputs_are_escaped_and_each_step_links_to_its_own_job(workflow, owner) -> None:
    run = make_run(workflow, owner)
    outline = child_job(run, "outline", "<script>alert(1)</script>")
    add_step(run, "outline", 0, "succeeded", job=outline, output="<script>alert(1)</script>")
    html = signed_in(owner).get(run.get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert 'id="step-outline-output"' in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'href="{reverse("jobs:detail", args=[outline.pk])}"' in html
    # The step's job is its owner's page, as any job.
    assert signed_in(owner).get(outline.get_absolute_url()).status_code == 200


def test_for_each_items_are_nested_in_their_step(workflow, owner) -> None:
    html = signed_in(owner).get(running_run(workflow, owner).get_absolute_url()).content.decode()
    lines = html[html.index('id="step-lines"') : html.index('id="step-article"')]
    assert 'aria-label="Items of lines"' in lines
    assert 'id="step-lines-0"' in lines and 'id="step-lines-1"' in lines
    assert "Item 1 · " in lines and "Item 2 · " in lines and "Line A" in lines


def test_tokens_cost_and_time_per_step_and_in_total(workflow, owner) -> None:
    html = signed_in(owner).get(running_run(workflow, owner).get_absolute_url()).content.decode()
    totals = html[html.index('id="workflow-totals"') :]
    totals = totals[: totals.index("</dl>")]
    assert "8 in, 11 out" in totals and "US$ 0.00012" in totals and re.search(r"\d+\.\d s", totals)
    outline = html[html.index('id="step-outline"') : html.index('id="step-intro"')]
    assert "5 in, 7 out" in outline and "US$ 0.0001" in outline and re.search(r"\d+\.\d s", outline)


def test_a_running_steps_text_so_far_shows_escaped_and_the_page_refreshes_without_javascript(
    workflow, owner
) -> None:
    html = signed_in(owner).get(running_run(workflow, owner).get_absolute_url()).content.decode()
    assert "So far &lt;b&gt;bold&lt;/b&gt;" in html and 'id="step-lines-1-output"' in html
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    assert 'id="workflow-announcer" class="visually-hidden" role="status"' in html


def test_with_redis_the_page_follows_the_runs_event_stream(workflow, owner, settings) -> None:
    settings.REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/13"
    run = running_run(workflow, owner)
    html = signed_in(owner).get(run.get_absolute_url()).content.decode()
    assert f'sse-connect="{reverse("jobs:events", args=[run.pk])}"' in html and 'sse-close="done"' in html
    assert 'sse-swap="step,chunk,run"' in html and 'hx-trigger="every' not in html
    assert "data-events-url" not in html  # the plain job's script stays out of it


def test_without_redis_the_page_polls_the_steps_fragment_and_it_announces_changes(
    workflow, owner, settings
) -> None:
    settings.REDIS_URL = ""
    run = running_run(workflow, owner)
    client = signed_in(owner)
    html = client.get(run.get_absolute_url()).content.decode()
    assert "sse-connect" not in html
    poll = re.search(r'hx-get="(/jobs/[^"]+/steps/\?since=[^"]+)" hx-trigger="every (\d+)ms"', html)
    assert poll, html
    url = reverse("jobs:steps", args=[run.pk])
    before = (timezone.now() - timedelta(minutes=1)).isoformat()
    fragment = client.get(url, {"since": before}).content.decode()
    assert fragment.lstrip().startswith('<section id="workflow-steps"')
    assert 'hx-swap-oob="beforeend:#workflow-announcer"' in fragment
    assert (
        "<p>Step “outline”: Succeeded.</p>" in fragment
        and "<p>Step “lines”, item 1: Succeeded.</p>" in fragment
    )
    # Nothing changed since a moment ago: nothing to announce (chunks never are).
    quiet = client.get(url, {"since": (timezone.now() + timedelta(seconds=1)).isoformat()}).content.decode()
    assert "workflow-announcer" not in quiet and 'hx-trigger="every' in quiet


def test_the_polled_fragment_of_an_ended_run_stops_polling_and_brings_the_end(
    workflow, owner, settings
) -> None:
    settings.REDIS_URL = ""
    run = failed_run(workflow, owner)
    fragment = signed_in(owner).get(reverse("jobs:steps", args=[run.pk])).content.decode()
    assert 'hx-trigger="every' not in fragment.split("</section>")[0]
    assert 'hx-swap-oob="innerHTML:#job-announcer"' in fragment and "Job finished" in fragment
    assert 'id="job-result"' in fragment and 'hx-trigger="load"' in fragment
    assert 'id="job-summary"' in fragment and 'id="job-retry-steps"' in fragment


def test_the_steps_fragment_is_the_owners_only(workflow, owner, other_user) -> None:
    run = running_run(workflow, owner)
    url = reverse("jobs:steps", args=[run.pk])
    assert signed_in(other_user).get(url).status_code == 404
    assert Client().get(url).status_code == 404


# --- Retry from the failed step, and Cancel --------------------------------------


def test_a_failed_run_offers_retry_from_the_failed_step_to_its_owner(workflow, owner, other_user) -> None:
    run = failed_run(workflow, owner)
    html = signed_in(owner).get(run.get_absolute_url()).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken"[^>]*>'
        r'\s*<button type="submit" class="button" id="job-retry-steps">Retry from the failed step</button>',
        html,
    )
    assert form and form.group(1) == reverse("jobs:retry_steps", args=[run.pk])
    assert ">Retry</button>" not in html  # the plain job's retry (a new job) is not offered for a run
    assert signed_in(other_user).get(run.get_absolute_url()).status_code == 404
    assert Client().get(run.get_absolute_url()).status_code == 404


def test_retry_from_the_failed_step_queues_the_same_run_again_for_its_owner_only(
    workflow, owner, other_user
) -> None:
    run = failed_run(workflow, owner)
    url = reverse("jobs:retry_steps", args=[run.pk])
    assert signed_in(other_user).post(url).status_code == 404
    assert Client().post(url).status_code == 404
    assert Job.objects.get(pk=run.pk).status == JobStatus.FAILED
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(url).status_code == 403  # a form of the page, with its CSRF token
    response = signed_in(owner).post(url)
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED
    statuses = dict(run.steps.filter(item__isnull=True).values_list("name", "status"))
    assert statuses["outline"] == "succeeded" and statuses["intro"] == "waiting"


def test_retry_from_the_failed_step_is_refused_for_a_succeeded_run_and_a_plain_job(
    workflow, owner, make_template
) -> None:
    run = make_run(workflow, owner, status=JobStatus.SUCCEEDED, output="Done.")
    add_step(run, "outline", 0, "succeeded", output="[]")
    html = signed_in(owner).get(run.get_absolute_url()).content.decode()
    assert "job-retry-steps" not in html
    response = signed_in(owner).post(reverse("jobs:retry_steps", args=[run.pk]), follow=True)
    assert "Only a failed or cancelled run can be retried" in response.content.decode()
    assert Job.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED
    plain = make_template(slug="plain", owner=owner)
    job = Job.objects.create(
        template_version=plain.published_version, owner=owner, status=JobStatus.FAILED, inputs={},
        input_hash="p" * 64, prompt="x", provider="offline", model="offline-echo",
    )  # fmt: skip
    assert signed_in(owner).post(reverse("jobs:retry_steps", args=[job.pk])).status_code == 404


def test_cancel_of_a_running_run_works_as_for_a_job(workflow, owner) -> None:
    run = running_run(workflow, owner)
    html = signed_in(owner).get(run.get_absolute_url()).content.decode()
    assert 'id="job-cancel"' in html and reverse("jobs:cancel", args=[run.pk]) in html
    signed_in(owner).post(reverse("jobs:cancel", args=[run.pk]))
    assert Job.objects.get(pk=run.pk).status == JobStatus.CANCELLED


def test_the_page_speaks_portuguese(workflow, owner) -> None:
    html = signed_in(owner, "pt-br").get(failed_run(workflow, owner).get_absolute_url()).content.decode()
    for text in ("Etapas", "Fase 2 — roda depois de outline; estas rodam em paralelo:", ">Concluída</span>",
                 ">Falhou</span>", ">Cancelada</span>", ">Aguardando</span>",
                 "Tentar de novo a partir da etapa que falhou", "Tokens, todas as etapas"):  # fmt: skip
        assert text in html, text


def test_a_steps_own_job_page_links_back_to_its_run(workflow, owner) -> None:
    run = failed_run(workflow, owner)
    child = run.steps.get(name="outline").job
    html = signed_in(owner).get(child.get_absolute_url()).content.decode()
    assert "A step (“outline”) of a workflow run:" in html and f'href="{run.get_absolute_url()}"' in html
