"""The workflow engine through a real worker: steps as child jobs, run in parallel where
they can, resumed after a kill, failed fast, retried from the failed step.

Providers are faked only at HTTP (tests/fakes/llm_server.py), reached by the worker's real
SDKs; the fake server records when each request started and ended, so parallelism is
measured where it matters. Each step's prompt starts with a word of its own in capitals,
which tells its calls apart. Beat does not run here: tests that need the sweep call it.
"""

from __future__ import annotations

import os
import signal
import threading
from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from jobs.models import TERMINAL_STATUSES, Job, JobStatus, JobStep, StepStatus
from jobs.rollups import UsageRollup
from jobs.services import cancel_job, submit_generation
from jobs.tasks import sweep_stuck_jobs
from jobs.workflows import retry
from providers.models import ModelPrice
from templates_app.models import Template, Visibility

from .conftest import DEFAULT_REPLY, wait_until
from .fakes.llm_server import Behaviour, FakeLLMServer, error, ok
from .test_providers import _pool_process_calling

pytestmark = pytest.mark.django_db(transaction=True)

PARAMETERS = [
    {"name": "topic", "type": "string", "label": "Topic", "max_length": 50},
    {"name": "language", "type": "string", "label": "Language", "max_length": 10},
]


@pytest.fixture
def person(db: None) -> User:
    return User.objects.create_user("flows@example.com", "correct horse battery")


@pytest.fixture
def priced() -> None:
    for provider, model, rates in (("anthropic", "claude-test-1", (3, 15)), ("openai", "gpt-test-1", (2, 8))):
        ModelPrice.objects.update_or_create(
            provider=provider,
            model=model,
            defaults={"input_per_million": Decimal(rates[0]), "output_per_million": Decimal(rates[1])},
        )


def workflow(
    steps: list[dict[str, Any]],
    *,
    slug: str = "flow",
    provider: str = "anthropic",
    model: str = "claude-test-1",
    result_step: str = "",
    parameters: list[dict[str, Any]] | None = None,
) -> Template:
    template = Template.objects.create(slug=slug, name=slug.title(), visibility=Visibility.PUBLIC)
    template.create_version(
        body="",
        parameters=PARAMETERS if parameters is None else parameters,
        provider=provider,
        model=model,
        steps=steps,
        result_step=result_step,
    )
    return template


def start(template: Template, person: User, **inputs: Any) -> Job:
    values = {"topic": "tea", "language": "en", **inputs}
    return submit_generation(template.published_version, values, owner=person)


def ended(run: Job, timeout: float = 60) -> Job:
    return wait_until(
        lambda: Job.objects.filter(pk=run.pk, status__in=TERMINAL_STATUSES).first(), timeout=timeout
    )


def steps_of(run: Job) -> dict[str, JobStep]:
    return {str(row): row for row in JobStep.objects.filter(run=run)}


def statuses(run: Job) -> dict[str, str]:
    return {name: row.status for name, row in steps_of(run).items()}


BLOG = [
    {
        "name": "outline",
        "body": "OUTLINE a post about {{ topic }} as a JSON list of section titles.",
        "output": "json",
        "schema": {"type": "array", "items": {"type": "string"}},
        "model_settings": {"max_tokens": 300},
    },
    {
        "name": "sections",
        "needs": ["outline"],
        "for_each": "steps.outline.output",
        "parallel": 2,
        "body": "SECTION “{{ item }}” ({{ item_index }}) of a post about {{ topic }}.",
    },
    {
        "name": "article",
        "kind": "transform",
        "needs": ["sections"],
        "body": "steps.sections.output | join(' / ')",
    },
    {
        "name": "translated",
        "needs": ["article"],
        "when": "inputs.language != 'en'",
        "body": "TRANSLATE into {{ language }}: {{ steps.article.output }}",
    },
]


