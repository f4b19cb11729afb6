"""Batches' work across models: writing rows, dispatching them as jobs, counting their ends.

Every row is answered by a normal Job submitted through ``jobs.services.submit_generation``,
so the cache, coalescing, retries, cancel and cost apply to batches as to single runs.

Locks, always taken in the same order so that two of these never wait on each other
(PostgreSQL would break the cycle by failing one): a job's row first, then its batch rows,
then the batch. A dispatch takes its owner's user row (FOR NO KEY UPDATE: inserts naming
the user, its jobs', do not wait on it) before the batch, holding nothing while it waits:
the owner's cap on jobs in flight counts across all their batches, and nothing that
holds a job, a row or a batch ever waits for an owner. A job's terminal change locks the
job (``Job._finish``) and then, in its receiver, the rows and the batch; cancelling a
batch changes the batch and its pending rows, and cancels the in-flight jobs only after
that commits, each in a transaction of its own. The dispatcher holds the batch's lock
while it submits jobs: the jobs it creates are its own new rows, and no job of the same
batch can be the leader it follows, because two configurations of one batch never run the
same thing (``_resolved_configurations``).

No row runs twice: a row gets a job only under its batch's lock, fenced by ``status=pending``,
and the job is created in that same transaction (its message is sent on commit), so a
dispatcher that dies leaves the rows pending and no job behind. No row is lost: a job's
end settles its rows in the job's own transaction, and the beat sweep settles any whose
receiver failed and re-dispatches batches whose dispatch message was lost.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from celery import current_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from opentelemetry import trace

from jobs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Job
from jobs.services import SubmissionError, cancel_job, chosen_model, chosen_temperature, submit_generation
from jobs.tasks import INFRASTRUCTURE_ERRORS
from providers import provider_is_available
from templates_app.model_choices import model_choice
from templates_app.models import Template, TemplateVersion
from templates_app.rendering import PromptRenderError

from .models import (
    FINAL_ROW_STATUSES,
    MAX_CONFIGURATIONS,
    MAX_KEPT_ERRORS,
    ROW_ERRORS,
    THROTTLE_WINDOW,
    Batch,
    BatchConfiguration,
    BatchRow,
    BatchState,
    RowStatus,
    row_key,
    upload_storage,
)
from .progress import publish_progress

logger = logging.getLogger(__name__)
tracer = trace.get_tracer("promptlab.batches")

# The Celery queue of batches: their dispatch messages and their rows' jobs.
BATCH_QUEUE = "batches"
# Rows written per INSERT: a file's rows are read lazily and never all held at once.
ROW_CHUNK = 500

# (number, inputs, source cells): one row as the files' reader gives it.
Row = tuple[int, dict[str, Any], dict[str, Any]]


class BatchError(Exception):
    """A batch can't be made or changed as asked; the message is for the user (translated),
    and ``field`` names the part of the request it concerns."""

    def __init__(self, message: str, field: str = "rows") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ConfigurationSpec:
    """One configuration as asked for; every part left out is the published version's."""

    version: TemplateVersion | None = None
    provider: str | None = None
    model: str | None = None
    temperature: Decimal | None = None
    label: str = ""


@dataclass(frozen=True)
class BatchLimits:
    """What a user's plan allows a batch (settings BATCH_MAX_*)."""

    max_rows: int
    max_file_bytes: int
    max_concurrency: int
    # Batch jobs in flight for one owner across all their batches: the plan's most for one
    # batch, so thirty batches take no more workers than one at full speed.
    max_in_flight: int = 0


def limits_for(user: Any) -> BatchLimits:
    plan = getattr(user, "plan", "free")

    def pick(table: dict[str, int]) -> int:
        return table.get(plan, table["free"])

    return BatchLimits(
        max_rows=pick(settings.BATCH_MAX_ROWS),
        max_file_bytes=pick(settings.BATCH_MAX_FILE_BYTES),
        max_concurrency=pick(settings.BATCH_MAX_CONCURRENCY),
        max_in_flight=pick(settings.BATCH_MAX_CONCURRENCY),
    )


# --- Making batches -------------------------------------------------------------


def create_batch(
    template: Template,
    owner: Any,
    rows: Iterable[Row],
    *,
    configurations: Sequence[ConfigurationSpec] | None = None,
    columns: Sequence[str] = (),
    source_name: str = "",
    concurrency: int | None = None,
    rows_per_minute: int | None = None,
) -> Batch:
    """Make a running batch of ``rows`` (validated inputs) and start dispatching it on commit.

    One transaction: the batch, its configurations and every row (written in chunks
    of ROW_CHUNK, so an iterator is never held whole), or nothing. BatchError (translated)
    for what the plan or the template does not allow, with nothing written.
    """
    _check_owner(owner)
    limits = limits_for(owner)
    resolved = _resolved_configurations(template, owner, configurations)
    at_once = _concurrency(concurrency, limits)
    per_minute = _rows_per_minute(rows_per_minute)
    with transaction.atomic():
        batch = Batch.objects.create(
            template=template,
            owner=owner,
            state=BatchState.RUNNING,
            concurrency=at_once,
            rows_per_minute=per_minute,
            source_name=source_name[:255],
            columns=list(columns),
            started_at=timezone.now(),
        )
        configs = _create_configurations(batch, resolved)
        written = _write_rows(batch, configs, rows, limits.max_rows)
        Batch.objects.filter(pk=batch.pk).update(total_rows=written, pending=written)
        batch.total_rows = batch.pending = written
        transaction.on_commit(functools.partial(send_dispatch, batch.pk))
    return batch


