"""A workflow run's job page in Chromium: two parallel prompt steps streaming into it from
the fake provider through the real worker, Cancel and "Retry from the failed step" by
keyboard alone, and axe-core on every state visited, in English and Portuguese."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from jobs.models import Job, JobStatus
from jobs.services import submit_generation
from providers.models import ModelPrice
from templates_app.models import Template, Visibility

from .conftest import assert_accessible, start_web_server, wait_until
from .fakes.llm_server import Behaviour, FakeLLMServer
from .test_job_page_browser import focused_text, submit_by_keyboard, tab_to

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = ["en-US", "pt-BR"]
TEXT = {
    "en-US": {
        "cancel": "Cancel job",
        "retry": "Retry from the failed step",
        "announced": "Job finished: Succeeded.",
        "left done": "Step “left”: Succeeded.",
        "stage": "Stage 1; these run in parallel:",
    },
    "pt-BR": {
        "cancel": "Cancelar execução",
        "retry": "Tentar de novo a partir da etapa que falhou",
        "announced": "Execução concluída.",
        "left done": "Etapa “left”: Concluída.",
        "stage": "Fase 1; estas rodam em paralelo:",
    },
}
STEPS = [
    {"name": "left", "body": "LEFT about {{ topic }}."},
    {"name": "right", "body": "RIGHT about {{ topic }}."},
    {"name": "both", "kind": "transform", "needs": ["left", "right"],
     "body": "steps.left.output ~ ' / ' ~ steps.right.output"},
]  # fmt: skip
LONG_REPLY = " ".join(f"word{n}" for n in range(40))


@pytest.fixture
def flow(owner) -> Template:
    ModelPrice.objects.update_or_create(
        provider="anthropic",
        model="claude-test-1",
        defaults={"input_per_million": Decimal(3), "output_per_million": Decimal(15)},
    )
    template = Template.objects.create(slug="flow", name="Flow", owner=owner, visibility=Visibility.PUBLIC)
    template.create_version(
        body="",
        parameters=[{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}],
        provider="anthropic",
        model="claude-test-1",
        steps=STEPS,
        author=owner,
    )
    return template


@pytest.fixture
def gate(llm: FakeLLMServer) -> Iterator[threading.Event]:
    """Holds both steps' provider calls until set (always set at the end)."""
    event = threading.Event()
    yield event
    event.set()


RECORD_LENGTHS = """() => {
    window.__lengths = {left: [], right: []};
    new MutationObserver(() => {
        for (const name of ['left', 'right']) {
            const output = document.getElementById('step-' + name + '-output');
            if (output) window.__lengths[name].push(output.textContent.length);
        }
    }).observe(document.getElementById('workflow-live'),
               {childList: true, characterData: true, subtree: true});
}"""


@pytest.mark.parametrize("locale", LANGUAGES)
def test_two_parallel_steps_stream_into_the_page_live(
    signed_in_page: Any, llm: FakeLLMServer, flow: Template, owner: Any, live_server_url: str, locale: str
) -> None:
    text = TEXT[locale]
    for word in ("LEFT", "RIGHT"):
        llm.when(word, Behaviour(chunk_delay=0.06, reply=f"{word.lower()}: {LONG_REPLY}"))
    page = signed_in_page(owner, locale)
    submit_by_keyboard(page, live_server_url, "flow", "tides")
    page.evaluate(RECORD_LENGTHS)
    assert text["stage"] in page.locator("#workflow-steps").inner_text()
    # Both steps' text grows on the page at the same time, while the run goes on.
    page.wait_for_function(
        "() => ['left', 'right'].every("
        "n => document.getElementById(`step-${n}-output`)?.textContent.length > 20)"
        " && document.querySelector('#job-summary').dataset.jobStatus === 'running'",
        timeout=30_000,
    )
    assert_accessible(page)
    page.wait_for_selector("#job-summary[data-job-status=succeeded]", timeout=40_000)
    page.wait_for_function("() => document.getElementById('job-announcer').textContent.trim().length > 0")
    run = wait_until(lambda: Job.objects.filter(part_of__isnull=True, status=JobStatus.SUCCEEDED).first())
    page.wait_for_selector("#job-answer, #job-output")
    assert page.locator("#job-output").text_content() == run.output
    assert page.locator("#job-announcer").text_content().strip() == text["announced"]
    assert text["left done"] in page.locator("#workflow-announcer").text_content()
    for name in ("left", "right"):
        assert page.locator(f"#step-{name}-output").text_content() == f"{name}: {LONG_REPLY}"
        lengths = sorted(set(page.evaluate(f"() => window.__lengths.{name}")))
        final = len(f"{name}: {LONG_REPLY}")
        assert len([n for n in lengths if 0 < n < final]) >= 3, (name, lengths)  # live, in steps
        assert page.locator(f"#step-{name} .status").inner_text() in ("Succeeded", "Concluída")  # in words
    assert page.locator("#step-both[data-step-status=succeeded]").count() == 1
    assert_accessible(page)