def test_a_blog_workflow_runs_end_to_end_and_sums_its_steps_through_the_anthropic_sdk(
    llm: FakeLLMServer, worker, person, priced
) -> None:
    llm.when("OUTLINE", ok('```json\n["Leaves", "Water", "Time"]\n```'))
    run = ended(start(workflow(BLOG), person, language="pt"))
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    rows = steps_of(run)
    assert rows["outline"].output_data == ["Leaves", "Water", "Time"]
    assert [rows[f"sections[{n}]"].output for n in range(3)] == [DEFAULT_REPLY] * 3
    assert rows["sections"].output_data == [DEFAULT_REPLY] * 3
    assert rows["article"].output == " / ".join([DEFAULT_REPLY] * 3)
    assert rows["translated"].status == StepStatus.SUCCEEDED
    assert run.output == DEFAULT_REPLY  # the last step is the result
    assert {call["path"] for call in llm.calls} == {"/v1/messages"}
    assert len(llm.calls_containing("SECTION")) == 3
    assert "Time" in str(llm.calls_containing("(2)")[0]["body"])
    # A step's own max_tokens reaches the provider; the others take the version's.
    assert llm.calls_containing("OUTLINE")[0]["body"]["max_tokens"] == 300
    assert {call["body"]["max_tokens"] for call in llm.calls_containing("SECTION")} == {1024}
    translate = llm.calls_containing("TRANSLATE")
    assert len(translate) == 1 and "into pt" in str(translate[0]["body"])
    # Each call is a child job on the workflows queue; the run carries their sums.
    children = list(Job.objects.filter(part_of=run))
    assert len(children) == 5 and {job.queue for job in children} == {"workflows"}
    assert run.input_tokens == sum(job.input_tokens for job in children) > 0
    assert run.output_tokens == sum(job.output_tokens for job in children) > 0
    assert run.cost == sum((job.cost for job in children), Decimal(0)) > 0
    assert rows["sections"].input_tokens == sum(rows[f"sections[{n}]"].input_tokens for n in range(3))
    # One run in the usage and the lists, not six.
    assert UsageRollup.objects.totals()["runs"] == 1
    assert UsageRollup.objects.totals()["cost"] == run.cost
    assert list(Job.objects.runs()) == [run]


def test_when_skips_a_step_and_the_steps_that_need_only_it(llm: FakeLLMServer, worker, person) -> None:
    steps = [
        {"name": "draft", "body": "DRAFT about {{ topic }}."},
        {
            "name": "translated",
            "needs": ["draft"],
            "when": "inputs.language != 'en'",
            "body": "TRANSLATE it.",
        },
        {"name": "polished", "needs": ["translated"], "body": "POLISH {{ steps.translated.output }}."},
    ]
    run = ended(start(workflow(steps, result_step="draft"), person, language="en"))
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    assert statuses(run) == {"draft": "succeeded", "translated": "skipped", "polished": "skipped"}
    assert run.output == DEFAULT_REPLY
    assert llm.call_count == 1


def test_two_independent_steps_overlap_at_the_provider(llm: FakeLLMServer, worker, person) -> None:
    both_asked = threading.Event()  # each answer waits for the other's request: overlap, not timing
    llm.when("LEFT", Behaviour(hold_until=both_asked))
    llm.when("RIGHT", Behaviour(hold_until=both_asked))
    steps = [
        {"name": "left", "body": "LEFT about {{ topic }}."},
        {"name": "right", "body": "RIGHT about {{ topic }}."},
        {
            "name": "both",
            "kind": "transform",
            "needs": ["left", "right"],
            "body": "steps.left.output ~ steps.right.output",
        },
    ]
    run = start(workflow(steps), person)
    try:
        wait_until(lambda: llm.calls_containing("LEFT") and llm.calls_containing("RIGHT"), timeout=30)
    finally:
        both_asked.set()
    run = ended(run)
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    (left,), (right,) = llm.calls_containing("LEFT"), llm.calls_containing("RIGHT")
    assert FakeLLMServer.overlap(left, right)
    assert run.output == DEFAULT_REPLY * 2


def test_a_for_each_of_six_with_parallel_two_never_has_more_than_two_in_flight(
    llm: FakeLLMServer, worker, person
) -> None:
    two_asked = threading.Event()  # the first two answers wait for each other's request
    llm.when("ITEM", Behaviour(hold_until=two_asked, chunk_delay=0.02))
    steps = [
        {
            "name": "each",
            "for_each": "['a', 'b', 'c', 'd', 'e', 'f']",
            "parallel": 2,
            "body": "ITEM {{ item }} about {{ topic }}.",
        }
    ]
    run = start(workflow(steps), person)
    try:
        wait_until(lambda: len(llm.calls_containing("ITEM")) >= 2, timeout=30)
    finally:
        two_asked.set()
    run = ended(run)
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    calls = llm.calls_containing("ITEM")
    assert len(calls) == 6
    assert llm.most_at_once(calls) == 2  # two at once, and never three
    assert steps_of(run)["each"].output_data == [DEFAULT_REPLY] * 6


