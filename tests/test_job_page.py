"""The job page without a browser: the answer (Markdown, sanitized), the downloads, the
inputs, "Run again" and "Retry", the progress the script polls, and the status shown."""

from __future__ import annotations

import json
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.models import User
from jobs.answer import render_markdown
from jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db

HOSTILE_OUTPUT = (
    "# Title\n\nSome **bold** text.\n\n"
    "<script>alert('x')</script>\n\n"
    '<img src="x" onerror="alert(1)">\n\n'
    "[click me](javascript:alert(1)) and [safe](https://example.com)\n\n"
    '<a href="javascript:alert(2)" onclick="alert(3)">raw link</a>\n'
)


def make_job(template: Any, owner: User | None, *, status: str = JobStatus.SUCCEEDED, **fields: Any) -> Job:
    defaults: dict[str, Any] = {
        "inputs": {"topic": "rain", "count": 2},
        "input_hash": "x" * 64,
        "prompt": "Write 2 lines about rain.",
        "provider": "offline",
        "model": "offline-1",
        "output": "Rain **falls**.",
        "input_tokens": 6,
        "output_tokens": 3,
        "cost": Decimal("0.000120"),
        "attempts": 1,
    }
    return Job.objects.create(
        template_version=template.published_version, owner=owner, status=status, **{**defaults, **fields}
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- The answer ---------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert('x')</script>",
        '<img src="x" onerror="alert(1)">',
        "[click me](javascript:alert(1))",
        '<a href="javascript:alert(2)" onclick="alert(3)">raw link</a>',
        "[x](JaVaScRiPt:alert(1))",
        "<svg onload=alert(1)>",
        "```\n</code></pre><script>alert(1)</script>\n```",
    ],
)
def test_hostile_markdown_never_renders_a_script_a_handler_or_a_javascript_link(hostile: str) -> None:
    elements = parsed_elements(str(render_markdown(hostile)))
    tags = {tag for tag, _attrs in elements}
    assert not tags & {"script", "img", "svg", "iframe", "style"}, tags
    for _tag, attrs in elements:
        assert not [name for name, _value in attrs if name.startswith("on")], attrs
        assert not [v for n, v in attrs if n in ("href", "src") and "javascript" in (v or "").lower()], attrs


def parsed_elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element as a browser's parser sees it: (tag, attributes)."""
    elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            elements.append((tag, attrs))

    Collector().feed(html)
    return elements


def test_markdown_renders_headings_emphasis_lists_tables_and_safe_links() -> None:
    html = str(
        render_markdown(
            "# Title\n\n- **one**\n- *two*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[x](https://example.com)"
        )
    )
    assert "<h1>Title</h1>" in html
    assert "<strong>one</strong>" in html and "<em>two</em>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert 'href="https://example.com"' in html and 'rel="nofollow noopener noreferrer"' in html


def test_a_finished_job_page_shows_the_answer_rendered_and_the_raw_text(make_template, owner) -> None:
    job = make_job(make_template(), owner, output=HOSTILE_OUTPUT)
    page = signed_in(owner).get(job.get_absolute_url()).content.decode()
    answer = page.split('id="job-answer"')[1].split("</div>")[0]
    assert "<h1>Title</h1>" in answer and "<strong>bold</strong>" in answer
    elements = parsed_elements(answer.split(">", 1)[1])
    assert "script" not in {tag for tag, _attrs in elements} and "img" not in {tag for tag, _ in elements}
    assert all(not name.startswith("on") for _tag, attrs in elements for name, _value in attrs)
    assert [dict(attrs)["href"] for tag, attrs in elements if tag == "a"] == ["https://example.com"]
    raw = page.split('id="job-output"')[1].split("</pre>")[0]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in raw  # the raw text, escaped
    assert "<script>alert" not in page


# --- Downloads ----------------------------------------------------------------


