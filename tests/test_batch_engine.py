"""Batches' engine: rows dispatched as jobs through a real worker, counted as they end.

Providers are faked only at HTTP (tests/fakes/llm_server.py): the worker's SDKs call the
fake server, which counts the calls and how many it answered at once. The worker is the
session's (it consumes the batches queue as the Procfile's does); beat does not run here,
so the tests that need the sweeps call them, as beat would.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from batches.models import THROTTLE_WINDOW, Batch, BatchRow, BatchState, RowStatus
from batches.services import (
    BatchError,
    ConfigurationSpec,
    cancel_batch,
    create_batch,
    create_draft,
    dispatch,
    expire_drafts,
    retry_failed,
    start_draft,
    sweep,
)
from jobs.models import Job, JobStatus
from jobs.services import SubmissionError, submit_generation
from jobs.tasks import sweep_stuck_jobs
from providers.models import ModelPrice
from templates_app.models import Template, Visibility

from .conftest import DEFAULT_REPLY, SIMPLE_SCHEMA, wait_until
from .fakes.llm_server import Behaviour, error
from .test_providers import _pool_process_calling

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def person(db: None) -> User:
    return User.objects.create_user("batcher@example.com", "correct horse battery", plan="enterprise")


@pytest.fixture
def priced() -> None:
    for provider, model, rates in (("anthropic", "claude-test-1", (3, 15)), ("openai", "gpt-test-1", (2, 8))):
        ModelPrice.objects.update_or_create(
            provider=provider,
            model=model,
            defaults={"input_per_million": Decimal(rates[0]), "output_per_million": Decimal(rates[1])},
        )


def anthropic_template(slug: str = "batch-haiku") -> Template:
    """A template on the fake Anthropic server, which may also run on the fake OpenAI one."""
    template = Template.objects.create(slug=slug, name="Batch haiku", visibility=Visibility.PUBLIC)
    template.create_version(
        system_prompt="You are terse.",
        body="Write {{ count }} lines about {{ topic }}.",
        parameters=SIMPLE_SCHEMA,
        provider="anthropic",
        model="claude-test-1",
        allowed_models=["openai/gpt-test-1"],
    )
    return template


def rows_of(topics: list[str]) -> Iterator[tuple[int, dict[str, Any], dict[str, Any]]]:
    return ((n, {"topic": topic, "count": 2}, {"topic": topic}) for n, topic in enumerate(topics, 1))


def finished(batch: Batch, timeout: float = 60, state: str = BatchState.FINISHED) -> Batch:
    return wait_until(lambda: Batch.objects.filter(pk=batch.pk, state=state).first(), timeout=timeout)


def assert_counters_agree(batch: Batch) -> Batch:
    """The counters kept by F() as jobs ended equal an independent count of the rows and jobs."""
    batch.refresh_from_db()
    statuses = Counter(batch.rows.values_list("status", flat=True))
    assert {
        "pending": batch.pending,
        "running": batch.running,
        "succeeded": batch.succeeded,
        "failed": batch.failed,
        "cancelled": batch.cancelled,
    } == {status: statuses.get(status, 0) for status in RowStatus.values}
    assert batch.total_rows == sum(statuses.values())
    jobs = Job.objects.filter(pk__in=batch.rows.filter(job__isnull=False).values("job_id"))
    assert batch.input_tokens == sum(job.input_tokens or 0 for job in jobs)
    assert batch.output_tokens == sum(job.output_tokens or 0 for job in jobs)
    assert batch.cost == sum((job.cost or Decimal(0) for job in jobs), Decimal(0))
    return batch


# --- Through the worker ------------------------------------------------------------


def test_two_hundred_rows_of_fifty_inputs_make_fifty_provider_calls(llm, worker, person) -> None:
    topics = [f"topic {n % 50}" for n in range(200)]
    batch = create_batch(anthropic_template(), person, rows_of(topics), source_name="pasted", concurrency=2)
    batch = finished(batch)
    assert llm.call_count == 50
    assert llm.max_in_flight <= 2
    batch = assert_counters_agree(batch)
    assert (batch.total_rows, batch.succeeded) == (200, 200)
    assert Job.objects.count() == 50
    assert set(batch.rows.values_list("job__output", flat=True)) == {DEFAULT_REPLY}
    # Identical rows share one job.
    assert batch.rows.values("job_id").distinct().count() == 50
    assert batch.input_tokens > 0 and batch.finished_at is not None


def test_worker_killed_mid_batch_every_row_ends_once_and_the_counts_are_right(llm, worker, person) -> None:
    """The pool process running a row's job is killed (as test_providers' single job is):
    the job runs again (redelivered, or swept once its lease runs out), its rows end once."""
    held = threading.Event()
    llm.when("kill 3", Behaviour(hold_until=held))  # the fourth row's call waits, mid-stream
    batch = create_batch(
        anthropic_template(), person, rows_of([f"kill {n}" for n in range(6)]), concurrency=2
    )
    try:
        call = wait_until(
            lambda: next((c for c in llm.calls if "kill 3" in str(c["body"])), None), timeout=30
        )
        assert batch.rows.filter(status=RowStatus.SUCCEEDED).exists()  # mid-batch
        os.kill(_pool_process_calling(worker, call["client_port"]), signal.SIGKILL)
    finally:
        held.set()

    def swept_until_finished() -> Batch | None:
        sweep_stuck_jobs()
        sweep()
        return Batch.objects.filter(pk=batch.pk, state=BatchState.FINISHED).first()

    batch = wait_until(swept_until_finished, timeout=60, interval=0.5)
    batch = assert_counters_agree(batch)
    assert batch.succeeded == 6
    jobs = list(Job.objects.all())
    assert len(jobs) == 6  # a job per row, none made twice
    assert all(job.status == JobStatus.SUCCEEDED and job.output == DEFAULT_REPLY for job in jobs)
    assert sorted(job.attempts for job in jobs) == [1, 1, 1, 1, 1, 2]
    assert batch.rows.get(number=4).job.attempts == 2
    assert llm.call_count == 7  # the killed call made again, and nothing else


def test_cancel_mid_batch_stops_the_running_row_and_starts_no_queued_one(llm, worker, person) -> None:
    release = threading.Event()
    llm.when("", Behaviour(hold_until=release))
    batch = create_batch(
        anthropic_template(), person, rows_of([f"stop {n}" for n in range(5)]), concurrency=1
    )
    try:
        wait_until(lambda: llm.call_count == 1)
        running = Job.objects.get()
        assert cancel_batch(batch)
        assert not cancel_batch(batch)  # once
    finally:
        release.set()
    # The worker learns of the cancel at its first chunk and keeps what was spent.
    wait_until(
        lambda: Job.objects.filter(pk=running.pk, status=JobStatus.CANCELLED).exclude(output="").exists()
    )
    assert dispatch(batch.pk) == 0
    batch = assert_counters_agree(finished(batch, state=BatchState.CANCELLED))
    wait_until(lambda: not Batch.objects.filter(pk=batch.pk, running__gt=0).exists())
    batch = assert_counters_agree(batch)
    assert batch.cancelled == 5 and batch.running == 0
    assert llm.call_count == 1 and Job.objects.count() == 1  # the queued rows never started


def test_retry_reruns_only_the_failed_rows_and_no_more_rows_run_at_once_than_asked(
    llm, worker, person
) -> None:
    llm.when("bad", error(400, message="This input is refused."))
    topics = ["good 1", "bad 1", "good 2", "bad 2", "good 3"]
    batch = finished(create_batch(anthropic_template(), person, rows_of(topics), concurrency=1))
    # One at a time, as asked: the worker has two processes, so the batch held it back.
    assert llm.max_in_flight == 1
    batch = assert_counters_agree(batch)
    assert (batch.succeeded, batch.failed) == (3, 2)
    failed = batch.rows.filter(status=RowStatus.FAILED).select_related("job")
    assert sorted(row.number for row in failed) == [2, 4]
    assert all(row.error_text for row in failed)
    old_jobs = set(failed.values_list("job_id", flat=True))

    llm.reset(reply=DEFAULT_REPLY)  # the provider takes them now
    assert retry_failed(batch) == 2
    batch = assert_counters_agree(finished(batch))
    assert (batch.succeeded, batch.failed) == (5, 0)
    assert llm.call_count == 2  # only the two failed rows ran again
    assert not old_jobs & set(batch.rows.values_list("job_id", flat=True))
    assert retry_failed(batch) == 0


def test_comparison_over_two_providers_holds_both_outputs_per_row_and_right_totals(
    llm, worker, person, priced
) -> None:
    configurations = [
        ConfigurationSpec(label="Claude"),
        ConfigurationSpec(provider="openai", model="gpt-test-1", temperature=Decimal("0.2"), label="GPT"),
    ]
    batch = create_batch(
        anthropic_template(),
        person,
        rows_of(["sea", "stone", "smoke"]),
        configurations=configurations,
        concurrency=2,
    )
    batch = assert_counters_agree(finished(batch))
    assert batch.total_rows == 6 and batch.succeeded == 6 and batch.is_comparison
    matrix: dict[int, dict[str, str]] = {}
    for row in batch.rows.select_related("configuration", "job"):
        matrix.setdefault(row.number, {})[row.configuration.label] = row.job.output
    assert matrix == {n: {"Claude": DEFAULT_REPLY, "GPT": DEFAULT_REPLY} for n in (1, 2, 3)}
    paths = Counter(call["path"] for call in llm.calls)
    assert paths == {"/v1/messages": 3, "/v1/chat/completions": 3}
    # The chosen temperature reaches OpenAI (Anthropic's Messages API takes none).
    temperatures = {call["body"].get("temperature") for call in llm.calls if "chat" in call["path"]}
    assert temperatures == {0.2}
    per_configuration: dict[str, Decimal] = {}
    for config in batch.configurations.all():
        jobs = Job.objects.filter(pk__in=config.rows.values("job_id"))
        per_configuration[config.label] = sum((job.cost for job in jobs), Decimal(0))
        assert all(job.cost and job.cost > 0 for job in jobs)
    assert batch.cost == per_configuration["Claude"] + per_configuration["GPT"]
    assert batch.unpriced == 0
    assert llm.max_in_flight <= 2


# --- Rules, without the worker -----------------------------------------------------


class _Sent(list[Any]):
    """The countdowns of the dispatch messages sent, and (``batches``) their batches."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[Any] = []


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Dispatch and job messages captured: these tests drive the engine by hand."""
    sent = _Sent()

    def send(batch_id: Any, countdown: float | None = None) -> None:
        sent.append(countdown)
        sent.batches.append(batch_id)

    monkeypatch.setattr("batches.services.send_dispatch", send)
    monkeypatch.setattr("jobs.tasks.run_job.apply_async", lambda *args, **options: None)
    return sent


def finish_jobs(status: str = JobStatus.SUCCEEDED) -> None:
    for job in Job.objects.filter(status=JobStatus.QUEUED):
        attempt = job.claim("task")
        assert attempt is not None
        if status == JobStatus.SUCCEEDED:
            job.mark_succeeded(attempt, output="ok", input_tokens=3, output_tokens=2, cost=None)
        else:
            job.mark_failed(attempt, code="bad_request", message="no")


def test_the_rows_per_minute_throttle_starts_no_more_jobs_in_a_minute(
    make_template: Callable[..., Template], person, no_broker
) -> None:
    batch = create_batch(make_template(), person, rows_of([f"t{n}" for n in range(5)]), rows_per_minute=2)
    assert dispatch(batch.pk) == 2
    assert no_broker[-1] == pytest.approx(60, abs=1)  # the next dispatch when the window ends
    finish_jobs()
    assert dispatch(batch.pk) == 0  # slots are free, the minute's budget is not
    Batch.objects.filter(pk=batch.pk).update(window_started_at=batch.created_at - THROTTLE_WINDOW)
    assert dispatch(batch.pk) == 2
    batch = assert_counters_agree(batch)
    assert (batch.succeeded, batch.running, batch.pending) == (2, 2, 1)
    assert batch.unpriced == 2 and batch.cost == 0  # tokens spent at no known price: counted apart


def test_limits_of_the_plan_are_refused_before_anything_is_written(
    make_template: Callable[..., Template], owner, settings, no_broker
) -> None:
    settings.BATCH_MAX_ROWS = {"free": 3}
    settings.BATCH_MAX_CONCURRENCY = {"free": 2}
    template = make_template()
    with pytest.raises(BatchError) as refused:
        create_batch(template, owner, rows_of(["a", "b", "c", "d"]))
    assert "more than 3 rows" in refused.value.message and refused.value.field == "rows"
    assert not Batch.objects.exists() and not BatchRow.objects.exists()
    with pytest.raises(BatchError):
        create_batch(template, owner, rows_of([]))
    batch = create_batch(template, owner, rows_of(["a"]), concurrency=50)
    assert batch.concurrency == 2  # capped by the plan
    same = [ConfigurationSpec(), ConfigurationSpec(temperature=Decimal("0.70"))]
    with pytest.raises(BatchError) as twice:
        create_batch(template, owner, rows_of(["a"]), configurations=same)
    assert twice.value.field == "configurations"


def test_a_temperature_is_hashed_and_only_a_signed_in_user_chooses_it(
    make_template: Callable[..., Template], owner, no_broker
) -> None:
    version = make_template().published_version
    inputs = {"topic": "heat", "count": 2}
    plain = submit_generation(version, inputs, owner=owner)
    same = submit_generation(version, inputs, owner=owner, temperature=Decimal("0.7"))
    cooler = submit_generation(version, inputs, owner=owner, temperature=Decimal("0.1"), queue="batches")
    assert plain.input_hash == same.input_hash != cooler.input_hash
    assert (cooler.temperature, cooler.queue, cooler.run_temperature) == (
        Decimal("0.10"),
        "batches",
        Decimal("0.1"),
    )
    with pytest.raises(SubmissionError) as anonymous:
        submit_generation(version, inputs, session_key="visitor", temperature=Decimal("0.1"))
    assert anonymous.value.field == "temperature"
    with pytest.raises(SubmissionError):
        submit_generation(version, inputs, owner=owner, temperature=Decimal("2.5"))


def test_a_row_whose_job_cannot_be_made_fails_with_the_reason(llm, person, priced, no_broker) -> None:
    template = anthropic_template()
    gpt = [ConfigurationSpec(provider="openai", model="gpt-test-1")]
    batch = create_batch(template, person, rows_of(["a", "b"]), configurations=gpt)
    ModelPrice.objects.filter(provider="openai").delete()  # no longer priced: no run on it
    assert dispatch(batch.pk) == 0
    batch = assert_counters_agree(batch)
    assert batch.state == BatchState.FINISHED and batch.failed == 2
    row = BatchRow.objects.first()
    assert "no price" in row.error_text
    from django.utils import translation

    with translation.override("pt-br"):  # the reader's language, not the worker's
        assert row.error_text.startswith("“openai/gpt-test-1” não tem mais preço neste PromptLab")
    # A row failed before errors had codes keeps its words.
    BatchRow.objects.filter(pk=row.pk).update(error_code="", error_params={}, error="Old words.")
    row.refresh_from_db()
    assert row.error_text == "Old words."


def test_a_draft_starts_once_and_an_old_one_expires(
    make_template: Callable[..., Template], owner, settings, no_broker
) -> None:
    from django.core.files.base import ContentFile

    template = make_template()
    draft = create_draft(
        template, owner, source_name="rows.csv", upload=ContentFile(b"topic\na\n"), valid_rows=1
    )
    path = Path(draft.source.path)
    assert draft.state == BatchState.DRAFT and path.exists() and not draft.rows.exists()
    started = start_draft(draft, rows_of(["a"]))
    assert started.state == BatchState.RUNNING and started.total_rows == 1 and not started.source
    assert not path.exists()
    with pytest.raises(BatchError):
        start_draft(draft, rows_of(["a"]))
    old = create_draft(template, owner, source_name="old.csv", upload=ContentFile(b"topic\nb\n"))
    old_path = Path(old.source.path)
    Batch.objects.filter(pk=old.pk).update(
        created_at=old.created_at - timedelta(seconds=settings.BATCH_DRAFT_TTL + 1)
    )
    assert expire_drafts() == 1
    assert not Batch.objects.filter(pk=old.pk).exists()
    assert not old_path.exists()


def test_only_a_manager_compares_a_draft_version(
    make_template: Callable[..., Template], owner, other_user, no_broker
) -> None:
    template = make_template(owner=owner)
    draft = template.create_version(
        body="Draft: {{ topic }} {{ count }}", parameters=SIMPLE_SCHEMA, publish=False
    )
    versions = [ConfigurationSpec(), ConfigurationSpec(version=draft)]
    with pytest.raises(BatchError):
        create_batch(template, other_user, rows_of(["a"]), configurations=versions)
    assert not Batch.objects.exists()


def test_the_sweep_settles_rows_a_failed_receiver_left_and_dispatches_a_stalled_batch(
    make_template: Callable[..., Template], person, no_broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = create_batch(make_template(), person, rows_of(["a", "b", "c"]), concurrency=2)
    assert dispatch(batch.pk) == 2
    with monkeypatch.context() as broken:
        broken.setattr("batches.services.settle_jobs", lambda job_ids: 1 / 0)
        finish_jobs()  # the jobs' end commits without the rows (the receiver's savepoint)
    assert Job.objects.filter(status=JobStatus.SUCCEEDED).count() == 2
    assert batch.rows.filter(status=RowStatus.RUNNING).count() == 2
    no_broker.clear()
    assert sweep() == 2  # settled, and the pending row's dispatch sent (its message "lost")
    batch = assert_counters_agree(batch)
    assert (batch.succeeded, batch.running, batch.pending) == (2, 0, 1)
    assert None in no_broker


def test_a_draft_checked_again_keeps_its_new_summary_until_it_starts(
    make_template: Callable[..., Template], owner, no_broker
) -> None:
    draft = create_draft(make_template(), owner, source_name="rows.csv", valid_rows=1, distinct_rows=1)
    summary = {
        "sheet": "",
        "mapping": {"Subject": "topic"},
        "columns": ["Subject"],
        "valid_rows": 2,
        "invalid_rows": 1,
        "blank_lines": 0,
        "errors": [{"row": 3, "column": "Subject", "message": "Too long."}],
        "warnings": [],
        "distinct_rows": 2,
        "prompt_characters": 80,
    }
    assert draft.record_check(**summary)
    draft.refresh_from_db()
    assert (draft.valid_rows, draft.distinct_rows, draft.mapping) == (2, 2, {"Subject": "topic"})
    start_draft(draft, rows_of(["a", "b"]))
    assert not draft.record_check(**summary)


def test_the_admin_lists_batches_with_their_counts_and_links_to_their_rows(
    client, make_template: Callable[..., Template], staff, no_broker
) -> None:
    batch = create_batch(make_template(), staff, rows_of(["a", "b"]), source_name="rows.csv")
    client.force_login(staff)
    listing = client.get("/admin/batches/batch/")
    assert listing.status_code == 200 and b"rows.csv" in listing.content
    page = client.get(f"/admin/batches/batch/{batch.pk}/change/")
    assert page.status_code == 200
    rows = f"/admin/batches/batchrow/?batch__id__exact={batch.pk}"
    assert rows.encode() in page.content.replace(b"&amp;", b"&")
    assert client.get(rows).status_code == 200


def test_rows_answered_from_the_cache_take_no_slot_and_the_batch_goes_on_at_once(
    make_template: Callable[..., Template], person, no_broker
) -> None:
    template = make_template()
    for topic in ("a", "b", "c"):
        submit_generation(template.published_version, {"topic": topic, "count": 2}, owner=person)
    finish_jobs()  # recent results for a, b and c
    batch = create_batch(template, person, rows_of(["a", "b", "c", "a", "d"]), concurrency=1)
    no_broker.clear()
    assert dispatch(batch.pk) == 1  # d's call; a, b and c answered at once, in the same dispatch
    batch = assert_counters_agree(batch)
    assert (batch.succeeded, batch.running, batch.pending) == (4, 1, 0)
    assert no_broker == []  # nothing left to send: no dispatch message, no recursion
    finish_jobs()
    assert assert_counters_agree(batch).state == BatchState.FINISHED


# --- The owner's right to the template, checked again when rows are about to run ----


def test_a_template_made_private_refuses_the_draft_and_fails_the_pending_rows_with_the_reason(
    make_template: Callable[..., Template], owner, other_user, no_broker
) -> None:
    from django.utils import translation

    template = make_template(owner=owner)  # public, by its author
    draft = create_draft(template, other_user, source_name="rows.csv", valid_rows=1)
    batch = create_batch(template, other_user, rows_of(["a", "b"]))
    Template.objects.filter(pk=template.pk).update(visibility=Visibility.PRIVATE)
    with pytest.raises(BatchError) as refused:
        start_draft(draft, rows_of(["a"]))
    assert "no longer available" in refused.value.message
    draft.refresh_from_db()
    assert draft.state == BatchState.DRAFT and not draft.rows.exists()
    assert dispatch(batch.pk) == 0
    batch = assert_counters_agree(batch)
    assert (batch.state, batch.failed) == (BatchState.FINISHED, 2) and not Job.objects.exists()
    row = batch.rows.first()
    with translation.override("pt-br"):
        assert "não está mais disponível" in row.error_text
    with pytest.raises(BatchError):
        retry_failed(batch)  # still not the owner's to run
    assert assert_counters_agree(batch).failed == 2


def test_a_new_publish_or_a_delete_stops_a_non_manager_but_not_the_manager(
    make_template: Callable[..., Template], owner, other_user, no_broker
) -> None:
    template = make_template(owner=owner)
    theirs = create_batch(template, other_user, rows_of(["a"]))
    managers = create_batch(template, owner, rows_of(["a"]))
    draft = create_draft(template, other_user, source_name="rows.csv", valid_rows=1)
    template.create_version(body="New: {{ topic }} {{ count }}", parameters=SIMPLE_SCHEMA, author=owner)
    with pytest.raises(BatchError) as refused:
        start_draft(draft, rows_of(["a"]))
    assert "no longer its published version" in refused.value.message
    assert dispatch(theirs.pk) == 0
    assert "published version" in theirs.rows.get().error_text
    assert dispatch(managers.pk) == 1  # a manager runs any version of their template
    finish_jobs(JobStatus.FAILED)
    assert assert_counters_agree(managers).failed == 1
    template.soft_delete()
    with pytest.raises(BatchError) as deleted:
        retry_failed(managers)
    assert "no longer available" in deleted.value.message
    assert assert_counters_agree(managers).failed == 1


def test_an_unexpected_error_fails_only_its_row_and_the_dispatch_goes_on(
    make_template: Callable[..., Template],
    person,
    no_broker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django.db import DataError

    real = submit_generation

    def breaks_on_b(version: Any, inputs: dict[str, Any], **options: Any) -> Job:
        job = real(version, inputs, **options)
        if inputs["topic"] == "b":
            raise DataError("value too long")  # after its job was made: the savepoint takes it back
        return job

    monkeypatch.setattr("batches.services.submit_generation", breaks_on_b)
    batch = create_batch(make_template(), person, rows_of(["a", "b", "c"]), concurrency=3)
    assert dispatch(batch.pk) == 2
    batch = assert_counters_agree(batch)
    assert (batch.running, batch.failed, batch.pending) == (2, 1, 0)
    failed = batch.rows.get(number=2)
    assert failed.status == RowStatus.FAILED and failed.job is None
    assert "unexpected error" in failed.error_text
    assert sorted(Job.objects.values_list("inputs__topic", flat=True)) == ["a", "c"]  # no orphan job for b
    assert f"batch {batch.pk}: row 2" in caplog.text
    finish_jobs()
    assert assert_counters_agree(batch).state == BatchState.FINISHED  # not retried forever


# --- Fairness between one owner's batches -----------------------------------------


def finish_job(job: Job) -> None:
    attempt = job.claim("task")
    assert attempt is not None
    job.mark_succeeded(attempt, output="ok", input_tokens=3, output_tokens=2, cost=None)


def test_one_owner_s_batches_share_the_plan_s_slots_and_take_turns(
    make_template: Callable[..., Template], owner, settings, no_broker
) -> None:
    settings.BATCH_MAX_CONCURRENCY = {"free": 2}  # the owner's plan: two batch jobs at once, in all
    template = make_template()
    first = create_batch(template, owner, rows_of(["a1", "a2", "a3"]), concurrency=2)
    second = create_batch(template, owner, rows_of(["b1", "b2"]), concurrency=2)
    assert dispatch(first.pk) == 2
    assert dispatch(second.pk) == 0  # the owner's two slots are the first batch's
    assert Batch.objects.get(pk=second.pk).held_since is not None

    no_broker.batches.clear()
    finish_job(first.rows.get(number=1).job)  # a slot frees: it goes to the batch held back
    assert dispatch(first.pk) == 0
    assert no_broker.batches[-1] == second.pk
    assert dispatch(second.pk) == 1
    in_flight = Job.objects.filter(status=JobStatus.QUEUED)
    assert in_flight.count() == 2

    finish_job(first.rows.get(number=2).job)  # the first batch's turn again
    assert dispatch(first.pk) == 1
    no_broker.batches.clear()
    finish_job(first.rows.get(number=3).job)  # nothing of its own left: its slot is handed on
    assert assert_counters_agree(first).state == BatchState.FINISHED
    assert no_broker.batches == [second.pk]
    assert dispatch(second.pk) == 1
    finish_jobs()
    second = assert_counters_agree(second)
    assert (second.state, second.succeeded, second.held_since) == (BatchState.FINISHED, 2, None)