def test_a_worker_killed_mid_workflow_calls_no_finished_step_again_and_the_run_ends_once(
    llm: FakeLLMServer, worker, person
) -> None:
    held = threading.Event()
    llm.when("SECOND", Behaviour(hold_until=held))
    steps = [
        {"name": "first", "body": "FIRST about {{ topic }}."},
        {"name": "second", "needs": ["first"], "body": "SECOND after {{ steps.first.output }}."},
        {"name": "third", "needs": ["second"], "body": "THIRD after {{ steps.second.output }}."},
    ]
    run = start(workflow(steps), person)
    try:
        call = wait_until(lambda: next(iter(llm.calls_containing("SECOND")), None), timeout=30)
        assert steps_of(run)["first"].status == StepStatus.SUCCEEDED  # mid-workflow
        os.kill(_pool_process_calling(worker, call["client_port"]), signal.SIGKILL)
    finally:
        held.set()

    def swept_until_ended() -> Job | None:
        sweep_stuck_jobs()
        return Job.objects.filter(pk=run.pk, status__in=TERMINAL_STATUSES).first()

    run = wait_until(swept_until_ended, timeout=60, interval=0.5)
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    assert set(statuses(run).values()) == {"succeeded"}
    counts = {word: len(llm.calls_containing(word)) for word in ("FIRST", "SECOND", "THIRD")}
    assert counts == {"FIRST": 1, "SECOND": 2, "THIRD": 1}  # only the killed call again
    assert UsageRollup.objects.totals()["runs"] == 1  # ended (and counted) once
    assert Job.objects.filter(part_of=run).count() == 3


def test_a_failing_branch_fails_the_run_keeping_finished_outputs_and_retry_runs_only_the_rest(
    llm: FakeLLMServer, worker, person
) -> None:
    llm.when("BROKEN", error(400, message="This input is refused."))
    # The failing branch waits until "good" has ended: a delay instead lost the race on a slow machine.
    good_ended = threading.Event()
    llm.when("SLOW", Behaviour(hold_until=good_ended))
    steps = [
        {"name": "good", "body": "GOOD about {{ topic }}."},
        {"name": "slow", "body": "SLOW about {{ topic }}."},
        {"name": "bad", "needs": ["slow"], "body": "BROKEN about {{ topic }}."},
        {
            "name": "joined",
            "needs": ["good", "bad"],
            "body": "JOIN {{ steps.good.output }} {{ steps.bad.output }}",
        },
    ]
    run = start(workflow(steps), person)
    try:
        wait_until(lambda: statuses(run).get("good") == StepStatus.SUCCEEDED, timeout=30)
    finally:
        good_ended.set()
    run = ended(run)
    assert run.status == JobStatus.FAILED
    assert run.error_code == "step_failed" and "“bad”" in run.error_text
    rows = steps_of(run)
    assert rows["good"].status == StepStatus.SUCCEEDED and rows["good"].output == DEFAULT_REPLY
    assert rows["bad"].status == StepStatus.FAILED and rows["bad"].error_text
    assert rows["joined"].status == StepStatus.CANCELLED
    assert UsageRollup.objects.totals()["failed"] == 1

    llm.reset(reply=DEFAULT_REPLY)  # the provider takes it now
    assert retry(run)
    assert not retry(run)  # queued again: not failed any more
    run = ended(run)
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    assert [len(llm.calls_containing(word)) for word in ("GOOD", "SLOW", "BROKEN", "JOIN")] == [0, 0, 1, 1]
    assert set(statuses(run).values()) == {"succeeded"}
    totals = UsageRollup.objects.totals()
    assert (totals["runs"], totals["failed"], totals["succeeded"]) == (1, 0, 1)  # counted out, then in


def test_a_json_answer_is_asked_again_once_then_the_step_fails(llm: FakeLLMServer, worker, person) -> None:
    llm.when("LIST", ok("Sure! Here are some ideas: tea, coffee."))
    steps = [
        {
            "name": "ideas",
            "body": "LIST ideas about {{ topic }}.",
            "output": "json",
            "schema": {"type": "array"},
        }
    ]
    run = ended(start(workflow(steps), person))
    assert run.status == JobStatus.FAILED
    row = steps_of(run)["ideas"]
    assert (row.status, row.error_code, row.tries) == (StepStatus.FAILED, "step_output_invalid", 2)
    calls = llm.calls_containing("LIST")
    assert len(calls) == 2
    assert "Your previous answer was not valid JSON for the schema" in str(calls[1]["body"])
    assert row.input_tokens == sum(job.input_tokens for job in Job.objects.filter(part_of=run))


def test_a_json_answer_valid_the_second_time_succeeds(llm: FakeLLMServer, worker, person) -> None:
    llm.script(ok('{"not": "a list"}'), ok('["green", "black"]'))
    steps = [
        {
            "name": "ideas",
            "body": "LIST ideas about {{ topic }}.",
            "output": "json",
            "schema": {"type": "array"},
        }
    ]
    run = ended(start(workflow(steps), person))
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    assert steps_of(run)["ideas"].output_data == ["green", "black"]
    assert "$: {'not': 'a list'} is not of type 'array'" in str(llm.calls[1]["body"])


