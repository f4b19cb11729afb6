"""Workspaces came in with a data migration that moves every owned template into its
owner's personal workspace (templates_app 0009). A database made before workspaces
existed migrates forward with each person seeing, managing and running exactly what they
did: the templates, the versions and the jobs. The rule before workspaces is written out
here, on the models as they were; the rule after is today's code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F, Q

from accounts.models import User
from jobs.models import Job
from templates_app.models import Template, TemplateVersion
from workspaces.models import Membership, Role, Workspace

# The schema just before workspaces: templates_app without its workspace, and no
# workspaces app (with whatever came to depend on it).
BEFORE_WORKSPACES = [("templates_app", "0007_templateversion_steps"), ("workspaces", None)]
VISIBILITIES = ("private", "signed_in", "public")
SESSIONS = ("visitor-one", "visitor-two")


def migrate(targets: list[tuple[str, str | None]] | None = None) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()
    return MigrationExecutor(connection)  # its loader reads what is applied now


def historical_apps(executor: MigrationExecutor) -> Any:
    # The models as the applied migrations leave them (not as one node's ancestors:
    # jobs stays at its newest migration while templates_app goes back).
    return executor._create_project_state(with_applied_migrations=True).apps


def make_old_data(apps: Any) -> None:
    """People, templates of every visibility (owned, shipped and deleted), published and
    draft versions, and jobs by each person and by two visitors, on the old schema."""
    HistoricalUser = apps.get_model("accounts", "User")
    HistoricalTemplate = apps.get_model("templates_app", "Template")
    Version = apps.get_model("templates_app", "TemplateVersion")
    HistoricalJob = apps.get_model("jobs", "Job")
    people = [
        HistoricalUser.objects.create(email=f"{name}@example.com", password="!", name=name.title())
        for name in ("alice", "bob", "carol")
    ]
    people.append(HistoricalUser.objects.create(email="staff@example.com", password="!", is_staff=True))
    authors = [people[0], people[1], people[3], None]  # carol made nothing; None: shipped
    templates = []
    for author in authors:
        for visibility in VISIBILITIES:
            for kind in ("published", "draft-only", "deleted", "with-draft"):
                slug = f"{author.email.partition('@')[0] if author else 'shipped'}-{visibility}-{kind}"
                template = HistoricalTemplate.objects.create(
                    slug=slug,
                    name=slug,
                    owner=author,
                    visibility=visibility,
                    deleted_at=datetime(2026, 11, 1, tzinfo=UTC) if kind == "deleted" else None,
                )
                first = Version.objects.create(template=template, number=1, body="v1", created_by=author)
                if kind != "draft-only":
                    template.published_version = first
                    template.save(update_fields=["published_version"])
                if kind == "with-draft":
                    Version.objects.create(template=template, number=2, body="v2", created_by=author)
                templates.append(template)
    runners = [*people, None]
    for number, template in enumerate(templates):
        version = Version.objects.filter(template=template).order_by("number").first()
        for runner_number, runner in enumerate(runners):
            if (number + runner_number) % 3:
                continue  # not everyone ran everything
            HistoricalJob.objects.create(
                template_version=version,
                owner=runner,
                session_key="" if runner else SESSIONS[number % 2],
                inputs={},
                input_hash=f"{number}-{runner_number}",
                prompt="p",
                provider="offline",
                model="offline-echo",
            )


def _signed_in(user: Any) -> bool:
    return user is not None and not isinstance(user, AnonymousUser)


def old_rule(apps: Any, user: Any, session_key: str | None) -> dict[str, set[Any]]:
    """Who saw what before workspaces, as the code then said it: a template was its
    owner's to manage (and staff's), visible to its owner or by its visibility."""
    HistoricalTemplate = apps.get_model("templates_app", "Template")
    Version = apps.get_model("templates_app", "TemplateVersion")
    HistoricalJob = apps.get_model("jobs", "Job")
    live = HistoricalTemplate.objects.filter(deleted_at__isnull=True)
    if _signed_in(user):
        visible = live.filter(Q(visibility__in=["public", "signed_in"]) | Q(owner_id=user.pk))
        managed = (
            HistoricalTemplate.objects.all()
            if user.is_staff
            else HistoricalTemplate.objects.filter(owner_id=user.pk)
        )
        jobs = HistoricalJob.objects.filter(owner_id=user.pk)
    else:
        visible = live.filter(visibility="public")
        managed = HistoricalTemplate.objects.none()
        jobs = (
            HistoricalJob.objects.filter(owner__isnull=True, session_key=session_key)
            if session_key
            else HistoricalJob.objects.none()
        )
    live_versions = Version.objects.filter(template__deleted_at__isnull=True)
    published = Q(template__published_version=F("pk"), template__in=visible)
    if _signed_in(user) and user.is_staff:
        versions = live_versions
    elif _signed_in(user):
        versions = live_versions.filter(published | Q(template__owner_id=user.pk))
    else:
        versions = live_versions.filter(published)
    return {
        "templates": set(visible.values_list("pk", flat=True)),
        "managed": set(managed.values_list("pk", flat=True)),
        "versions": set(versions.values_list("pk", flat=True)),
        "jobs": set(jobs.values_list("pk", flat=True)),
    }


def new_rule(user: Any, session_key: str | None) -> dict[str, set[Any]]:
    managed = set(Template.all_objects.managed_by(user).values_list("pk", flat=True))
    # The one-template check says the same as the queryset.
    assert {t.pk for t in Template.all_objects.all() if t.is_managed_by(user)} == managed
    return {
        "templates": set(Template.objects.visible_to(user).values_list("pk", flat=True)),
        "managed": managed,
        "versions": set(TemplateVersion.objects.visible_to(user).values_list("pk", flat=True)),
        "jobs": set(Job.objects.visible_to(user, session_key).values_list("pk", flat=True)),
    }


def viewers_of(users: list[Any]) -> list[tuple[str, Any, str | None]]:
    signed_in = [(user.email, user, None) for user in users]
    return [
        *signed_in,
        *[(f"visitor {key}", AnonymousUser(), key) for key in SESSIONS],
        ("nobody", AnonymousUser(), None),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_workspaces_keeps_who_sees_and_manages_what() -> None:
    try:
        old_apps = historical_apps(migrate(BEFORE_WORKSPACES))
        assert "workspace" not in {
            f.name for f in old_apps.get_model("templates_app", "Template")._meta.fields
        }
        make_old_data(old_apps)
        old_users = list(old_apps.get_model("accounts", "User").objects.order_by("pk"))
        before = {name: old_rule(old_apps, user, key) for name, user, key in viewers_of(old_users)}
    finally:
        migrate()  # forward again, whatever happened: later tests need today's schema

    users = list(User.objects.order_by("pk"))
    assert [u.pk for u in users] == [u.pk for u in old_users]
    after = {name: new_rule(user, key) for name, user, key in viewers_of(users)}
    assert after == before
    # Not an empty comparison: each person sees and manages something, visitors their jobs.
    for name in ("alice@example.com", "bob@example.com", "staff@example.com"):
        assert all(after[name].values()), name
    assert after["carol@example.com"]["templates"] and after["carol@example.com"]["jobs"]
    assert not after["carol@example.com"]["managed"]
    assert all(after[f"visitor {key}"]["jobs"] for key in SESSIONS)
    assert not after["nobody"]["jobs"]

    # Each person has one personal workspace, which they own, and nothing else yet.
    for user in users:
        memberships = list(Membership.objects.filter(user=user).select_related("workspace"))
        assert [(m.workspace.personal, m.workspace.personal_owner_id, m.role) for m in memberships] == [
            (True, user.pk, Role.OWNER)
        ], user.email
    assert Workspace.objects.count() == len(users)
    assert not Workspace.objects.filter(personal=False).exists()
    # Every owned template (deleted ones too) is in its owner's personal workspace; the
    # shipped ones in none.
    for template in Template.all_objects.select_related("workspace"):
        if template.owner_id is None:
            assert template.workspace_id is None, template.slug
        else:
            assert template.workspace.personal_owner_id == template.owner_id, template.slug
