"""What administrators keep about providers: model prices and named connections.

Both tables were created by the ``jobs`` app and keep its table names
(``db_table``): the models moved here without their rows moving.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from audit.models import Action
from audit.services import record

from .egress import connection_problems

# Providers that never charge: PromptLab's own offline one.
FREE_PROVIDERS = frozenset({"offline"})


class ModelPrice(models.Model):
    """List price of one model, per million tokens (kept as data: admins edit it)."""

    provider = models.CharField(_("provider"), max_length=40)
    model = models.CharField(_("model"), max_length=100)
    input_per_million = models.DecimalField(
        _("input, US$ per million tokens"), max_digits=10, decimal_places=4
    )
    output_per_million = models.DecimalField(
        _("output, US$ per million tokens"), max_digits=10, decimal_places=4
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        db_table = "jobs_modelprice"
        verbose_name = _("model price")
        verbose_name_plural = _("model prices")
        ordering = ("provider", "model")
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="unique_model_price")]

    def __str__(self) -> str:
        return f"{self.provider} · {self.model}"

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        million = Decimal(1_000_000)
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / million


def is_priced(provider: str, model: str) -> bool:
    """Whether a run on this model has a known cost (free, or a price on file)."""
    return provider in FREE_PROVIDERS or ModelPrice.objects.filter(provider=provider, model=model).exists()


def price_of(
    provider: str, model: str, input_tokens: int | None, output_tokens: int | None
) -> Decimal | None:
    """What a call cost, or None when the model has no price: never a made-up zero."""
    if provider in FREE_PROVIDERS:
        return Decimal("0")
    if input_tokens is None or output_tokens is None:
        return None
    price = ModelPrice.objects.filter(provider=provider, model=model).first()
    return price.cost(input_tokens, output_tokens).quantize(Decimal("0.000001")) if price else None


# Where a server-side key goes: every change of these is in the site's audit log (with no
# workspace: the admin shows it), however it is made.
AUDITED_FIELDS = ("name", "base_url", "api_key_env", "enabled")


class ProviderConnection(models.Model):
    """A named OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio…).

    Its key and every run's prompt go to its base URL, so both are held to the
    egress rules (``providers.egress``): here, and again when its client is built.
    """

    name = models.SlugField(
        _("name"), max_length=40, unique=True, help_text=_("Used as the provider name in templates.")
    )
    base_url = models.URLField(
        _("base URL"),
        help_text=_(
            "Including /v1, e.g. https://llm.example.com/v1. Internal addresses (such as 127.0.0.1 or "
            "10.0.0.5) only where PROVIDER_ALLOWED_NETWORKS allows them."
        ),
    )
    api_key_env = models.CharField(
        _("API key variable"),
        max_length=100,
        blank=True,
        help_text=_(
            "The environment variable that holds the key; its name must start with PROMPTLAB_PROVIDER_. "
            "Empty for servers that need none."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        db_table = "jobs_providerconnection"
        verbose_name = _("provider connection")
        verbose_name_plural = _("provider connections")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        before = None if self._state.adding else ProviderConnection.objects.filter(pk=self.pk).first()
        with transaction.atomic():
            super().save(*args, **kwargs)
            if before is None:
                record(Action.PROVIDER_CONNECTION_ADDED, target=self, details=self._audited())
                return
            changes = {
                field: [getattr(before, field), getattr(self, field)]
                for field in AUDITED_FIELDS
                if getattr(before, field) != getattr(self, field)
            }
            if changes:
                record(Action.PROVIDER_CONNECTION_CHANGED, target=self, details={"changes": changes})

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        with transaction.atomic():
            record(Action.PROVIDER_CONNECTION_DELETED, target=self, details=self._audited())
            return super().delete(*args, **kwargs)

    def clean(self) -> None:
        if problems := connection_problems(self.base_url or "", self.api_key_env or "", resolve_host=True):
            raise ValidationError(problems)

    def _audited(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in AUDITED_FIELDS}
