"""ModelPrice and ProviderConnection moved from jobs to providers: a database made
before the move migrates forward with every row, and the permissions granted on them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User
from providers.models import ModelPrice, ProviderConnection

BEFORE_THE_MOVE = [("jobs", "0006_provider_connection_egress_rules"), ("providers", None)]


def migrate(targets: list[tuple[str, str | None]] | None = None) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()
    return executor


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_move_keeps_its_rows_and_permissions() -> None:
    try:
        old = migrate(BEFORE_THE_MOVE).loader.project_state(BEFORE_THE_MOVE[0]).apps
        old.get_model("jobs", "ProviderConnection").objects.create(
            name="local", base_url="https://93.184.215.14/v1", model_list="llama", enabled=False
        )
        old.get_model("jobs", "ModelPrice").objects.update_or_create(
            provider="anthropic",
            model="claude-test",
            defaults={"input_per_million": Decimal("1.5"), "output_per_million": Decimal("7")},
        )
        insider = User.objects.create_user("insider@example.com", "correct horse battery", is_staff=True)
        insider.user_permissions.add(
            Permission.objects.get(content_type__app_label="jobs", codename="view_providerconnection")
        )
    finally:
        migrate()  # forward again, whatever happened: later tests need today's schema

    moved = ProviderConnection.objects.get()
    assert (moved.name, moved.base_url, moved.enabled) == ("local", "https://93.184.215.14/v1", False)
    price = ModelPrice.objects.get(provider="anthropic", model="claude-test")
    assert price.cost(1_000_000, 1_000_000) == Decimal("8.5")
    assert ModelPrice._meta.db_table == "jobs_modelprice"  # the same table: no row was copied
    insider = User.objects.get(email="insider@example.com")
    assert insider.has_perm("providers.view_providerconnection")
    assert not ContentType.objects.filter(app_label="jobs", model__in=["modelprice", "providerconnection"])
