"""Seed the price table with list prices (US$ per million tokens, standard tier).

Prices change: admins keep them current in the admin (Model prices). Sources,
read 2026-11: Anthropic's pricing and model pages (platform.claude.com/docs),
OpenAI's models page (developers.openai.com/api/docs/models); GPT-4.1/4o rows
from OpenAI's pricing page as of 2025-06. Long-context surcharges and batch
discounts are not modelled.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import migrations

PRICES = [
    ("anthropic", "claude-opus-5-5", "4", "20"),
    ("anthropic", "claude-sonnet-5-5", "2", "10"),
    ("anthropic", "claude-haiku-5-5", "0.10", "0.50"),  # prompts up to 100K tokens
    ("anthropic", "claude-opus-5", "5", "25"),
    ("anthropic", "claude-sonnet-5", "2", "10"),
    ("anthropic", "claude-opus-4-6", "5", "25"),
    ("anthropic", "claude-opus-4-5", "5", "25"),
    ("anthropic", "claude-sonnet-4-6", "3", "15"),
    ("anthropic", "claude-sonnet-4-5", "3", "15"),
    ("anthropic", "claude-haiku-4-5", "1", "5"),
    ("anthropic", "claude-haiku-4-5-20251001", "1", "5"),
    ("openai", "gpt-6-astra", "10", "50"),
    ("openai", "gpt-5.6", "4", "20"),
    ("openai", "gpt-5.6-sol", "4", "20"),
    ("openai", "gpt-5.6-terra", "2", "12"),
    ("openai", "gpt-5.5", "5", "30"),
    ("openai", "gpt-5.4", "2.50", "15"),
    ("openai", "gpt-5.4-mini", "0.75", "4.50"),
    ("openai", "gpt-4.1", "2", "8"),
    ("openai", "gpt-4.1-mini", "0.40", "1.60"),
    ("openai", "gpt-4.1-nano", "0.10", "0.40"),
    ("openai", "gpt-4o", "2.50", "10"),
    ("openai", "gpt-4o-mini", "0.15", "0.60"),
    ("offline", "offline-echo", "0", "0"),
]


def seed(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    ModelPrice = apps.get_model("jobs", "ModelPrice")
    for provider, model, price_in, price_out in PRICES:
        ModelPrice.objects.update_or_create(
            provider=provider,
            model=model,
            defaults={"input_per_million": Decimal(price_in), "output_per_million": Decimal(price_out)},
        )


def unseed(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    ModelPrice = apps.get_model("jobs", "ModelPrice")
    for provider, model, _in, _out in PRICES:
        ModelPrice.objects.filter(provider=provider, model=model).delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
