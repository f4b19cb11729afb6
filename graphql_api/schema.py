"""The GraphQL schema: queries and ``generate`` for everyone, one typed ``generate<Template>``
field per template the caller may run.

**Why a schema per visibility set.** The typed fields name templates and show their
parameters, so a schema listing every runnable template would leak private templates'
names and schemas to anyone who introspects it. Each caller gets the schema of exactly
the templates they may run (``Template.objects.visible_to(user).runnable()``); callers
who may run the same templates share one.

**Why it changes at once, everywhere, without a generation counter.** The schema is
keyed by what it is built from: the request's language and, for each template the
caller may run, its id, its published version's id and its ``updated_at``. Versions are
immutable, so a key names one schema for good. Every request reads that key (one
indexed query of three columns per runnable template); publishing a version, changing
a template's visibility or deleting it changes the key for the next request in every
process, with no signal, counter or cache entry that a write could forget to bump.
Built schemas are kept per process in a bounded LRU (``GRAPHQL_SCHEMA_CACHE_SIZE``);
an evicted or stale one is simply never asked for again.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import strawberry
from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils import translation
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.scalars import JSON
from strawberry.types import Info

from jobs.api.serializers import GenerateSerializer
from jobs.api.views import filter_jobs
from jobs.models import Job
from jobs.services import SubmissionError, submit_generation
from jobs.waiting import wait_for_job
from promptlab.api import NewestFirstCursorPagination
from templates_app.forms import TemplateListFilter, parameter_form_class
from templates_app.models import Template, TemplateVersion

from .errors import PublicError, from_drf, invalid, not_found
from .inputs import input_type, pascal_case
from .types import JobPage, JobStatusEnum, JobType, TemplateType, UserType, VersionType

SchemaKey = tuple[str, tuple[tuple[int, int, datetime.datetime], ...]]


def _user(info: Info) -> Any:
    return info.context.request.user


def _visible_templates(info: Info) -> Any:
    return Template.objects.visible_to(_user(info)).select_related("published_version", "owner")


def _job_page(info: Info, jobs: Any, cursor: str | None, page_size: int | None) -> JobPage:
    """The REST list's cursor pagination itself (DRF's paginator on the same ordering and
    page sizes): a cursor from one road works on the other."""
    query = QueryDict(mutable=True)
    if cursor is not None:
        query["cursor"] = cursor
    if page_size is not None:
        query["page_size"] = str(page_size)
    request = HttpRequest()
    request.method = "GET"
    request.GET = query
    request.META = info.context.request.META
    request.path = request.path_info = "/api/v1/jobs"
    paginator = NewestFirstCursorPagination()
    try:
        results = paginator.paginate_queryset(jobs, Request(request))
    except drf_exceptions.ValidationError as exc:
        raise from_drf(exc.detail) from None
    except drf_exceptions.NotFound:  # DRF's answer to a cursor it can't read
        raise invalid({"cursor": [_("Invalid cursor.")]}) from None

    def cursor_of(link: str | None) -> str | None:
        return parse_qs(urlsplit(link).query).get("cursor", [None])[0] if link else None

    return JobPage(
        results=results,  # type: ignore[arg-type]
        next_cursor=cursor_of(paginator.get_next_link()),
        previous_cursor=cursor_of(paginator.get_previous_link()),
    )


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in account.")
    def me(self, info: Info) -> UserType:
        return _user(info)

    @strawberry.field(description="The templates you may see, by name; `q` and `tag` as on the site's lists.")
    def templates(self, info: Info, q: str | None = None, tag: str | None = None) -> list[TemplateType]:
        filters = TemplateListFilter({"q": q or "", "tag": tag or ""})
        if not filters.is_valid():
            raise invalid({name: list(messages) for name, messages in filters.errors.items()})
        templates = filters.apply(_visible_templates(info).prefetch_related("tags").order_by("name"))
        return list(templates)

    @strawberry.field(description="A template you may see, by slug (null otherwise).")
    def template(self, info: Info, slug: str) -> TemplateType | None:
        return _visible_templates(info).prefetch_related("tags").filter(slug=slug).first()

    @strawberry.field(description="A template's versions, as `Template.versions`.")
    def versions(self, info: Info, slug: str) -> list[VersionType]:
        template = _visible_templates(info).filter(slug=slug).first()
        if template is None:
            raise not_found()
        return TemplateType.versions(template, template, info)  # type: ignore[arg-type]

    @strawberry.field(
        description=(
            "Your jobs (and those a workspace of yours shares with its members), newest first: "
            "the filters and cursor pagination of GET jobs."
        )
    )
    def jobs(
        self,
        info: Info,
        status: JobStatusEnum | None = None,  # type: ignore[valid-type]
        template: str | None = None,
        q: str | None = None,
        created_after: datetime.datetime | None = None,
        created_before: datetime.datetime | None = None,
        cursor: str | None = None,
        page_size: int | None = None,
    ) -> JobPage:
        params = {
            "status": status.value if status is not None else None,
            "template": template,
            "q": q,
            "created_after": created_after.isoformat() if created_after else None,
            "created_before": created_before.isoformat() if created_before else None,
        }
        jobs = (
            Job.objects.runs()
            .visible_to(_user(info), None)
            .select_related("template_version__template", "owner")
        )
        try:
            jobs = filter_jobs(jobs, {name: value for name, value in params.items() if value is not None})
        except drf_exceptions.ValidationError as exc:
            raise from_drf(exc.detail) from None
        return _job_page(info, jobs, cursor, page_size)

    @strawberry.field(description="One of the jobs you may see (null if there is none with this id).")
    def job(self, info: Info, id: uuid.UUID) -> JobType | None:  # noqa: A002 - GraphQL's name
        jobs = Job.objects.visible_to(_user(info), None).select_related("template_version__template", "owner")
        return jobs.filter(pk=id).first()


def generate_job(
    info: Info,
    slug: str,
    inputs: Any,
    provider: str | None = None,
    model: str | None = None,
    wait: float | None = None,
) -> Job:
    """Run a template for the caller: the REST generate's road (its request checks, the
    form class's validation, ``submit_generation``), with errors as GraphQL errors."""
    user = _user(info)
    template = Template.objects.visible_to(user).select_related("published_version").filter(slug=slug).first()
    if template is None:
        raise not_found()
    body = {"inputs": inputs}
    body.update(
        {
            name: value
            for name, value in (("provider", provider), ("model", model), ("wait", wait))
            if value is not None
        }
    )
    payload = GenerateSerializer(data=body)
    if not payload.is_valid():
        raise from_drf(payload.errors)
    version = template.published_version
    if version is None:
        raise invalid({"template": [_("This template has no published version.")]})
    version.template = template
    cleaned, errors = parameter_form_class(version, get_language()).validate_json(
        payload.validated_data["inputs"]
    )
    if cleaned is None:
        raise invalid(errors, prefix="inputs.")
    try:
        job = submit_generation(
            version,
            cleaned,
            owner=user,
            provider=payload.validated_data.get("provider"),
            model=payload.validated_data.get("model"),
        )
    except SubmissionError as exc:
        if exc.code == "provider_unavailable":
            raise PublicError(str(exc), "provider_unavailable") from None
        raise invalid({exc.field: [str(exc)]}) from None
    if (seconds := payload.validated_data.get("wait")) is not None:
        job = wait_for_job(job, seconds)
    return job


