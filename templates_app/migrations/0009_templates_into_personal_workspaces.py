"""Every user gets a personal workspace, and every owned template moves into its owner's.

A template's managers become its workspace's editors: in a personal workspace that is
its owner alone, so nothing that was visible becomes invisible, or the other way round
(tests/test_workspace_migration.py holds it to that)."""

from django.db import migrations
from django.utils.text import slugify


def _free_slug(Workspace, wanted, taken):
    base = slugify(wanted)[:40] or "workspace"
    slug, number = base, 1
    while slug in taken or Workspace.objects.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    taken.add(slug)
    return slug


def forwards(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Workspace = apps.get_model("workspaces", "Workspace")
    Membership = apps.get_model("workspaces", "Membership")
    Template = apps.get_model("templates_app", "Template")
    taken = set()
    for user in User.objects.filter(personal_workspace__isnull=True).order_by("pk").iterator():
        workspace = Workspace.objects.create(
            name=(user.name or user.email)[:100],
            slug=_free_slug(Workspace, user.email.partition("@")[0] or "personal", taken),
            personal=True,
            personal_owner=user,
        )
        Membership.objects.create(workspace=workspace, user=user, role="owner")
    for workspace in Workspace.objects.filter(personal=True).iterator():
        Template.objects.filter(owner_id=workspace.personal_owner_id, workspace__isnull=True).update(
            workspace=workspace
        )


def backwards(apps, schema_editor):
    Template = apps.get_model("templates_app", "Template")
    Template.objects.update(workspace=None)


class Migration(migrations.Migration):
    dependencies = [
        ("templates_app", "0008_template_workspace"),
        ("accounts", "0005_personaltoken_templates"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