def test_downloads_give_the_owner_the_answer_and_the_whole_job(make_template, owner) -> None:
    job = make_job(make_template(), owner)
    client = signed_in(owner)
    markdown = client.get(reverse("jobs:download", args=[job.pk, "md"]))
    assert markdown["Content-Type"].startswith("text/markdown")
    assert markdown["Content-Disposition"] == f'attachment; filename="haiku-{str(job.pk)[:8]}.md"'
    assert markdown.content.decode() == "Rain **falls**."
    text = client.get(reverse("jobs:download", args=[job.pk, "txt"]))
    assert text["Content-Type"].startswith("text/plain") and text.content.decode() == "Rain **falls**."
    data = json.loads(client.get(reverse("jobs:download", args=[job.pk, "json"])).content)
    assert data["inputs"] == {"topic": "rain", "count": 2}
    assert data["output"] == "Rain **falls**."
    assert (data["status"], data["model"], data["provider"]) == ("succeeded", "offline-1", "offline")
    assert (data["input_tokens"], data["output_tokens"], data["cost"]) == (6, 3, "0.000120")
    assert data["created_at"] and data["template"] == "haiku"
    # The API's job detail is the same document.
    api = client.get(reverse("api:job-detail", args=[job.pk]))
    assert api.status_code == 200
    assert api.json() == data


def test_downloads_are_the_owners_only(make_template, owner, other_user) -> None:
    job = make_job(make_template(), owner)
    for extension in ("md", "txt", "json"):
        url = reverse("jobs:download", args=[job.pk, extension])
        assert signed_in(other_user).get(url).status_code == 404
        assert Client().get(url).status_code == 404
    assert signed_in(owner).get(reverse("jobs:download", args=[job.pk, "exe"])).status_code == 404


# --- Inputs, "Run again" and "Retry" --------------------------------------------


def test_the_page_shows_the_inputs_the_job_ran_with(make_template, owner) -> None:
    job = make_job(make_template(), owner, inputs={"topic": "autumn <leaves>", "count": 4})
    page = signed_in(owner).get(job.get_absolute_url()).content.decode()
    inputs = page.split('class="inputs"')[1].split("</dl>")[0]
    assert "<dt>Topic</dt><dd>autumn &lt;leaves&gt;</dd>" in inputs
    assert "<dt>Count</dt><dd>4</dd>" in inputs
    with translation.override("pt-br"):
        page = signed_in(owner).get(job.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="pt-br").content.decode()
    assert "<dt>Assunto</dt>" in page


def test_run_again_opens_the_form_filled_with_the_jobs_inputs(make_template, owner, other_user) -> None:
    template = make_template()
    job = make_job(template, owner, inputs={"topic": "autumn", "count": 4})
    page = signed_in(owner).get(job.get_absolute_url()).content.decode()
    assert f'href="/t/haiku/?from_job={job.pk}"' in page
    form = signed_in(owner).get(f"/t/haiku/?from_job={job.pk}").content.decode()
    assert 'value="autumn"' in form and 'value="4"' in form
    # Another user's job, or nonsense, fills nothing.
    assert 'value="autumn"' not in signed_in(other_user).get(f"/t/haiku/?from_job={job.pk}").content.decode()
    assert signed_in(owner).get("/t/haiku/?from_job=not-a-uuid").status_code == 200


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
def test_retry_runs_a_failed_or_cancelled_jobs_inputs_again(make_template, owner, status) -> None:
    job = make_job(make_template(), owner, status=status, output="", inputs={"topic": "sea", "count": 2})
    client = signed_in(owner)
    assert "Retry" in client.get(job.get_absolute_url()).content.decode()
    response = client.post(reverse("jobs:retry", args=[job.pk]))
    new = Job.objects.exclude(pk=job.pk).get()
    assert response.status_code == 302 and response["Location"] == new.get_absolute_url()
    assert new.inputs == {"topic": "sea", "count": 2} and new.owner == owner


def test_retry_is_refused_for_a_succeeded_job_and_for_others(make_template, owner, other_user) -> None:
    template = make_template()
    succeeded = make_job(template, owner)
    assert ">Retry<" not in signed_in(owner).get(succeeded.get_absolute_url()).content.decode()
    assert signed_in(owner).post(reverse("jobs:retry", args=[succeeded.pk])).status_code == 404
    failed = make_job(template, owner, status=JobStatus.FAILED)
    assert signed_in(other_user).post(reverse("jobs:retry", args=[failed.pk])).status_code == 404
    assert Client().post(reverse("jobs:retry", args=[failed.pk])).status_code == 404
    assert Job.objects.count() == 2