PROVIDER_HELP = "Run on another model than the template's: one its allowed_models lists (as in REST)."
WAIT_HELP = "Wait up to this many seconds (0 to 60) for the job to end before answering."


def _generate(
    info: Info,
    template: str,
    inputs: JSON,
    provider: str | None = None,
    model: str | None = None,
    wait: float | None = None,
) -> JobType:
    return generate_job(info, template, inputs, provider, model, wait)  # type: ignore[return-value]


def _typed_generate(
    slug: str, input_cls: type, to_inputs: Callable[[Any], dict[str, Any]]
) -> Callable[..., Any]:
    def resolve(
        info: Info,
        inputs: Any,
        provider: str | None = None,
        model: str | None = None,
        wait: float | None = None,
    ) -> JobType:
        return generate_job(info, slug, to_inputs(inputs), provider, model, wait)  # type: ignore[return-value]

    resolve.__annotations__ = {**resolve.__annotations__, "inputs": input_cls}
    return resolve


def _mutation_fields(versions: list[TemplateVersion], language: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "generate": strawberry.mutation(
            resolver=_generate,
            description="Run a template you may run on inputs given as JSON (validated as in REST).",
        )
    }
    taken: set[str] = set()
    for version in versions:
        template = version.template
        stem = pascal_case(template.slug)
        name, n = stem, 2
        while name in taken:  # "a-b" and "a_b" both read AB
            name, n = f"{stem}{n}", n + 1
        taken.add(name)
        input_cls, to_inputs = input_type(version, name, language)
        fields[f"generate_{len(taken)}"] = strawberry.mutation(
            resolver=_typed_generate(template.slug, input_cls, to_inputs),
            name=f"generate{name}",
            description=template.localized_description(language) or template.localized_name(language),
        )
    return fields


