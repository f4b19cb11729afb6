"""The stack's floor: the parts a PromptLab run must use, with none of PromptLab's work.

A DRF endpoint that stores a run row and enqueues a Celery task; a prefork worker that
streams the answer from the provider with the OpenAI SDK into a Redis stream and saves
the output; an async Django view that relays that stream as server-sent events. No
authentication, validation, rendering, cache, coalescing, leases, retries or rate limits:
what a complete run costs on Django + DRF + Celery + the SDK + Redis + PostgreSQL alone,
so that PromptLab's figures can be read against what its parts cost (bench/floor_runs.py).
"""
