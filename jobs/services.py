"""Submitting a generation: the one road for the browser form and the API.

Identical work is done once. A submission whose determining inputs (the input
hash) match a recent success is answered from it at once; one that matches a
job already queued or running follows that job and shares its answer. The
database decides races: ``Job.active_key`` is unique, so of many identical
submissions arriving together exactly one becomes the leader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from budgets import services as budgets
from promptlab import logs
from providers import provider_is_available
from providers.models import is_priced
from templates_app.model_choices import model_choice
from templates_app.models import TemplateVersion, field_bounds
from templates_app.rendering import PromptRenderError

from . import telemetry, workflows
from .models import Job, JobStatus, input_hash
from .rollups import UsageRollup
from .signals import job_finished
from .streaming import publish_status
from .workflows import WORKFLOW_QUEUE

logger = logging.getLogger(__name__)


class SubmissionError(Exception):
    """The job could not be created or enqueued; the message is for the user, and
    ``field`` names the part of the request it concerns."""

    def __init__(
        self, message: str, *, code: str, field: str = "inputs", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.details = details or {}


def submit_generation(
    version: TemplateVersion,
    inputs: dict[str, Any],
    *,
    owner: Any = None,
    session_key: str = "",
    provider: str | None = None,
    model: str | None = None,
    idempotency_key: str | None = None,
    draft_run: bool = False,
    temperature: Decimal | None = None,
    queue: str = "",
) -> Job:
    """Create a job for validated inputs: answered from cache, following a twin, or queued.

    ``provider`` and ``model`` override the version's (the API allows it), within
    what ``chosen_model`` lets ``owner`` choose; ``temperature`` too, within
    ``chosen_temperature``'s rule. ``draft_run`` marks an editor's test
    run (the caller checks that ``owner`` may edit the template): its hash differs, so
    it shares results only with other test runs of the same inputs. ``queue`` names
    the Celery queue the job's messages go to (empty: the task's route).
    """
    model_settings = {**version.model_settings}
    # Which models could have been chosen does not change a result (the version id is hashed).
    del model_settings["allowed_models"]
    model_settings["provider"], model_settings["model"] = chosen_model(
        version, provider=provider, model=model, user=owner
    )
    if temperature is not None:
        temperature = chosen_temperature(temperature, user=owner)
        # Hashed as the version's own is (two decimals), so a run at the version's own
        # temperature shares its results, and any other temperature is told apart.
        model_settings["temperature"] = str(temperature)
    if not provider_is_available(model_settings["provider"]):
        raise SubmissionError(
            _("The provider “%(provider)s” is not configured here, so this can't run.")
            % {"provider": model_settings["provider"]},
            code="provider_unavailable",
        )
    if version.is_workflow:
        _check_step_models(version, (model_settings["provider"], model_settings["model"]), user=owner)
    try:
        system_prompt, prompt = version.render(inputs)
    except PromptRenderError as exc:
        raise SubmissionError(
            _("This template could not be filled in: %(problem)s") % {"problem": exc}, code="render_error"
        ) from None
    if "\x00" in prompt or "\x00" in system_prompt:
        # The inputs can't hold one, but the body can write one ({{ '\x00' }}), and
        # PostgreSQL stores no NUL character: say so rather than fail on the insert.
        raise SubmissionError(
            _("This template could not be filled in: it writes the NUL character (U+0000)."),
            code="render_error",
        )
    signed_in = owner is not None and owner.is_authenticated
    fields: dict[str, Any] = {
        "template_version": version,
        "owner": owner if signed_in else None,
        "session_key": "" if signed_in else session_key,
        "inputs": inputs,
        "input_hash": input_hash(
            version_id=version.pk, model_settings=model_settings, inputs=inputs, draft_run=draft_run
        ),
        "draft_run": draft_run,
        "system_prompt": system_prompt,
        "prompt": prompt,
        "provider": model_settings["provider"],
        "model": model_settings["model"],
        "idempotency_key": idempotency_key or None,
        "temperature": temperature,
        "queue": queue,
    }
    job = _answered(fields, cache=version.template.cache_results)
    if logs.request_id.get() is not None:
        logs.job_id.set(str(job.pk))  # the rest of the request's log records (reset at its end)
    telemetry.describe_span(job, **{"promptlab.cache": telemetry.cache_outcome(job)})
    return job


def _answered(fields: dict[str, Any], *, cache: bool, send: Callable[[Job], None] | None = None) -> Job:
    """The job of a submission: an answer from the cache, a follower of a running twin, or a
    leader, which ``send`` (default: ``enqueue_job``) hands to the workers once committed."""
    send = send or enqueue_job
    if not cache:
        return _create_leader(fields, active_key=None, send=send)
    for _attempt in range(3):  # a twin may finish between our lookups: look again
        if job := _answer_from_cache(fields):
            return job
        try:
            return _create_leader(fields, active_key=fields["input_hash"], send=send)
        except _TwinFinished:
            continue  # answered from its result on the next turn
        except IntegrityError:
            if job := _follow_running_twin(fields):
                return job
    return _create_leader(fields, active_key=None, send=send)


def submit_part(
    run: Job,
    *,
    step: str,
    item: int | None,
    system_prompt: str,
    prompt: str,
    model_settings: dict[str, Any],
    output: str,
    schema: Any,
    send: Callable[[Job], None],
) -> Job:
    """A workflow step's child job (jobs/workflows), by the road of any run: answered from
    the cache, following a twin running the same call, or a leader given to ``send`` (the
    orchestrator sends its new leaders as one group once its advance commits).

    Its hash is the call's own (the version, the step, the rendered prompts and the model
    settings), not the run's inputs: an identical step with identical prompts is answered
    once, within a run and across runs. The model is the step's, else the run's (which
    ``submit_generation`` checked, with every step's, before the run was made).
    """
    version = run.template_version
    provider = model_settings.get("provider") or run.provider
    model = model_settings.get("model") or run.model
    temperature = model_settings.get("temperature")
    temperature = (
        Decimal(str(temperature)).quantize(Decimal("0.01")) if temperature is not None else run.temperature
    )
    max_tokens = model_settings.get("max_tokens") or run.max_tokens
    hashed = {
        "provider": provider,
        "model": model,
        "temperature": str(temperature if temperature is not None else version.temperature),
        "max_tokens": max_tokens or version.max_tokens,
        "output": output,
        "schema": schema,
    }
    call = {"step": step, "system_prompt": system_prompt, "prompt": prompt}
    fields: dict[str, Any] = {
        "template_version": version,
        "owner_id": run.owner_id,
        "session_key": run.session_key,
        "inputs": {"step": step, "item": item},
        "input_hash": input_hash(
            version_id=version.pk, model_settings=hashed, inputs=call, draft_run=run.draft_run
        ),
        "draft_run": run.draft_run,
        "system_prompt": system_prompt,
        "prompt": prompt,
        "provider": provider,
        "model": model,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "queue": WORKFLOW_QUEUE,
        "part_of": run,
    }
    return _answered(fields, cache=version.template.cache_results, send=send)


def _check_step_models(version: TemplateVersion, chosen: tuple[str, str], *, user: Any) -> None:
    """Every prompt step of a workflow runs on a model the run may use, checked before
    anything runs: the run's own (checked by ``chosen_model``), or one the step names,
    which must have a price (or the version be written by staff), as a version's own
    model must. A step's provider must be configured here too."""
    staff = user is not None and user.is_authenticated and user.is_staff
    for step in version.step_graph.steps:
        if step.kind != "prompt":
            continue
        provider = step.model_settings.get("provider") or chosen[0]
        model = step.model_settings.get("model") or chosen[1]
        if not provider_is_available(provider):
            raise SubmissionError(
                _("The step “%(step)s” runs on the provider “%(provider)s”, which is not configured here, so "
                  "this can't run.") % {"step": step.name, "provider": provider},
                code="provider_unavailable",
            )  # fmt: skip
        if staff or (provider, model) == chosen or is_priced(provider, model) or _written_by_staff(version):
            continue
        raise SubmissionError(
            _("The step “%(step)s” runs on “%(choice)s”, which has no price on this PromptLab, so this "
              "can't run. The template's author can choose a model with a price for it.")
            % {"step": step.name, "choice": model_choice(provider, model)},
            code="model_not_priced",
            field="model",
        )  # fmt: skip


def chosen_model(
    version: TemplateVersion, *, provider: str | None, model: str | None, user: Any
) -> tuple[str, str]:
    """The (provider, model) a run uses; SubmissionError when the caller may not choose it.

    Every run spends the server's key at the model's price, so the model must have a
    known price (or be free), including the version's own: any signed-in user can
    write a template, and its own model would otherwise be an override by another
    name. A version whose author is staff may run on an unpriced model of its own,
    and so may staff (for instance to try one before it is priced). Another model than
    the version's must also be one the template's author listed (``allowed_models``).

    Checked here, when a run is asked for, rather than when a version is saved: this
    is where the key is spent, it holds whichever door wrote the version (site and
    admin editors, API, import, rows older than the rule) and whatever happened to the
    price since, and templates_app need not know about prices (jobs sits above it).
    """
    chosen = (provider or version.provider, model or version.model)
    if user is not None and user.is_authenticated and user.is_staff:
        return chosen
    entry = model_choice(*chosen)
    if chosen == (version.provider, version.model):
        if is_priced(*chosen) or _written_by_staff(version):
            return chosen
        raise SubmissionError(
            _(
                "This template runs on “%(choice)s”, which has no price on this PromptLab, so it can't "
                "run. Its author can choose a model with a price in the editor."
            )
            % {"choice": entry},
            code="model_not_priced",
            field="model",
        )
    field = "model" if model else "provider"
    own = model_choice(version.provider, version.model)
    if entry not in version.allowed_models:
        if version.allowed_models:
            message = _(
                "This template does not allow running on “%(choice)s”. It runs on its own model (%(own)s) "
                "or on one of: %(allowed)s."
            ) % {"choice": entry, "own": own, "allowed": ", ".join(version.allowed_models)}
        else:
            message = _(
                "This template does not allow running on “%(choice)s”: it runs only on its own model "
                "(%(own)s)."
            ) % {"choice": entry, "own": own}
        raise SubmissionError(message, code="model_not_allowed", field=field)
    if not is_priced(*chosen):
        raise SubmissionError(
            _("“%(choice)s” has no price on this PromptLab, so it can't be chosen for a run.")
            % {"choice": entry},
            code="model_not_priced",
            field=field,
        )
    return chosen


def chosen_temperature(value: Decimal | float | str, *, user: Any) -> Decimal:
    """A run's own temperature, within the version field's bounds; SubmissionError otherwise.

    Any signed-in caller may choose it: unlike a model, a temperature spends no other
    key and costs nothing more (the price is per token), so the author's list of models
    does not apply. Anonymous visitors run the form as its author set it.
    """
    if user is None or not user.is_authenticated:
        raise SubmissionError(
            _("Only a signed-in user can choose the temperature of a run."),
            code="temperature_not_allowed",
            field="temperature",
        )
    lowest, highest = field_bounds("temperature")
    try:
        chosen = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        chosen = None
    if chosen is None or not chosen.is_finite() or chosen < lowest or chosen > highest:
        raise SubmissionError(
            _("The temperature must be a number from %(lowest)s to %(highest)s.")
            % {"lowest": lowest, "highest": highest},
            code="invalid_temperature",
            field="temperature",
        )
    return chosen


def _written_by_staff(version: TemplateVersion) -> bool:
    """Staff wrote it, or nobody did: a version without an author was written by the
    system (migrations, seed_demo, the shell), never through a door a user can reach."""
    if version.created_by_id is None:
        return True
    return type(version).objects.filter(pk=version.pk, created_by__is_staff=True).exists()


class _TwinFinished(Exception):
    """A twin succeeded while our insert waited on its running key."""


def _answer_from_cache(fields: dict[str, Any]) -> Job | None:
    source = Job.objects.reusable_result(fields["input_hash"], settings.JOB_CACHE_TTL)
    if source is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.create(
            **fields,
            status=JobStatus.SUCCEEDED,
            cached_from=source,
            output=source.output,
            input_tokens=0,
            output_tokens=0,
            cost=0,
            started_at=now,
            finished_at=now,
        )
        UsageRollup.objects.count_jobs([job.pk])
        job_finished.send(sender=Job, job_ids=[job.pk], status=JobStatus.SUCCEEDED)
        transaction.on_commit(lambda: telemetry.answered_without_a_call(job.provider, job.model, cached=True))
    return job


def _follow_running_twin(fields: dict[str, Any]) -> Job | None:
    with transaction.atomic():
        leader = Job.objects.select_for_update().filter(active_key=fields["input_hash"]).first()
        if leader is None:
            return None
        job = Job.objects.create(**fields, leader=leader, status=leader.status, started_at=leader.started_at)
        transaction.on_commit(
            lambda: telemetry.answered_without_a_call(job.provider, job.model, cached=False)
        )
    return job


def _create_leader(fields: dict[str, Any], *, active_key: str | None, send: Callable[[Job], None]) -> Job:
    with transaction.atomic():
        job = Job.objects.create(**fields, active_key=active_key, lease_expires_at=Job.queue_deadline())
        # PostgreSQL makes an insert that collides with a running twin's key wait
        # for the twin's transaction; if that one was the twin finishing (which
        # frees the key), the insert succeeds after our cache lookup missed the
        # result. Look again, now that the result is visible: roll back, use it.
        if active_key is not None and Job.objects.reusable_result(active_key, settings.JOB_CACHE_TTL):
            raise _TwinFinished
        # After the insert, which may wait for a finishing twin (whose settlement locks the
        # budget's period row): reserving first could make the two wait on each other.
        _reserve_budget(job)
        transaction.on_commit(lambda: send(job))
    if job.status == JobStatus.FAILED:  # the queue refused it (on_commit ran already)
        raise SubmissionError(job.error_text, code=job.error_code)
    return job


def _reserve_budget(job: Job) -> None:
    """Hold the call's most on the budgets it spends from (budgets.services), or refuse it.

    Only a job that calls a model reserves: a leader. Answers from the cache and followers
    of a running twin make no call and cost nothing. A workflow run reserves per model
    call, each step's part job here, not for the whole run at its start (its parent job
    makes no call of its own)."""
    version = job.template_version
    if job.part_of_id is None and version.is_workflow:
        return
    try:
        budgets.reserve(
            job.pk,
            workspace_id=version.template.workspace_id,
            user_id=job.owner_id,
            provider=job.provider,
            model=job.model,
            prompt_tokens=budgets.estimated_prompt_tokens(job.system_prompt, job.prompt),
            max_tokens=job.run_max_tokens,
        )
    except budgets.BudgetRefused as exc:
        field = "model" if exc.code == budgets.UNPRICED else "inputs"
        raise SubmissionError(str(exc), code=exc.code, field=field, details=exc.details) from None


def cancel_job(job: Job) -> bool:
    """Cancel a queued or running job and tell its open streams; False if it had finished.

    A workflow run's active steps are cancelled with it, in the same transaction."""
    with transaction.atomic():
        if not job.cancel(send=enqueue_job):
            return False
        if job.part_of_id is None and job.steps.exists():
            workflows.cancel(job)
    publish_status(job.pk, job.attempts, JobStatus.CANCELLED, terminal=True)
    return True


def enqueue_job(job: Job) -> None:
    """Hand a committed job to the workers.

    If the broker is down the job stays queued: the database is the record, and
    the sweep sends it once its queue deadline passes (within a minute), when
    the broker answers again, rather than failing work a short outage delayed.
    """
    from .tasks import send_run

    try:
        send_run(job)
    except Exception as exc:
        logger.warning("could not enqueue job %s now (%s); the sweep will send it", job.id, exc)