# --- Progress -----------------------------------------------------------------


def test_a_retry_reads_retrying_while_queued_and_running_never_queued_again(
    make_template, owner, settings
) -> None:
    settings.JOB_MAX_ATTEMPTS = 3
    template = make_template()
    fresh = make_job(template, owner, status=JobStatus.QUEUED, attempts=0, output="")
    assert fresh.status_label == "Queued"
    first = make_job(template, owner, status=JobStatus.RUNNING, attempts=1, output="")
    assert first.status_label == "Running"
    log = [{"attempt": 1, "code": "overloaded"}]
    waiting = make_job(template, owner, status=JobStatus.QUEUED, attempts=1, attempt_log=log, output="")
    assert waiting.status_label == "Retrying (attempt 2 of 3)"
    running = make_job(template, owner, status=JobStatus.RUNNING, attempts=2, attempt_log=log, output="")
    assert running.status_label == "Retrying (attempt 2 of 3)"
    # A rate limit's deferral is no failed attempt: still the second.
    deferred = [*log, {"attempt": 2, "code": "rate_limited", "deferred": True}]
    later = make_job(template, owner, status=JobStatus.QUEUED, attempts=2, attempt_log=deferred, output="")
    assert later.status_label == "Retrying (attempt 2 of 3)"
    page = signed_in(owner).get(waiting.get_absolute_url()).content.decode()
    assert "Retrying (attempt 2 of 3)" in page and ">Queued<" not in page
    with translation.override("pt-br"):
        assert waiting.status_label == "Tentando de novo (tentativa 2 de 3)"


def test_a_running_job_page_waits_for_the_first_token_and_refreshes_without_javascript(
    make_template, owner
) -> None:
    job = make_job(make_template(), owner, status=JobStatus.QUEUED, attempts=0, output="")
    page = signed_in(owner).get(job.get_absolute_url()).content.decode()
    assert "Waiting for the first token…" in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page
    assert "reloads every 3 seconds until the job ends" in page
    assert "checks for new output every second" not in page
    # The controls are outside the part live updates change.
    summary = page.split('id="job-summary"')[1].split('id="job-controls"')[0]
    assert "<button" not in summary and "<form" not in summary
    # One live region for the end, empty until then.
    assert '<p id="job-announcer" class="visually-hidden" role="status"></p>' in page
    Job.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, output="Done.")
    page = signed_in(owner).get(job.get_absolute_url()).content.decode()
    assert "http-equiv" not in page and "Cancel job" not in page


def test_progress_sends_only_the_new_output_and_everything_after_a_new_attempt(
    make_template, owner, other_user
) -> None:
    job = make_job(make_template(), owner, status=JobStatus.RUNNING, attempts=1, output="Hello wörld")
    client = signed_in(owner)
    url = reverse("jobs:progress", args=[job.pk])
    data = client.get(url, {"attempt": 1, "offset": 6}).json()
    assert (data["text"], data["offset"], data["reset"], data["terminal"]) == ("wörld", 11, False, False)
    assert 'data-job-status="running"' in data["summary"]
    data = client.get(url, {"attempt": 0, "offset": 6}).json()
    assert (data["text"], data["reset"], data["attempt"]) == ("Hello wörld", True, 1)
    assert client.get(url, {"attempt": "x", "offset": "y"}).json()["reset"] is True
    assert signed_in(other_user).get(url).status_code == 404
    assert Client().get(url).status_code == 404


def test_the_result_fragment_carries_the_final_announcement(make_template, owner) -> None:
    job = make_job(make_template(), owner)
    fragment = signed_in(owner).get(job.get_absolute_url(), {"part": "result"}).content.decode()
    assert fragment.strip().startswith('<div id="job-result"')
    assert 'data-announcement="Job finished: Succeeded."' in fragment
    assert "<html" not in fragment
