"""ModelPrice and ProviderConnection move here from ``jobs``: state only.

The tables keep the names ``jobs`` gave them (``db_table``), so no row is copied
and nothing is dropped; ``jobs.0007`` takes the models out of its own state. The
content types move with them, so the permissions granted on them (staff who may
view connections) and their admin history stay attached.
"""

from django.db import migrations, models

MOVED = ("modelprice", "providerconnection")


def move_content_types(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    _relabel(apps, "jobs", "providers")


def return_content_types(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    _relabel(apps, "providers", "jobs")


def _relabel(apps, old: str, new: str) -> None:  # type: ignore[no-untyped-def]
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = ContentType.objects.db_manager()
    for model in MOVED:
        # A content type already made under the new label (post_migrate of a run that
        # stopped halfway) wins; the old one then stays behind, unused.
        if not db.filter(app_label=new, model=model).exists():
            db.filter(app_label=old, model=model).update(app_label=new)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("jobs", "0006_provider_connection_egress_rules"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ModelPrice",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("provider", models.CharField(max_length=40, verbose_name="provider")),
                        ("model", models.CharField(max_length=100, verbose_name="model")),
                        (
                            "input_per_million",
                            models.DecimalField(
                                decimal_places=4, max_digits=10, verbose_name="input, US$ per million tokens"
                            ),
                        ),
                        (
                            "output_per_million",
                            models.DecimalField(
                                decimal_places=4, max_digits=10, verbose_name="output, US$ per million tokens"
                            ),
                        ),
                        ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated")),
                    ],
                    options={
                        "verbose_name": "model price",
                        "verbose_name_plural": "model prices",
                        "db_table": "jobs_modelprice",
                        "ordering": ("provider", "model"),
                        "constraints": [
                            models.UniqueConstraint(fields=("provider", "model"), name="unique_model_price")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ProviderConnection",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "name",
                            models.SlugField(
                                help_text="Used as the provider name in templates.",
                                max_length=40,
                                unique=True,
                                verbose_name="name",
                            ),
                        ),
                        (
                            "base_url",
                            models.URLField(
                                help_text="Including /v1, e.g. https://llm.example.com/v1. Internal addresses (such as 127.0.0.1 or 10.0.0.5) only where PROVIDER_ALLOWED_NETWORKS allows them.",
                                verbose_name="base URL",
                            ),
                        ),
                        (
                            "api_key_env",
                            models.CharField(
                                blank=True,
                                help_text="The environment variable that holds the key; its name must start with PROMPTLAB_PROVIDER_. Empty for servers that need none.",
                                max_length=100,
                                verbose_name="API key variable",
                            ),
                        ),
                        (
                            "model_list",
                            models.TextField(
                                blank=True, help_text="One model name per line.", verbose_name="models"
                            ),
                        ),
                        ("enabled", models.BooleanField(default=True, verbose_name="enabled")),
                        ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated")),
                    ],
                    options={
                        "verbose_name": "provider connection",
                        "verbose_name_plural": "provider connections",
                        "db_table": "jobs_providerconnection",
                        "ordering": ("name",),
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, return_content_types),
    ]