class Schema(strawberry.Schema):
    """Logs only what went wrong on our side: a client's bad query or input is not an error here."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        unexpected = [
            error
            for error in errors
            if error.original_error is not None and not isinstance(error.original_error, GraphQLError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def _should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def build_schema(versions: list[TemplateVersion], language: str) -> Schema:
    with translation.override(language):
        mutation = strawberry.type(type("Mutation", (), _mutation_fields(versions, language)))
        # Factories: strawberry builds each extension afresh for every request.
        extensions: list[Any] = [
            partial(QueryDepthLimiter, max_depth=settings.GRAPHQL_MAX_DEPTH),
            partial(MaxTokensLimiter, max_token_count=settings.GRAPHQL_MAX_TOKENS),
            partial(MaxAliasesLimiter, max_alias_count=settings.GRAPHQL_MAX_ALIASES),
            # A schema is built per language: the message is in the request's.
            partial(
                MaskErrors,
                should_mask_error=_should_mask,
                error_message=_("Something went wrong on our side."),
            ),
        ]
        if not settings.GRAPHQL_INTROSPECTION:
            extensions.append(partial(AddValidationRules, [NoSchemaIntrospectionCustomRule]))
        return Schema(query=Query, mutation=mutation, extensions=extensions)


class SchemaCache:
    """Built schemas by key, the least recently used dropped beyond ``size``."""

    def __init__(self) -> None:
        self._schemas: OrderedDict[SchemaKey, Schema] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: SchemaKey, build: Callable[[], Schema]) -> Schema:
        with self._lock:
            if (schema := self._schemas.get(key)) is not None:
                self._schemas.move_to_end(key)
                return schema
        schema = build()  # outside the lock: two threads may build the same one, once each
        with self._lock:
            self._schemas[key] = schema
            while len(self._schemas) > settings.GRAPHQL_SCHEMA_CACHE_SIZE:
                self._schemas.popitem(last=False)
        return schema

    def clear(self) -> None:
        with self._lock:
            self._schemas.clear()


schemas = SchemaCache()


def schema_for(user: Any) -> Schema:
    """The schema for this caller, in the active language (see the module's docstring)."""
    language = get_language() or settings.LANGUAGE_CODE
    rows = tuple(
        Template.objects.visible_to(user)
        .runnable()
        .order_by("slug")
        .values_list("pk", "published_version_id", "updated_at")
    )
    key: SchemaKey = (language, rows)

    def build() -> Schema:
        # Versions are immutable: the ids in the key name exactly what is built here.
        versions = TemplateVersion.objects.filter(pk__in=[version for _pk, version, _at in rows])
        ordered = sorted(versions.select_related("template"), key=lambda version: version.template.slug)
        return build_schema(ordered, language)

    return schemas.get(key, build)
