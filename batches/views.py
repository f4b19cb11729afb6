"""The batch pages: upload, sheet and column steps, review, the batch with its live
progress and rows, the comparison matrix, "run on several models", and the list.

Every page works without JavaScript (forms and links; a running batch's page reloads
itself from a <noscript> refresh); with it, htmx swaps the progress fragment from the
event stream (or polls it without Redis) and refreshes the rows table.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs.streaming import streaming_enabled
from promptlab import ratelimits
from templates_app.forms import parameter_form_class, run_form_context
from templates_app.models import Template

from . import drafts, services
from .forms import BatchUploadForm, DiffForm, MappingForm, RowStatusFilter, SheetForm, configuration_formset
from .matrix import comparison_totals, matrix_lines, word_diff_between
from .models import Batch, BatchRow, BatchState
from .progress_stream import PageProgress, progress_stream_response
from .results import EXPORTS, results_response

ROWS_PER_PAGE = 25
BATCHES_PER_PAGE = 25
MATRIX_ROWS_PER_PAGE = 20
ERRORS_SHOWN = 100


def _batch_for_user(request: HttpRequest, batch_id: UUID) -> Batch:
    """The signed-in user's own batch; a 404 for anyone else's."""
    return get_object_or_404(Batch.objects.owned_by(request.user).select_related("template"), pk=batch_id)


def _draft_for_user(request: HttpRequest, batch_id: UUID) -> Batch:
    batch = _batch_for_user(request, batch_id)
    if batch.state != BatchState.DRAFT:
        raise Http404
    return batch


def _runnable_template(request: HttpRequest, slug: str) -> Template:
    return get_object_or_404(
        Template.objects.visible_to(request.user).runnable().select_related("published_version"), slug=slug
    )


def _error_context(*forms: Any, extra: list[str] | None = None) -> dict[str, Any]:
    """The error summary over several forms (a formset's forms included)."""
    flat: list[Any] = []
    for form in forms:
        if hasattr(form, "forms"):  # a formset: its own errors, then each form's
            flat.append(_FormsetErrors(form))
            flat.extend(form.forms)
        else:
            flat.append(form)
    has_errors = bool(extra) or any(form.errors for form in flat)
    return {"forms": flat, "has_errors": has_errors, "extra_errors": extra or []}


class _FormsetErrors:
    """A formset's own errors (not its forms'), as the error summary reads a form's."""

    def __init__(self, formset: Any) -> None:
        self._errors = list(formset.non_form_errors()) if formset.is_bound else []

    @property
    def errors(self) -> list[str]:
        return self._errors

    def non_field_errors(self) -> list[str]:
        return self._errors

    def __iter__(self) -> Any:
        return iter(())


# --- Starting a batch: upload, sheet, columns, review -------------------------------


@login_required
@ratelimits.limit_posts("runs")
@require_http_methods(["GET", "POST"])
def new_batch(request: HttpRequest, slug: str) -> HttpResponse:
    """Upload a file (or paste rows), optionally with configurations to compare; the
    rows are checked before anything runs."""
    template = _runnable_template(request, slug)
    limits = services.limits_for(request.user)
    form = BatchUploadForm(
        request.POST or None, request.FILES or None, max_concurrency=limits.max_concurrency
    )
    configurations = configuration_formset(template, request.user, request.POST or None)
    extra: list[str] = []
    status = 200
    if request.method == "POST":
        if request.rate_limit.exceeded:
            status = 429
            extra.append(
                _("You have run templates too often. Try again in %(seconds)d seconds.")
                % {"seconds": max(request.rate_limit.reset, 1)}
            )
        elif form.is_valid() & configurations.is_valid():
            try:
                batch = drafts.draft_from_upload(
                    template,
                    request.user,
                    upload=form.cleaned_data["file"],
                    pasted=form.cleaned_data["rows"],
                    configurations=configurations.configurations(),
                    concurrency=form.cleaned_data["concurrency"],
                    rows_per_minute=form.cleaned_data["rows_per_minute"],
                    language=translation.get_language(),
                )
            except drafts.UploadRefused as exc:
                form.add_error("rows" if form.cleaned_data["rows"] else "file", exc.message)
            except services.BatchError as exc:
                extra.append(exc.message)
            else:
                return redirect(drafts.next_step_url(batch))
    context = {
        "template": template,
        "form": form,
        "configurations": configurations,
        "configurations_open": configurations.is_bound and any(f.has_changed() for f in configurations.forms),
        "parameters": drafts.parameter_columns(template.published_version, translation.get_language()),
        **_error_context(form, configurations, extra=extra),
    }
    return render(request, "batches/new.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def choose_sheet(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _draft_for_user(request, batch_id)
    sheets = drafts.sheets_of(batch)
    form = SheetForm(request.POST or None, sheets=sheets, initial={"sheet": batch.sheet or None})
    if request.method == "POST" and form.is_valid():
        try:
            drafts.recheck(batch, sheet=form.cleaned_data["sheet"], language=translation.get_language())
        except drafts.UploadRefused as exc:
            form.add_error("sheet", exc.message)
        else:
            return redirect(drafts.next_step_url(batch))
    return render(request, "batches/sheet.html", {"batch": batch, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def map_columns(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _draft_for_user(request, batch_id)
    language = translation.get_language()
    step = drafts.mapping_step(batch, language)
    form = MappingForm(
        request.POST or None, headers=step.headers, parameters=step.choices, mapping=step.mapping
    )
    if request.method == "POST" and form.is_valid():
        try:
            drafts.recheck(batch, mapping=form.mapping(), language=language)
        except drafts.UploadRefused as exc:
            form.add_error(None, exc.message)
        else:
            return redirect(drafts.next_step_url(batch))
    context = {"batch": batch, "form": form, "missing": step.missing_labels}
    return render(request, "batches/mapping.html", context)


@login_required
@require_GET
def review_batch(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """What the check found: the errors by row and column, the estimate, and the button
    that runs the valid rows."""
    batch = _batch_for_user(request, batch_id)
    if batch.state != BatchState.DRAFT:
        return redirect(batch)
    if (step := drafts.next_step_url(batch)) != request.path:
        return redirect(step)
    errors = batch.errors[:ERRORS_SHOWN]
    context = {
        "batch": batch,
        "errors": errors,
        "errors_hidden": len(batch.errors) - len(errors),
        "estimate": drafts.estimate_for(batch),
    }
    return render(request, "batches/review.html", context)


@login_required
@require_GET
def download_errors(request: HttpRequest, batch_id: UUID) -> StreamingHttpResponse:
    batch = _draft_for_user(request, batch_id)
    response = StreamingHttpResponse(drafts.errors_csv(batch), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="errors.csv"'
    return response


@login_required
@ratelimits.limit_posts("runs")
@require_POST
def start_batch(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """Run the draft's valid rows (read from its file again)."""
    batch = _batch_for_user(request, batch_id)
    if batch.state != BatchState.DRAFT:
        return redirect(batch)  # started already (a second click): its page
    if request.rate_limit.exceeded:
        messages.error(
            request,
            _("You have run templates too often. Try again in %(seconds)d seconds.")
            % {"seconds": max(request.rate_limit.reset, 1)},
        )
        return redirect("batches:review", batch.pk)
    try:
        batch = drafts.start(batch, translation.get_language())
    except (services.BatchError, drafts.UploadRefused) as exc:
        messages.error(request, exc.message)
        return redirect("batches:review", batch.pk)
    return redirect(batch)


@login_required
@ratelimits.limit_posts("runs")
@require_http_methods(["GET", "POST"])
def compare_models(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Run on several models": the template's form once, under two to four
    configurations, as a one-row comparison. The form page's "Run on several models"
    button posts its filled form here (``compare_step`` absent): shown filled, the
    configurations to choose."""
    template = _runnable_template(request, slug)
    language = translation.get_language()
    form_class = parameter_form_class(
        template.published_version, language, settable_hidden=template.allow_prefill_hidden
    )
    submitted = request.method == "POST" and request.POST.get("compare_step") == "run"
    if request.method == "POST" and not submitted:
        # From the form page: its values, checked only once the configurations are chosen.
        form = form_class.from_query(request.POST)
        configurations = configuration_formset(template, request.user, minimum=2)
    else:
        form = form_class(request.POST or None, request.FILES or None)
        configurations = configuration_formset(template, request.user, request.POST or None, minimum=2)
    extra: list[str] = []
    if submitted:
        if request.rate_limit.exceeded:
            extra.append(
                _("You have run templates too often. Try again in %(seconds)d seconds.")
                % {"seconds": max(request.rate_limit.reset, 1)}
            )
        elif form.is_valid() & configurations.is_valid():
            try:
                batch = services.create_batch(
                    template,
                    request.user,
                    [(1, form.cleaned_data, drafts.form_source(form))],
                    configurations=configurations.configurations(),
                    columns=list(form.fields),
                    source_name=_("form"),
                )
            except services.BatchError as exc:
                extra.append(exc.message)
            else:
                return redirect("batches:compare", batch.pk)
    context = {
        **run_form_context(template, form, language),
        "configurations": configurations,
        **(_error_context(form, configurations, extra=extra) if submitted else _error_context()),
    }
    return render(request, "batches/compare_models.html", context)


# --- A batch ------------------------------------------------------------------------


def _rows_page(request: HttpRequest, batch: Batch) -> tuple[Any, RowStatusFilter, str]:
    status_filter = RowStatusFilter(request.GET)
    rows: QuerySet[BatchRow] = status_filter.apply(
        batch.rows.select_related("job", "configuration")
        .defer("job__prompt", "job__system_prompt", "job__inputs")
        .order_by("number", "configuration__position")
    )
    page = Paginator(rows, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, status_filter, query.urlencode()


def _batch_context(request: HttpRequest, batch: Batch) -> dict[str, Any]:
    configurations = list(batch.configurations.order_by("position"))
    page, status_filter, filter_query = _rows_page(request, batch)
    rows_query = request.GET.urlencode()
    return {
        "batch": batch,
        "configurations": configurations,
        "is_compare": len(configurations) > 1,
        "downloads": EXPORTS.values(),
        "streaming": streaming_enabled(),
        "page": page,
        "status_filter": status_filter,
        "filter_query": filter_query,
        "rows_query": rows_query,
    }


@login_required
@require_GET
def batch_detail(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch_for_user(request, batch_id)
    if batch.state == BatchState.DRAFT:
        return redirect("batches:review", batch.pk)
    return render(request, "batches/detail.html", _batch_context(request, batch))


@login_required
@require_GET
def batch_progress(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """The progress fragment, polled by the page without Redis."""
    batch = _batch_for_user(request, batch_id)
    context = {
        "batch": batch,
        "is_compare": batch.is_comparison,
        "downloads": EXPORTS.values(),
        "streaming": False,
        "live_update": True,
    }
    return render(request, "batches/detail.html#progress", context)


@login_required
@require_GET
def batch_rows(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """The rows table: the fragment for htmx, the whole page otherwise."""
    batch = _batch_for_user(request, batch_id)
    context = _batch_context(request, batch)
    if request.htmx:
        return render(request, "batches/detail.html#rows", context)
    return render(request, "batches/detail.html", context)


async def batch_events(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """Server-Sent Events for the batch page: the progress fragment, rendered, each time
    the counters change (served under ASGI; access checked once, when the stream opens)."""
    if not streaming_enabled():
        raise Http404
    user = await request.auser()
    batch = await Batch.objects.owned_by(user).filter(pk=batch_id).afirst()
    if batch is None:
        raise Http404
    is_compare = await batch.configurations.acount() > 1
    context = {
        "csrf_token": get_token(request),
        "downloads": list(EXPORTS.values()),
        "is_compare": is_compare,
    }
    formatter = PageProgress(translation.get_language(), context)
    return progress_stream_response(batch, request.headers.get("Last-Event-ID"), formatter)


@login_required
@require_POST
def cancel_batch(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch_for_user(request, batch_id)
    if services.cancel_batch(batch):
        messages.success(request, _("The batch was cancelled: its queued rows will not run."))
    else:
        messages.info(request, _("The batch had already ended."))
    return redirect(batch)


@login_required
@ratelimits.limit_posts("runs")
@require_POST
def retry_batch(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch_for_user(request, batch_id)
    if request.rate_limit.exceeded:
        messages.error(
            request,
            _("You have run templates too often. Try again in %(seconds)d seconds.")
            % {"seconds": max(request.rate_limit.reset, 1)},
        )
        return redirect(batch)
    try:
        retried = services.retry_failed(batch)
    except services.BatchError as exc:  # the template can no longer run for this person
        messages.error(request, exc.message)
    else:
        if retried:
            messages.success(
                request,
                translation.ngettext(
                    "%(count)d failed row runs again.", "%(count)d failed rows run again.", retried
                )
                % {"count": retried},
            )
        else:
            messages.info(request, _("No row had failed."))
    return redirect(batch)


@login_required
@require_GET
def download_results(request: HttpRequest, batch_id: UUID, extension: str) -> StreamingHttpResponse:
    batch = _batch_for_user(request, batch_id)
    export = EXPORTS.get(extension)
    if export is None or batch.state == BatchState.DRAFT:
        raise Http404
    return results_response(batch, export, request.build_absolute_uri)


@login_required
@require_GET
def compare_matrix(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """One row per input, one column per configuration; totals; a word diff of two answers."""
    batch = _batch_for_user(request, batch_id)
    if batch.state == BatchState.DRAFT:
        return redirect("batches:review", batch.pk)
    configurations = list(batch.configurations.order_by("position"))
    numbers = batch.rows.order_by("number").values_list("number", flat=True).distinct()
    page = Paginator(numbers, MATRIX_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    diff_form = DiffForm(request.GET if "first_row" in request.GET else None, configurations=configurations)
    diff = diff_a = diff_b = None
    if diff_form.is_bound and diff_form.is_valid():
        found = word_diff_between(batch, configurations, diff_form.cleaned_data)
        if found is None:
            diff_form.add_error(None, _("One of the two answers does not exist (yet)."))
        else:
            diff, diff_a, diff_b = found
    elif not diff_form.is_bound and len(configurations) > 1:
        diff_form = DiffForm(
            initial={"first_row": 1, "second_row": 1, "first": "0", "second": "1"},
            configurations=configurations,
        )
    context = {
        "batch": batch,
        "configurations": configurations,
        "totals": comparison_totals(batch, configurations),
        "matrix": matrix_lines(batch, configurations, list(page.object_list)),
        "page": page,
        "diff_form": diff_form,
        "diff": diff,
        "diff_a": diff_a,
        "diff_b": diff_b,
    }
    return render(request, "batches/compare.html", context)


@login_required
@require_GET
def batch_list(request: HttpRequest) -> HttpResponse:
    batches = Batch.objects.owned_by(request.user).select_related("template")
    page = Paginator(batches, BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "batches/list.html", {"page": page})
