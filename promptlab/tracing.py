"""OpenTelemetry traces: off unless the standard OTEL_* variables ask for them.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``; ``none`` is
off) or an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), unless ``OTEL_SDK_DISABLED=true``. The SDK reads
the rest itself: ``OTEL_SERVICE_NAME`` (default ``promptlab``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_EXPORTER_OTLP_*`` (headers, timeout…) and
``OTEL_BSP_*`` (the batch processor). OTLP goes over HTTP/protobuf.

Off, nothing of the SDK or the instrumentations is imported; the app's own code only
calls OpenTelemetry's API (``jobs.telemetry``), which does nothing without a provider.

On, one trace follows a submission: Django's span of the request (its job's id, template,
version, provider, model and cache outcome as attributes), Celery's span of sending the
task, whose message headers carry the trace context to the worker, Celery's span of running
it (the same attributes, with the tokens), and under it the provider's HTTP call (the SDKs'
own HTTP client, httpx2, instrumented here), with the database (psycopg) and Redis calls
along the way. Web processes configure it as they load the app (``promptlab.asgi``,
``promptlab.wsgi``), a worker as it starts (``promptlab.celery``).
"""

from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ImproperlyConfigured

_configured = False


def enabled() -> bool:
    """Whether the OTEL_* variables ask for traces."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_from_environment() -> bool:
    """Set up the SDK and the instrumentations if the environment asks (once per process)."""
    global _configured
    if _configured or not enabled():
        return _configured
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    default = {} if os.environ.get("OTEL_SERVICE_NAME") or named else {"service.name": "promptlab"}
    provider = TracerProvider(resource=Resource.create(default))
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    for name in (part.strip() for part in names.split(",")):
        if name and name != "none":
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    instrument(provider)
    _configured = True
    return True


def _exporter(name: str) -> Any:
    """An exporter by its OTEL_TRACES_EXPORTER name, found as the SDK finds them (entry points)."""
    from importlib.metadata import entry_points

    if name == "otlp":
        protocol = (
            os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or "http/protobuf"
        )
        if protocol != "http/protobuf":
            raise ImproperlyConfigured(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: PromptLab exports OTLP over http/protobuf only."
            )
        name = "otlp_proto_http"
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        raise ImproperlyConfigured(f"OTEL_TRACES_EXPORTER names “{name}”, which is not installed.")
    return next(iter(found)).load()()


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    # httpx2, not httpx: the anthropic and openai SDKs send through their own fork of it.
    return [
        DjangoInstrumentor(),
        CeleryInstrumentor(),
        PsycopgInstrumentor(),
        RedisInstrumentor(),
        HTTPX2ClientInstrumentor(),
    ]


def instrument(provider: Any) -> None:
    """Django, Celery, psycopg, Redis and the providers' HTTP client (httpx2), onto ``provider``."""
    for instrumentor in _instrumentors():
        instrumentor.instrument(tracer_provider=provider)


def uninstrument() -> None:
    """Undo ``instrument`` (tests)."""
    for instrumentor in _instrumentors():
        instrumentor.uninstrument()