def test_steps_on_the_openai_sdk_with_their_own_model(llm: FakeLLMServer, worker, person, priced) -> None:
    openai = {"provider": "openai", "model": "gpt-test-1", "temperature": 0.2}
    steps = [
        {"name": "short", "body": "SHORT about {{ topic }}.", "model_settings": openai},
        {"name": "long", "needs": ["short"], "body": "LONG from {{ steps.short.output }}."},
    ]
    run = ended(start(workflow(steps), person))
    assert run.status == JobStatus.SUCCEEDED, run.error_text
    (short,), (long,) = llm.calls_containing("SHORT"), llm.calls_containing("LONG")
    assert short["path"] == "/v1/chat/completions" and short["body"]["temperature"] == 0.2
    assert long["path"] == "/v1/messages"  # the template's own model
    children = Job.objects.filter(part_of=run)
    assert run.cost == sum((job.cost for job in children), Decimal(0)) > 0


def test_cancel_stops_every_running_step(llm: FakeLLMServer, worker, person) -> None:
    release = threading.Event()
    llm.when("HOLD", Behaviour(hold_until=release))
    steps = [
        {"name": "one", "body": "HOLD one about {{ topic }}."},
        {"name": "two", "body": "HOLD two about {{ topic }}."},
        {"name": "after", "needs": ["one", "two"], "body": "AFTER both."},
    ]
    run = start(workflow(steps), person)
    try:
        wait_until(lambda: len(llm.calls_containing("HOLD")) == 2)
        assert cancel_job(run)
        assert not cancel_job(run)
    finally:
        release.set()
    children = Job.objects.filter(part_of=run)
    assert set(children.values_list("status", flat=True)) == {JobStatus.CANCELLED}
    assert statuses(run) == {"one": "cancelled", "two": "cancelled", "after": "cancelled"}
    # The workers stop at their first chunk and keep what was spent.
    wait_until(lambda: not children.filter(output="").exists())
    assert Job.objects.get(pk=run.pk).status == JobStatus.CANCELLED
    assert not llm.calls_containing("AFTER")


def test_an_identical_step_is_answered_once_within_a_run_and_across_runs(
    llm: FakeLLMServer, worker, person
) -> None:
    steps = [
        {"name": "shared", "body": "SHARED about {{ topic }}."},
        {"name": "own", "body": "OWN in {{ language }}."},
        {
            "name": "twice",
            "for_each": "['same', 'same', 'other']",
            "parallel": 3,
            "body": "TWICE {{ item }}.",
        },
    ]
    template = workflow(steps, result_step="own")
    first = ended(start(template, person, language="en"))
    second = ended(start(template, person, language="fr"))
    assert first.status == second.status == JobStatus.SUCCEEDED
    assert len(llm.calls_containing("SHARED")) == 1  # the second run's answered from the cache
    assert len(llm.calls_containing("OWN")) == 2
    assert len(llm.calls_containing("TWICE")) == 2  # "same" once, "other" once
    assert steps_of(second)["shared"].output == DEFAULT_REPLY


def test_a_step_on_an_unpriced_model_is_refused_before_anything_runs(llm: FakeLLMServer, person) -> None:
    from jobs.services import SubmissionError

    template = workflow(
        [{"name": "a", "body": "A.", "model_settings": {"provider": "openai", "model": "gpt-unpriced"}}],
        provider="offline",
        model="offline-echo",
    )
    version = template.published_version
    from templates_app.models import TemplateVersion

    TemplateVersion.objects.filter(pk=version.pk).update(created_by=person)  # not staff's
    version.refresh_from_db()
    with pytest.raises(SubmissionError) as refused:
        submit_generation(version, {"topic": "x", "language": "en"}, owner=person)
    assert refused.value.code == "model_not_priced" and "“a”" in str(refused.value)
    assert not Job.objects.exists()


def test_a_failed_step_cancels_its_running_sibling_at_once(llm: FakeLLMServer, worker, person) -> None:
    release = threading.Event()
    llm.when("HOLD", Behaviour(hold_until=release))
    llm.when("BROKEN", error(400, message="This input is refused."))
    steps = [
        {"name": "held", "body": "HOLD about {{ topic }}."},
        {"name": "slow", "body": "SLOW about {{ topic }}."},
        {"name": "bad", "needs": ["slow"], "body": "BROKEN about {{ topic }}."},
    ]
    try:
        run = ended(start(workflow(steps), person))  # while "held" is still being answered
    finally:
        release.set()
    assert run.status == JobStatus.FAILED and "“bad”" in run.error_text
    assert statuses(run) == {"held": "cancelled", "slow": "succeeded", "bad": "failed"}
    assert Job.objects.get(part_of=run, inputs__step="held").status == JobStatus.CANCELLED