@pytest.mark.parametrize("locale", LANGUAGES)
def test_cancel_then_retry_from_the_failed_step_by_keyboard_alone(
    signed_in_page: Any,
    llm: FakeLLMServer,
    gate: threading.Event,
    flow: Template,
    owner: Any,
    live_server_url: str,
    locale: str,
) -> None:
    text = TEXT[locale]
    for word in ("LEFT", "RIGHT"):
        llm.when(word, Behaviour(hold_until=gate))
    page = signed_in_page(owner, locale)
    submit_by_keyboard(page, live_server_url, "flow", "tides")
    page.wait_for_selector("#step-left[data-step-status=running]", timeout=30_000)
    assert_accessible(page)
    tab_to(page, focused_text(text["cancel"]))
    page.keyboard.press("Enter")
    page.wait_for_selector("#job-summary[data-job-status=cancelled]", timeout=30_000)
    run = Job.objects.get(part_of__isnull=True)
    assert run.status == JobStatus.CANCELLED
    assert page.locator("#step-left[data-step-status=cancelled]").count() == 1
    assert_accessible(page)
    gate.set()  # the cancelled calls may end now; the retried ones pass at once
    tab_to(page, focused_text(text["retry"]))
    page.keyboard.press("Enter")
    page.wait_for_selector("#job-summary[data-job-status=succeeded]", timeout=40_000)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED and Job.objects.filter(part_of__isnull=True).count() == 1
    assert page.locator("#job-retry-steps").count() == 0
    assert_accessible(page)


@pytest.fixture
def server_without_redis(service_log_dir: Any, live_server_url: str) -> Iterator[str]:
    """A web server in the embedded mode's way (no Redis: no event stream), beside the
    worker, which still takes its messages from the test broker."""
    from django.conf import settings
    from django.core.management import call_command

    call_command("createcachetable", verbosity=0)  # the embedded mode's cache
    server, url = start_web_server(
        service_log_dir, "web-without-redis", REDIS_URL="", CELERY_BROKER_URL=settings.CELERY_BROKER_URL
    )
    yield url
    server.stop()


def test_without_redis_the_page_polls_the_steps_and_announces_their_changes(
    signed_in_page: Any, llm: FakeLLMServer, flow: Template, owner: Any, server_without_redis: str
) -> None:
    for word in ("LEFT", "RIGHT"):
        llm.when(word, Behaviour(chunk_delay=0.05, reply=f"{word.lower()}: {LONG_REPLY}"))
    run = submit_generation(flow.published_version, {"topic": "tides"}, owner=owner)
    page = signed_in_page(owner)
    page.goto(f"{server_without_redis}{run.get_absolute_url()}")
    assert page.locator("[sse-connect]").count() == 0
    assert page.locator("#workflow-steps[hx-get]").count() == 1
    assert_accessible(page)
    page.wait_for_selector("#job-summary[data-job-status=succeeded]", timeout=40_000)
    # Attached, not visible: the raw text is hidden while the page shows the formatted output.
    page.wait_for_selector("#job-output", state="attached")
    run.refresh_from_db()
    assert page.locator("#job-output").text_content() == run.output
    for name in ("left", "right"):
        assert page.locator(f"#step-{name}-output").text_content() == f"{name}: {LONG_REPLY}"
    page.wait_for_function("() => document.getElementById('job-announcer').textContent.trim().length > 0")
    assert "Step “left”: Succeeded." in page.locator("#workflow-announcer").text_content()
    assert page.locator("#workflow-steps[hx-get]").count() == 0  # polling stopped at the end
    assert_accessible(page)


def test_without_javascript_the_page_reloads_itself_until_the_run_has_ended(
    signed_in_page: Any, llm: FakeLLMServer, flow: Template, owner: Any, live_server_url: str
) -> None:
    for word in ("LEFT", "RIGHT"):
        llm.when(word, Behaviour(chunk_delay=0.05, reply=f"{word.lower()}: {LONG_REPLY}"))
    run = submit_generation(flow.published_version, {"topic": "tides"}, owner=owner)
    page = signed_in_page(owner, java_script_enabled=False)
    page.goto(f"{live_server_url}{run.get_absolute_url()}")
    assert page.locator("noscript").count() >= 1
    page.wait_for_selector("#job-summary[data-job-status=succeeded]", timeout=40_000)
    assert page.locator("#step-left[data-step-status=succeeded]").count() == 1
    assert page.locator("#step-right-output").text_content() == f"right: {LONG_REPLY}"
    assert page.locator("#job-output").text_content() == Job.objects.get(pk=run.pk).output