def create_draft(
    template: Template,
    owner: Any,
    *,
    configurations: Sequence[ConfigurationSpec] | None = None,
    source_name: str = "",
    upload: File | None = None,
    columns: Sequence[str] = (),
    mapping: dict[str, str] | None = None,
    sheet: str = "",
    valid_rows: int = 0,
    invalid_rows: int = 0,
    blank_lines: int = 0,
    distinct_rows: int = 0,
    prompt_characters: int = 0,
    errors: Sequence[dict[str, Any]] = (),
    warnings: Sequence[str] = (),
    concurrency: int | None = None,
    rows_per_minute: int | None = None,
) -> Batch:
    """A validated upload kept for its review page, not started: no rows, no jobs.

    ``upload`` (the file as uploaded) is stored under the var directory until the draft
    starts (``start_draft``) or expires (BATCH_DRAFT_TTL). ``errors`` are the validation's
    ``{row, column, message}`` (the first MAX_KEPT_ERRORS kept).
    """
    _check_owner(owner)
    limits = limits_for(owner)
    resolved = _resolved_configurations(template, owner, configurations)
    stored = ""
    try:
        with transaction.atomic():
            batch = Batch.objects.create(
                template=template,
                owner=owner,
                state=BatchState.DRAFT,
                concurrency=_concurrency(concurrency, limits),
                rows_per_minute=_rows_per_minute(rows_per_minute),
                source_name=source_name[:255],
                columns=list(columns),
                mapping=dict(mapping or {}),
                sheet=sheet,
                valid_rows=valid_rows,
                invalid_rows=invalid_rows,
                blank_lines=blank_lines,
                distinct_rows=distinct_rows,
                prompt_characters=prompt_characters,
                errors=list(errors)[:MAX_KEPT_ERRORS],
                warnings=list(warnings),
            )
            _create_configurations(batch, resolved)
            if upload is not None:
                batch.source.save(source_name or "upload", upload, save=False)
                stored = batch.source.name
                Batch.objects.filter(pk=batch.pk).update(source=stored)
    except BaseException:
        # Django has no hook on rollback: a file stored for a draft that was not made goes now.
        if stored:
            _delete_file(stored)
        raise
    return batch


def start_draft(batch: Batch, rows: Iterable[Row]) -> Batch:
    """A draft becomes a running batch of ``rows`` (the same writing as ``create_batch``);
    its uploaded file is deleted once that commits. BatchError when it is not a draft
    any more (started twice, expired) or the rows break the plan's limit."""
    limits = limits_for(batch.owner)
    with transaction.atomic():
        locked = Batch.objects.select_for_update().filter(pk=batch.pk, state=BatchState.DRAFT).first()
        if locked is None:
            raise BatchError(_("This batch has already started, or its draft has expired."), "batch")
        configs = list(
            locked.configurations.select_related("template_version__template").order_by("position")
        )
        _refuse_unavailable(locked, configs)
        written = _write_rows(locked, configs, rows, limits.max_rows)
        stored = locked.source.name
        Batch.objects.filter(pk=locked.pk).update(
            state=BatchState.RUNNING,
            total_rows=written,
            pending=written,
            started_at=timezone.now(),
            source="",
        )
        if stored:
            transaction.on_commit(functools.partial(_delete_file, stored))
        transaction.on_commit(functools.partial(send_dispatch, locked.pk))
    locked.refresh_from_db()
    return locked


def _check_owner(owner: Any) -> None:
    if owner is None or not owner.is_authenticated:
        raise BatchError(_("Sign in to run a template on many rows."), "owner")


def unavailable_configurations(batch: Batch, configurations: Iterable[BatchConfiguration]) -> dict[int, str]:
    """The configurations the batch's owner may no longer run, each with the code of why
    (``batches.models.ROW_ERRORS``): the template deleted or no longer visible to them, or,
    for someone who does not manage it, a version that is no longer the published one (a
    manager may run any of its versions, as at creation).

    Checked again whenever rows are about to run (a draft started, failed rows retried,
    each dispatch): the owner's right to the template is what it is now, not at creation.
    """
    refused: dict[int, str] = {}
    for config in configurations:
        template = config.template_version.template  # read through the base manager: deleted ones too
        if template.deleted_at is not None:
            refused[config.pk] = "template_unavailable"
        elif template.is_managed_by(batch.owner):
            continue
        elif not _visible(template, batch.owner):
            refused[config.pk] = "template_unavailable"
        elif config.template_version_id != template.published_version_id:
            refused[config.pk] = "version_not_published"
    return refused


