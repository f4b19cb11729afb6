"""The worker's side of live output: what JobPublisher sends to Redis."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from django.conf import settings

from jobs.streaming import JobPublisher, channel_name, output_key


def published(job_id: object, send) -> tuple[list[dict], bytes | None]:  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel_name(job_id))
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    send()
    messages = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        messages.append(json.loads(message["data"]))
    pubsub.close()
    return messages, client.get(output_key(job_id, 1))


@pytest.mark.needs_redis
def test_a_burst_of_chunks_goes_out_as_the_first_and_then_one_before_the_status(settings) -> None:
    settings.JOB_STREAM_CHUNK_INTERVAL = 60
    job_id = uuid.uuid4()
    publisher = JobPublisher(job_id, 1)
    words = ["Rain ", "on ", "the ", "roof."]

    def send() -> None:
        offset = 0
        for word in words:
            publisher.chunk(offset, word)
            offset += len(word)
        publisher.status("succeeded", terminal=True)

    messages, stored = published(job_id, send)
    assert [(m["type"], m.get("offset"), m.get("text")) for m in messages] == [
        ("chunk", 0, "Rain "),
        ("chunk", 5, "on the roof."),
        ("status", None, None),
    ]
    assert stored == b"Rain on the roof."


@pytest.mark.needs_redis
def test_chunks_further_apart_than_the_interval_go_out_one_by_one(settings) -> None:
    settings.JOB_STREAM_CHUNK_INTERVAL = 0
    job_id = uuid.uuid4()
    publisher = JobPublisher(job_id, 1)

    def send() -> None:
        publisher.chunk(0, "Rain ")
        publisher.chunk(5, "falls.")

    messages, stored = published(job_id, send)
    assert [(m["offset"], m["text"]) for m in messages] == [(0, "Rain "), (5, "falls.")]
    assert stored == b"Rain falls."


@pytest.mark.needs_redis
def test_a_reset_drops_the_chunks_held_back_for_the_attempt_before(settings) -> None:
    settings.JOB_STREAM_CHUNK_INTERVAL = 60
    job_id = uuid.uuid4()
    publisher = JobPublisher(job_id, 1)

    def send() -> None:
        publisher.chunk(0, "first ")
        publisher.chunk(6, "held")
        publisher.reset(status="running")
        publisher.chunk(0, "again")
        publisher.status("succeeded", terminal=True)

    messages, stored = published(job_id, send)
    chunks = [(m["offset"], m["text"]) for m in messages if m["type"] == "chunk"]
    assert chunks == [(0, "first "), (0, "again")]
    assert stored == b"again"


@pytest.mark.django_db
def test_a_status_event_needs_no_column_beyond_those_the_stream_loads(
    django_assert_num_queries, make_template
) -> None:
    # API status events are serialised in the event loop from a row loaded with
    # JobStatusSerializer.columns only: a field reading any other column would query
    # there (SynchronousOnlyOperation), ending every API stream.
    from jobs.api.serializers import JobStatusSerializer
    from jobs.models import Job
    from jobs.services import submit_generation

    version = make_template().published_version
    job = submit_generation(version, {"topic": "sea", "count": 2})
    Job.objects.filter(pk=job.pk).update(error_code="provider_error", error_message="boom")
    row = Job.objects.only(*JobStatusSerializer.columns).get(pk=job.pk)
    with django_assert_num_queries(0):
        data = JobStatusSerializer().to_representation(row)
    assert data["id"] == str(job.pk) and data["error"]["code"] == "provider_error"
