"""The GraphQL object types: what the REST API shows of the same things, read off the models.

Resolvers return model instances; each field reads the model (``display_name``,
``json_schema()``…) as the REST serializers do, never a copy of their rules.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from jobs.models import Job, JobStatus
from jobs.workflow_page import is_workflow_run, item_of, step_error, step_rows
from jobs.workflows.models import JobStep, StepStatus
from templates_app.models import Template, TemplateVersion

JobStatusEnum = strawberry.enum(
    enum.Enum("JobStatus", {status.value.upper(): status.value for status in JobStatus}),  # type: ignore[misc]
    name="JobStatus",
    description="Where a job is: queued, running, or ended (succeeded, failed, cancelled).",
)


def _user(info: Info) -> Any:
    return info.context.request.user


@strawberry.type(name="User", description="The signed-in account.")
class UserType:
    id: int
    email: str
    name: str
    plan: str
    date_joined: datetime.datetime


@strawberry.type(name="TemplateVersion", description="One immutable, numbered version of a template.")
class VersionType:
    number: int
    system_prompt: str
    body: str
    parameters: JSON = strawberry.field(description="The parameter schema.")
    steps: JSON = strawberry.field(description="A workflow's steps (as in the REST API); [] for one prompt.")
    result_step: str = strawberry.field(description="The step giving the job's output; empty: the last step.")
    created_at: datetime.datetime

    @strawberry.field
    def created_by(self, root: strawberry.Parent[TemplateVersion]) -> str | None:
        return root.created_by.email if root.created_by_id else None

    @strawberry.field
    def model_settings(self, root: strawberry.Parent[TemplateVersion]) -> JSON:
        return root.model_settings

    @strawberry.field(description="Whether the form serves this version.")
    def published(self, root: strawberry.Parent[TemplateVersion]) -> bool:
        return root.template.published_version_id == root.pk

    @strawberry.field
    def template(self, root: strawberry.Parent[TemplateVersion]) -> TemplateType:
        return root.template  # type: ignore[return-value]


@strawberry.type(name="Template", description="A prompt template you may see.")
class TemplateType:
    slug: str
    name: str
    description: str
    name_translations: JSON
    description_translations: JSON
    visibility: str
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @strawberry.field(description="The name in the request's language (Accept-Language).")
    def localized_name(self, root: strawberry.Parent[Template]) -> str:
        return root.display_name

    @strawberry.field(description="The description in the request's language.")
    def localized_description(self, root: strawberry.Parent[Template]) -> str:
        return root.display_description

    @strawberry.field
    def owner(self, root: strawberry.Parent[Template]) -> str | None:
        return root.owner.email if root.owner_id else None

    @strawberry.field
    def tags(self, root: strawberry.Parent[Template]) -> list[str]:
        return sorted((tag.name for tag in root.tags.all()), key=str.casefold)

    @strawberry.field(description="The published version's number.")
    def version(self, root: strawberry.Parent[Template]) -> int | None:
        return root.published_version.number if root.published_version_id else None

    @strawberry.field(description="The JSON Schema of the inputs, as GET templates/{slug}/schema.")
    def input_schema(self, root: strawberry.Parent[Template]) -> JSON:
        if root.published_version is None:
            return {"type": "object", "properties": {}}
        return root.published_version.schema.json_schema()

    @strawberry.field(
        description="Newest first: every version for those who manage the template, else the published one."
    )
    def versions(self, root: strawberry.Parent[Template], info: Info) -> list[VersionType]:
        versions = root.versions.visible_to(_user(info)).select_related("created_by", "template")
        return list(versions.order_by("-number"))  # type: ignore[arg-type]


StepStatusEnum = strawberry.enum(
    enum.Enum("StepStatus", {status.value.upper(): status.value for status in StepStatus}),  # type: ignore[misc]
    name="StepStatus",
    description="Where a workflow step is: waiting, running, or ended (skipped, succeeded, failed, "
    "cancelled).",
)


@strawberry.type(name="JobStep", description="One step of a workflow run, or one item of a for_each step.")
class JobStepType:
    name: str
    output: str
    output_data: JSON | None = strawberry.field(
        description="Parsed JSON output, a transform's value, or the items' outputs."
    )
    error_code: str
    input_tokens: int | None
    output_tokens: int | None
    cost: decimal.Decimal | None
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None

    @strawberry.field
    def status(self, root: strawberry.Parent[JobStep]) -> StepStatusEnum:  # type: ignore[valid-type]
        return StepStatusEnum(root.status)

    @strawberry.field(description="The item's index in a for_each step; null: the step as a whole.")
    def item(self, root: strawberry.Parent[JobStep]) -> int | None:
        return item_of(root)

    @strawberry.field(description="The step's error, for people; empty if none.")
    def error(self, root: strawberry.Parent[JobStep]) -> str:
        return step_error(root)

    @strawberry.field(description="The id of the step's own job (a prompt step's call).")
    def job(self, root: strawberry.Parent[JobStep]) -> uuid.UUID | None:
        return root.job_id


@strawberry.type(name="JobError")
class JobErrorType:
    code: str
    message: str


@strawberry.type(name="Job", description="One run of a template.")
class JobType:
    id: uuid.UUID
    provider: str
    model: str
    inputs: JSON
    output: str
    attempts: int
    input_tokens: int | None
    output_tokens: int | None
    cost: decimal.Decimal | None
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    first_token_at: datetime.datetime | None
    finished_at: datetime.datetime | None

    @strawberry.field
    def status(self, root: strawberry.Parent[Job]) -> JobStatusEnum:  # type: ignore[valid-type]
        return JobStatusEnum(root.status)

    @strawberry.field(
        description="Who ran it: you, or a fellow member of a workspace that shares its jobs (read-only)."
    )
    def run_by(self, root: strawberry.Parent[Job]) -> str | None:
        return root.owner.email if root.owner_id else None

    @strawberry.field(description="The template's slug (the template may since be gone or hidden).")
    def template_slug(self, root: strawberry.Parent[Job]) -> str:
        return root.template_version.template.slug

    @strawberry.field(description="The template, while you may still see it.")
    def template(self, root: strawberry.Parent[Job], info: Info) -> TemplateType | None:
        template = root.template_version.template
        visible = Template.objects.visible_to(_user(info)).filter(pk=template.pk).exists()
        return template if visible else None  # type: ignore[return-value]

    @strawberry.field(description="The version's number.")
    def template_version(self, root: strawberry.Parent[Job]) -> int:
        return root.template_version.number

    @strawberry.field(description="Answered from an identical recent result, or following a twin.")
    def cached(self, root: strawberry.Parent[Job]) -> bool:
        return root.cached_from_id is not None or root.leader_id is not None

    @strawberry.field(
        description="A workflow run's steps in graph order (a for_each step before its items); [] for a job."
    )
    def steps(self, root: strawberry.Parent[Job]) -> list[JobStepType]:
        return step_rows(root) if is_workflow_run(root) else []  # type: ignore[return-value]

    @strawberry.field
    def error(self, root: strawberry.Parent[Job]) -> JobErrorType | None:
        if not root.error_code:
            return None
        return JobErrorType(code=root.error_code, message=root.error_text)


@strawberry.type(name="JobPage", description="A page of jobs, newest first, as GET jobs pages them.")
class JobPage:
    results: list[JobType]
    next_cursor: str | None = strawberry.field(description="Pass as `cursor` for the next page.")
    previous_cursor: str | None = strawberry.field(description="Pass as `cursor` for the page before.")


__all__ = [
    "JobErrorType",
    "JobPage",
    "JobStatusEnum",
    "JobType",
    "TemplateType",
    "TemplateVersion",
    "UserType",
]