def _visible(template: Template, owner: Any) -> bool:
    return Template.objects.visible_to(owner).filter(pk=template.pk).exists()


def _refuse_unavailable(batch: Batch, configurations: list[BatchConfiguration]) -> None:
    refused = unavailable_configurations(batch, configurations)
    if refused:
        reasons = set(refused.values())
        code = "template_unavailable" if "template_unavailable" in reasons else "version_not_published"
        raise BatchError(str(ROW_ERRORS[code]), "template")


@dataclass(frozen=True)
class _Resolved:
    version: TemplateVersion
    provider: str
    model: str
    temperature: Decimal | None
    label: str
    draft_run: bool


def _resolved_configurations(
    template: Template, owner: Any, specs: Sequence[ConfigurationSpec] | None
) -> list[_Resolved]:
    """The configurations as they will run, each checked as a run would be (model, price,
    provider, temperature), so that a batch is refused before it is made rather than
    failing every row."""
    wanted = list(specs or [ConfigurationSpec()])
    if len(wanted) > MAX_CONFIGURATIONS:
        raise BatchError(
            _("A batch compares at most %(max)d configurations.") % {"max": MAX_CONFIGURATIONS},
            "configurations",
        )
    resolved: list[_Resolved] = []
    seen: set[tuple[Any, ...]] = set()
    for spec in wanted:
        version = spec.version or template.published_version
        if version is None:
            raise BatchError(_("This template has no published version."), "configurations")
        if version.template_id != template.pk:
            raise BatchError(_("That version is not one of this template's."), "configurations")
        draft_run = version.pk != template.published_version_id
        if draft_run and not template.is_managed_by(owner):
            raise BatchError(
                _("Only someone who manages this template can run a version other than the published one."),
                "configurations",
            )
        try:
            provider, model = chosen_model(version, provider=spec.provider, model=spec.model, user=owner)
            temperature = (
                chosen_temperature(spec.temperature, user=owner) if spec.temperature is not None else None
            )
        except SubmissionError as exc:
            raise BatchError(str(exc), "configurations") from None
        if not provider_is_available(provider):
            raise BatchError(
                _("The provider “%(provider)s” is not configured here, so this can't run.")
                % {"provider": provider},
                "configurations",
            )
        # Two configurations running the same thing would share their jobs' work, and the
        # second's rows would follow jobs of the first under the batch's lock (see the
        # module's docstring): refused, it is no comparison anyway.
        identity = (
            version.pk,
            provider,
            model,
            temperature if temperature is not None else version.temperature,
        )
        if identity in seen:
            raise BatchError(
                _("Two configurations are the same: compare different models, temperatures or versions."),
                "configurations",
            )
        seen.add(identity)
        label = spec.label.strip()[:120] or _default_label(version, provider, model, temperature, draft_run)
        resolved.append(_Resolved(version, provider, model, temperature, label, draft_run))
    return resolved


def _default_label(
    version: TemplateVersion, provider: str, model: str, temperature: Decimal | None, draft_run: bool
) -> str:
    parts = [f"{provider}/{model}"]
    if temperature is not None:
        parts.append(f"t={temperature}")
    if draft_run:
        parts.append(f"v{version.number}")
    return " · ".join(parts)


def _concurrency(requested: int | None, limits: BatchLimits) -> int:
    value = settings.BATCH_CONCURRENCY if requested is None else requested
    if value < 1:
        raise BatchError(_("Rows at once must be at least 1."), "concurrency")
    return min(value, limits.max_concurrency)


def _rows_per_minute(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise BatchError(_("Rows per minute must be at least 1, or empty for no limit."), "rows_per_minute")
    return value


def _create_configurations(batch: Batch, resolved: list[_Resolved]) -> list[BatchConfiguration]:
    # One at a time, in position order: the dispatcher orders rows by configuration id,
    # which is then the position's order too.
    return [
        BatchConfiguration.objects.create(
            batch=batch,
            position=position,
            label=entry.label,
            template_version=entry.version,
            provider=entry.provider,
            model=entry.model,
            temperature=entry.temperature,
            draft_run=entry.draft_run,
        )
        for position, entry in enumerate(resolved)
    ]


def _write_rows(batch: Batch, configs: list[BatchConfiguration], rows: Iterable[Row], max_rows: int) -> int:
    """Write a row per input row and configuration; how many were written. Called inside
    the caller's transaction: a BatchError raised midway leaves nothing written."""
    count = 0
    chunk: list[BatchRow] = []
    for number, inputs, source in rows:
        count += 1
        if count > max_rows:
            raise BatchError(
                ngettext(
                    "This file has more than %(max)d row, the limit of your plan.",
                    "This file has more than %(max)d rows, the limit of your plan.",
                    max_rows,
                )
                % {"max": max_rows},
                "rows",
            )
        chunk.extend(
            BatchRow(
                batch=batch,
                number=number,
                configuration=config,
                inputs=inputs,
                source=source,
                input_key=row_key(config.pk, inputs),
            )
            for config in configs
        )
        if len(chunk) >= ROW_CHUNK:
            BatchRow.objects.bulk_create(chunk)
            chunk = []
    if chunk:
        BatchRow.objects.bulk_create(chunk)
    if count == 0:
        raise BatchError(_("There are no rows to run."), "rows")
    return count * len(configs)


def _delete_file(name: str) -> None:
    try:
        upload_storage().delete(name)
    except OSError as exc:
        logger.warning("could not delete the batch upload %s: %s", name, exc)


# --- Dispatching ------------------------------------------------------------------


def send_dispatch(batch_id: Any, countdown: float | None = None) -> None:
    """Ask a worker to dispatch the batch. A broker that is down loses nothing: the sweep
    re-dispatches running batches with pending rows."""
    from .tasks import dispatch_batch

    try:
        dispatch_batch.apply_async(args=[str(batch_id)], countdown=countdown)
    except Exception as exc:
        logger.warning("could not send the dispatch of batch %s now (%s); the sweep will", batch_id, exc)


def dispatch(batch_id: UUID | str) -> int:
    """Give the next pending rows jobs, as many as the batch's free slots and its throttle
    allow; the number of jobs submitted.

    Under the batch's lock, taken with SKIP LOCKED: whoever holds it is either another
    dispatch, which took it after every change committed before this one was asked for
    (each such change locks the batch row), or a change that asks for a dispatch of its
    own once it commits. Either way nothing is left waiting, and dispatches piling up
    behind a lock cost a worker nothing.

    Rows answered at once (from the cache) or failed at once (their job could not be
    made) take no slot: the dispatch goes on with the next rows, up to DISPATCH_MAX_KEYS
    in one transaction, and a message carries on past that (never a recursion: a batch
    of 10,000 cached rows is 10,000 such rows).
    """
    now = timezone.now()
    owner_id = Batch.objects.filter(pk=batch_id).values_list("owner_id", flat=True).first()
    if owner_id is None:
        return 0
    with transaction.atomic():
        # The owner's lock first, then the batch's (see the module's docstring): the
        # owner's cap counts jobs across all their batches, so two dispatches of one
        # owner's batches must not both read the same free slots. It is waited for (not
        # skipped: the holder dispatches another batch, not this one) and nothing is held
        # while waiting, so it adds no cycle to the job → rows → batch order.
        get_user_model().objects.select_for_update(no_key=True).filter(pk=owner_id).values_list(
            "pk", flat=True
        ).first()
        batch = (
            Batch.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("owner")
            .filter(pk=batch_id, state=BatchState.RUNNING)
            .first()
        )
        if batch is None:
            return 0
        in_flight = batch.rows.filter(status=RowStatus.RUNNING).aggregate(
            n=Count("input_key", distinct=True)
        )["n"]
        budget, new_window = batch.throttle_budget(now)
        free = batch.concurrency - in_flight
        if in_flight and free < refill_at(batch.concurrency):
            # Refilled in bunches: a dispatch's own work (the lock, these reads) is then
            # shared by several jobs. Every job's end asks again, and one with nothing
            # left in flight always refills, so the batch never stalls.
            if batch.held_since is not None:
                # Its own jobs' ends will dispatch it: not waiting on the owner's slots,
                # which the next batch held back may take.
                Batch.objects.filter(pk=batch.pk).update(held_since=None)
                _hand_on(owner_id, batch.pk)
            return 0
        owner_free = limits_for(batch.owner).max_in_flight - _owner_in_flight(owner_id)
        ahead = _oldest_held(owner_id, exclude=batch.pk)
        yields = ahead is not None and (batch.held_since is None or ahead[1] < batch.held_since)
        if batch.pending and (owner_free <= 0 or yields):
            # Held back by the owner's cap, or behind a batch held back longer, which
            # takes the free slots first: their batches take turns.
            if batch.held_since is None:
                Batch.objects.filter(pk=batch.pk).update(held_since=now)
            if yields and owner_free > 0:
                _hand_on(owner_id, batch.pk)
            return 0
        batch_free, free = free, min(free, owner_free)
        configurations = {
            config.pk: config for config in batch.configurations.select_related("template_version__template")
        }
        round_ = _Round()
        # The owner's right to the template now, not at creation: a configuration they
        # may no longer run has its pending rows failed, with the reason, and none run.
        for config_id, code in unavailable_configurations(batch, configurations.values()).items():
            round_.failed += batch.rows.filter(status=RowStatus.PENDING, configuration_id=config_id).update(
                status=RowStatus.FAILED, error_code=code, error_params={}, error="", dispatched_at=now
            )
            round_.refused = True
        while free > 0 and (budget is None or round_.calls < budget) and round_.keys < DISPATCH_MAX_KEYS:
            wanted = free if budget is None else min(free, budget - round_.calls)
            keys = _next_keys(batch, min(wanted, DISPATCH_MAX_KEYS - round_.keys))
            if not keys:
                break
            free -= _submit_keys(batch, keys, configurations, now, round_)
        left = batch.pending - (round_.running + round_.failed)
        # Still rows to run, room in the batch, none in the owner's: held back (at the back
        # of the owner's queue if it just had its turn).
        held = left > 0 and owner_free - round_.calls <= 0 and batch_free - round_.calls > 0
        held_since = (batch.held_since if not round_.calls else now) if held else None
        if held_since is None and ahead is not None and owner_free - round_.calls > 0:
            transaction.on_commit(functools.partial(send_dispatch, ahead[0]))  # slots it can use
        if not round_.keys and not round_.refused:
            if held_since != batch.held_since:
                Batch.objects.filter(pk=batch.pk).update(held_since=held_since)
            return 0
        changes: dict[str, Any] = {
            "pending": F("pending") - (round_.running + round_.failed),
            "running": F("running") + round_.running,
            "failed": F("failed") + round_.failed,
            "held_since": held_since,
        }
        if budget is not None:
            if new_window:
                changes.update(window_started_at=now, window_count=round_.calls)
            else:
                changes["window_count"] = F("window_count") + round_.calls
        Batch.objects.filter(pk=batch.pk).update(**changes)
        if round_.answered:
            settle_jobs(round_.answered, then_dispatch=False)
        if batch.pending == round_.running + round_.failed:
            # Nothing left pending (the batch row was read under its lock): maybe done.
            finish_if_done(batch.pk)
        # Its event; and, when the cap cut this dispatch short, a message to carry on.
        more = round_.keys >= DISPATCH_MAX_KEYS
        transaction.on_commit(
            functools.partial(_after_change, batch.pk, dispatch_more=more, inline=False), robust=True
        )
        if budget is not None and round_.calls >= budget:
            # The throttle's window is full: the next dispatch is due when it ends (one
            # message per window: later dispatches in it find no budget and stop).
            window_start = now if new_window else batch.window_started_at
            # Half a second past the window's end, so that it finds the window over.
            due = (window_start + THROTTLE_WINDOW - now).total_seconds() + 0.5
            transaction.on_commit(functools.partial(send_dispatch, batch.pk, countdown=max(due, 0.5)))
    return round_.calls


# Input keys one dispatch submits at most, in one transaction under the batch's lock.
DISPATCH_MAX_KEYS = 100


@dataclass
class _Round:
    """What one dispatch did: keys submitted, jobs still to run (``calls``: the slots and
    the throttle count those), rows moved, and jobs answered at once."""

    keys: int = 0
    calls: int = 0
    running: int = 0
    failed: int = 0
    answered: list[Any] = field(default_factory=list)
    refused: bool = False  # rows failed because their configuration may no longer run


def _submit_keys(
    batch: Batch, keys: list[str], configurations: dict[int, BatchConfiguration], now: Any, round_: _Round
) -> int:
    """Submit a job per input key and point its pending rows at it; the slots taken."""
    rows_by_key: dict[str, list[tuple[int, int, int, dict[str, Any]]]] = defaultdict(list)
    pending = batch.rows.filter(status=RowStatus.PENDING, input_key__in=keys).order_by()
    for pk, key, number, configuration_id, inputs in pending.values_list(
        "pk", "input_key", "number", "configuration_id", "inputs"
    ):
        rows_by_key[key].append((pk, number, configuration_id, inputs))
    taken = 0
    for key in keys:
        entries = rows_by_key[key]
        pks = [entry[0] for entry in entries]
        number, config = entries[0][1], configurations[entries[0][2]]
        round_.keys += 1
        try:
            # A savepoint per key: whatever fails here takes back only this key's job and
            # rows, never the dispatch's other keys (which the sweep would otherwise try
            # again, and fail again, forever).
            with (
                transaction.atomic(),
                tracer.start_as_current_span("batch row", attributes={"promptlab.batch.id": str(batch.pk)}),
            ):
                job = submit_generation(
                    config.template_version,
                    entries[0][3],
                    owner=batch.owner,
                    provider=config.provider,
                    model=config.model,
                    temperature=config.temperature,
                    draft_run=config.draft_run,
                    queue=BATCH_QUEUE,
                )
                BatchRow.objects.filter(pk__in=pks).update(
                    status=RowStatus.RUNNING, job=job, dispatched_at=now
                )
        except SubmissionError as exc:
            # Never a lost row: the row ends, failed, with the reason.
            code, params = _submission_error(exc, config)
            BatchRow.objects.filter(pk__in=pks).update(
                status=RowStatus.FAILED,
                error_code=code,
                error_params=params,
                error=str(exc),
                dispatched_at=now,
            )
            round_.failed += len(pks)
            continue
        except INFRASTRUCTURE_ERRORS:
            raise  # the database or the broker, for a moment: the whole dispatch again (its task retries)
        except Exception:
            logger.exception(
                "batch %s: row %s (configuration %s) could not be submitted; its rows fail",
                batch.pk,
                number,
                config.pk,
            )
            BatchRow.objects.filter(pk__in=pks).update(
                status=RowStatus.FAILED,
                error_code="submission_failed",
                error_params={},
                error="",
                dispatched_at=now,
            )
            round_.failed += len(pks)
            continue
        round_.running += len(pks)
        if job.is_terminal:
            # Answered at once (from the cache): its job_finished was sent before the rows
            # pointed at it, so they are settled by the dispatch; it took no slot.
            round_.answered.append(job.pk)
        else:
            round_.calls += 1
            taken += 1
    return taken


def _submission_error(exc: SubmissionError, config: BatchConfiguration) -> tuple[str, dict[str, Any]]:
    """A SubmissionError as a code and the parameters its ROW_ERRORS message takes, so that
    the row's error is worded in its reader's language (the exception's message is in the
    worker's). A code without them keeps the worker's words (``BatchRow.error``)."""
    params: dict[str, Any] = {}
    if exc.code in ("model_not_priced", "model_not_allowed"):
        params["choice"] = model_choice(config.provider, config.model)
    elif exc.code == "provider_unavailable":
        params["provider"] = config.provider
    elif exc.code == "render_error" and isinstance(exc.__context__, PromptRenderError):
        # Raised "from None": the render's own error is still its context. Its words are
        # the worker's language (it has no code of its own); the sentence around them is not.
        params["problem"] = str(exc.__context__)
    return exc.code, params


def _owner_in_flight(owner_id: Any) -> int:
    """The owner's batch jobs in flight, across all their batches (cancelled ones while
    their jobs stop too): the jobs of their rows given a job not yet finished."""
    return BatchRow.objects.filter(
        Q(batch__state=BatchState.RUNNING) | Q(batch__state=BatchState.CANCELLED, batch__running__gt=0),
        batch__owner_id=owner_id,
        status=RowStatus.RUNNING,
    ).aggregate(n=Count("job_id", distinct=True))["n"]


def _oldest_held(owner_id: Any, *, exclude: Any = None) -> tuple[Any, Any] | None:
    """The owner's running batch held back longest by their cap (its id and since when)."""
    held = Batch.objects.filter(owner_id=owner_id, state=BatchState.RUNNING, held_since__isnull=False)
    if exclude is not None:
        held = held.exclude(pk=exclude)
    return held.order_by("held_since").values_list("pk", "held_since").first()


def _hand_on(owner_id: Any, batch_id: Any) -> None:
    """Once this commits, a dispatch of the owner's batch held back longest (a message: a
    dispatch never runs another inline, which could recurse)."""
    ahead = _oldest_held(owner_id, exclude=batch_id)
    if ahead is not None:
        transaction.on_commit(functools.partial(send_dispatch, ahead[0]))


def refill_at(concurrency: int) -> int:
    """Free slots a dispatch waits for while jobs are in flight: half the batch's
    concurrency, so half its jobs still run (the workers kept busy) while it refills."""
    return max(1, concurrency // 2)


def _next_keys(batch: Batch, wanted: int) -> list[str]:
    """The input keys of the next pending rows in (number, configuration) order, at most
    ``wanted`` distinct ones, read a slice at a time (identical rows share a key)."""
    keys: list[str] = []
    pending = (
        batch.rows.filter(status=RowStatus.PENDING)
        .order_by("number", "configuration_id")
        .values_list("input_key", flat=True)
    )
    size = max(wanted * 4, 50)
    start = 0
    while len(keys) < wanted:
        chunk = list(pending[start : start + size])
        for key in chunk:
            if key not in keys:
                keys.append(key)
                if len(keys) == wanted:
                    break
        if len(chunk) < size:
            break
        start += size
    return keys


# --- Rows ending ------------------------------------------------------------------


@dataclass
class _Totals:
    rows: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal("0")
    unpriced: int = 0

    def add_job(self, input_tokens: int | None, output_tokens: int | None, cost: Decimal | None) -> None:
        self.input_tokens += input_tokens or 0
        self.output_tokens += output_tokens or 0
        if cost is not None:
            self.cost += cost
        elif input_tokens or output_tokens:
            self.unpriced += 1  # tokens were spent at a price nobody knows: counted, not costed


def settle_jobs(job_ids: Iterable[Any], *, then_dispatch: bool = True) -> int:
    """Finished jobs' rows take their job's status, in the caller's transaction (the
    job's terminal change); their batches' counters move with F(), each job's tokens and
    cost counted once per batch however many rows share it; a batch with nothing left
    pending or running finishes. The number of rows settled.

    Fenced by ``status=running`` on rows locked first, so a job's rows are settled exactly
    once, by whichever of the receiver, the dispatcher and the sweep comes first. Once it
    commits, each batch's event goes out and, ``then_dispatch``, its next rows (the
    dispatcher itself goes on without).
    """
    job_ids = list(job_ids)
    rows = list(
        BatchRow.objects.filter(job_id__in=job_ids, status=RowStatus.RUNNING)
        .order_by("pk")
        .select_for_update()
        .values_list("pk", "batch_id", "job_id")
    )
    if not rows:
        return 0
    jobs = {
        pk: (status, input_tokens, output_tokens, cost)
        for pk, status, input_tokens, output_tokens, cost in Job.objects.filter(
            pk__in={job_id for _pk, _batch, job_id in rows}, status__in=TERMINAL_STATUSES
        ).values_list("pk", "status", "input_tokens", "output_tokens", "cost")
    }
    by_status: dict[str, list[int]] = defaultdict(list)
    totals: dict[Any, _Totals] = defaultdict(_Totals)
    counted: set[tuple[Any, Any]] = set()
    for pk, batch_id, job_id in rows:
        if job_id not in jobs:
            continue  # still running (the sweep passes jobs it read as finished)
        status, input_tokens, output_tokens, cost = jobs[job_id]
        by_status[status].append(pk)
        batch_totals = totals[batch_id]
        batch_totals.rows += 1
        batch_totals.by_status[status] += 1
        if (batch_id, job_id) not in counted:
            counted.add((batch_id, job_id))
            batch_totals.add_job(input_tokens, output_tokens, cost)
    for status, pks in by_status.items():
        BatchRow.objects.filter(pk__in=pks).update(status=status)
    for batch_id in sorted(totals, key=str):  # one order for every settle: no lock cycles
        batch_totals = totals[batch_id]
        Batch.objects.filter(pk=batch_id).update(
            running=F("running") - batch_totals.rows,
            succeeded=F("succeeded") + batch_totals.by_status[RowStatus.SUCCEEDED],
            failed=F("failed") + batch_totals.by_status[RowStatus.FAILED],
            cancelled=F("cancelled") + batch_totals.by_status[RowStatus.CANCELLED],
            input_tokens=F("input_tokens") + batch_totals.input_tokens,
            output_tokens=F("output_tokens") + batch_totals.output_tokens,
            cost=F("cost") + batch_totals.cost,
            unpriced=F("unpriced") + batch_totals.unpriced,
        )
        finish_if_done(batch_id)
        transaction.on_commit(
            functools.partial(_after_change, batch_id, dispatch_more=then_dispatch), robust=True
        )
    return sum(batch_totals.rows for batch_totals in totals.values())


def recount_job_usage(job_id: Any, before: tuple[Any, ...], after: tuple[Any, ...]) -> int:
    """Move the totals of the batches whose settled rows share the job by what its spending
    changed (a cancelled run's tokens come after its rows ended); the batches changed."""
    old, new = _Totals(), _Totals()
    old.add_job(*before)
    new.add_job(*after)
    batches = sorted(
        set(
            BatchRow.objects.filter(job_id=job_id, status__in=FINAL_ROW_STATUSES)
            .order_by()
            .values_list("batch_id", flat=True)
        ),
        key=str,
    )
    for batch_id in batches:
        Batch.objects.filter(pk=batch_id).update(
            input_tokens=F("input_tokens") + (new.input_tokens - old.input_tokens),
            output_tokens=F("output_tokens") + (new.output_tokens - old.output_tokens),
            cost=F("cost") + (new.cost - old.cost),
            unpriced=F("unpriced") + (new.unpriced - old.unpriced),
        )
        transaction.on_commit(functools.partial(_after_change, batch_id), robust=True)
    return len(batches)


def finish_if_done(batch_id: Any) -> bool:
    """The batch finishes once nothing is pending or running: a conditional UPDATE, so
    exactly once."""
    return bool(
        Batch.objects.filter(pk=batch_id, state=BatchState.RUNNING, pending=0, running=0).update(
            state=BatchState.FINISHED, finished_at=timezone.now()
        )
    )


def _after_change(batch_id: Any, *, dispatch_more: bool = True, inline: bool = True) -> None:
    """Once a change committed: its progress event, and a dispatch while rows wait.

    Registered ``robust``: it runs after the change committed (a job's end, in the
    worker's final write), and nothing it meets may fail that write; a failure is logged
    and the sweep makes up for it.

    In a worker (a job's end, the usual case) the dispatch runs here, at once: a message
    would cost a broker round trip and a task of its own per row, as much as the
    dispatch's own work. Elsewhere (a web request cancelling a job) it goes to the workers.
    """
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None:
        return
    publish_progress(batch)
    if not dispatch_more:
        return
    if batch.state == BatchState.RUNNING and batch.pending:
        target = batch.pk
    else:
        # Nothing of its own to run: a slot it freed goes to the owner's batch held back
        # longest by their cap, if any (its dispatch passes it on while slots remain).
        held = _oldest_held(batch.owner_id)
        if held is None:
            return
        target = held[0]
    if not (inline and _in_a_worker()):
        send_dispatch(target)
        return
    try:
        # A context of its own: the submissions name their jobs on the current span and in
        # the log context, which here are the run of the job that just ended.
        contextvars.copy_context().run(_dispatch_in_a_span, target)
    except Exception:
        logger.exception("batch %s: its dispatch failed here; sending it to the workers", target)
        send_dispatch(target)


def _dispatch_in_a_span(batch_id: Any) -> int:
    with tracer.start_as_current_span("batch dispatch", attributes={"promptlab.batch.id": str(batch_id)}):
        return dispatch(batch_id)


def _in_a_worker() -> bool:
    """Running a task in a worker (not eagerly in the caller's process, as tests may)."""
    request = current_task.request if current_task else None  # a proxy: false without a task
    return request is not None and bool(request.id) and not request.is_eager


# --- Cancel and retry -------------------------------------------------------------


def cancel_batch(batch: Batch) -> bool:
    """Cancel a running batch (or a draft): its pending rows never start, its in-flight
    jobs are cancelled as a job is (their rows end cancelled through the receiver).
    False if it had ended already."""
    with transaction.atomic():
        locked = (
            Batch.objects.select_for_update()
            .filter(pk=batch.pk, state__in=[BatchState.RUNNING, BatchState.DRAFT])
            .first()
        )
        if locked is None:
            return False
        now = timezone.now()
        pending = locked.rows.filter(status=RowStatus.PENDING).update(status=RowStatus.CANCELLED)
        Batch.objects.filter(pk=locked.pk).update(
            state=BatchState.CANCELLED,
            pending=F("pending") - pending,
            cancelled=F("cancelled") + pending,
            finished_at=now,
            held_since=None,  # nothing left waiting: a retry queues afresh
        )
        in_flight = list(
            locked.rows.filter(status=RowStatus.RUNNING, job__isnull=False)
            .order_by()
            .values_list("job_id", flat=True)
            .distinct()
        )
        if locked.state == BatchState.DRAFT and locked.source.name:
            Batch.objects.filter(pk=locked.pk).update(source="")
            transaction.on_commit(functools.partial(_delete_file, locked.source.name))
        transaction.on_commit(functools.partial(_after_change, locked.pk), robust=True)
    # Each job in a transaction of its own, after the batch's: a job's cancel locks the
    # job and then (its receiver) the batch, the order every job's end takes.
    _cancel_jobs(in_flight)
    batch.refresh_from_db()
    return True


def _cancel_jobs(job_ids: Iterable[Any]) -> int:
    cancelled = 0
    for job in Job.objects.filter(pk__in=list(job_ids), status__in=ACTIVE_STATUSES):
        cancelled += cancel_job(job)
    return cancelled


def retry_failed(batch: Batch) -> int:
    """Run the failed rows again (a new job each: a failed result is never reused); the
    number of rows. The batch runs again; rows cancelled stay cancelled."""
    with transaction.atomic():
        locked = (
            Batch.objects.select_for_update()
            .filter(pk=batch.pk, state__in=[BatchState.RUNNING, BatchState.FINISHED, BatchState.CANCELLED])
            .first()
        )
        if locked is None:
            return 0
        _refuse_unavailable(locked, list(locked.configurations.select_related("template_version__template")))
        retried = locked.rows.filter(status=RowStatus.FAILED).update(
            status=RowStatus.PENDING, job=None, dispatched_at=None, error="", error_code="", error_params={}
        )
        if retried:
            Batch.objects.filter(pk=locked.pk).update(
                state=BatchState.RUNNING,
                failed=F("failed") - retried,
                pending=F("pending") + retried,
                finished_at=None,
            )
            transaction.on_commit(functools.partial(_after_change, locked.pk), robust=True)
    batch.refresh_from_db()
    return retried


# --- Beat -------------------------------------------------------------------------


def sweep() -> int:
    """Batches no message will move on: rows whose job ended without settling them (a
    receiver that failed), running batches with pending rows (a dispatch message lost,
    a restart), cancelled batches with jobs still active. The batches handled."""
    handled = 0
    active = Batch.objects.filter(Q(state=BatchState.RUNNING) | Q(state=BatchState.CANCELLED, running__gt=0))
    for batch in active.order_by("created_at")[:500]:
        if batch.running:
            ended = list(
                batch.rows.filter(status=RowStatus.RUNNING, job__status__in=TERMINAL_STATUSES)
                .order_by()
                .values_list("job_id", flat=True)
                .distinct()
            )
            if ended:
                with transaction.atomic():
                    settle_jobs(ended)
                handled += 1
        if batch.state == BatchState.CANCELLED:
            jobs = batch.rows.filter(status=RowStatus.RUNNING).order_by().values_list("job_id", flat=True)
            if _cancel_jobs(jobs):
                handled += 1
        elif batch.pending:
            send_dispatch(batch.pk)
            handled += 1
        elif finish_if_done(batch.pk):
            handled += 1
    return handled


def expire_drafts() -> int:
    """Drafts older than BATCH_DRAFT_TTL go, with their files; the number deleted."""
    cutoff = timezone.now() - timedelta(seconds=settings.BATCH_DRAFT_TTL)
    expired = 0
    for batch in Batch.objects.filter(state=BatchState.DRAFT, created_at__lt=cutoff).order_by("created_at")[
        :500
    ]:
        name = batch.source.name
        with transaction.atomic():
            deleted, _per_model = Batch.objects.filter(pk=batch.pk, state=BatchState.DRAFT).delete()
            if deleted and name:
                transaction.on_commit(functools.partial(_delete_file, name))
        expired += bool(deleted)
    return expired
