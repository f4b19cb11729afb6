"""Waiting for a job to end, for an API request that asked to (``"wait"`` on generate).

With Redis, the wait listens on the job's event channel (its leader's while it
follows one), as the event stream does: subscribed and confirmed first, then the
row read, so an end published in between is not missed; no polling. Without Redis
(the embedded mode) it polls the row every ``POLL_SECONDS`` until the deadline.

A waiting request holds one of the web server's request threads (the dispatcher's
WSGI pool, 16 threads), so at most ``JOB_WAIT_MAX_CONCURRENT`` requests per
process wait at once; a request beyond that is answered at once, as without a wait
(202 with the job queued or running: the client polls or streams). The database
connection is handed back to the pool while the request waits.
"""

from __future__ import annotations

import json
import threading
import time
from functools import cache

import redis
from django.conf import settings

from promptlab.database import release_connection

from .models import TERMINAL_STATUSES, Job
from .streaming import channel_name, streaming_enabled

POLL_SECONDS = 0.05
SUBSCRIBE_TIMEOUT_SECONDS = 2.0


@cache
def _waiting_slots() -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(settings.JOB_WAIT_MAX_CONCURRENT)


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=SUBSCRIBE_TIMEOUT_SECONDS)


def wait_for_job(job: Job, seconds: float) -> Job:
    """The job once it has ended, or as it stands when ``seconds`` have passed (or at
    once, when every waiting slot is taken)."""
    if job.is_terminal or seconds <= 0:
        return job
    slots = _waiting_slots()
    if not slots.acquire(blocking=False):
        return job
    try:
        deadline = time.monotonic() + seconds
        if streaming_enabled():
            _listen_until_ended(job, deadline)
        else:
            _poll_until_ended(job, deadline)
    finally:
        slots.release()
    return Job.objects.select_related("template_version__template", "owner").filter(pk=job.pk).first() or job


def _ended(pk: object) -> tuple[bool, object]:
    """Whether the job has ended, and whose channel tells when it does (a follower's
    leader can change: a cancelled leader hands its followers on)."""
    row = Job.objects.filter(pk=pk).values_list("status", "leader_id").first()
    if row is None:
        return True, pk  # deleted meanwhile: the final read says 404
    status, leader_id = row
    return status in TERMINAL_STATUSES, leader_id or pk


def _poll_until_ended(job: Job, deadline: float) -> None:
    while not _ended(job.pk)[0] and time.monotonic() < deadline:
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0)))


def _listen_until_ended(job: Job, deadline: float) -> None:
    source = job.leader_id or job.pk
    while time.monotonic() < deadline:
        pubsub = _client().pubsub()
        try:
            pubsub.subscribe(channel_name(source))
            confirmed = pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_SECONDS)
            if confirmed is None or confirmed["type"] != "subscribe":
                return  # Redis is slow or gone: answer with the job as it stands
            ended, current = _ended(job.pk)
            if ended:
                return
            if current != source:  # handed to another leader since: listen to that one
                source = current
                continue
            release_connection()
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is None or message["type"] != "message":
                    continue
                event = json.loads(message["data"])
                if event["type"] == "status" and event["status"] in TERMINAL_STATUSES:
                    break
            else:
                return
        except redis.RedisError:
            return  # best effort, as publishing is: the answer is the job as it stands
        finally:
            pubsub.close()
        ended, source = _ended(job.pk)
        if ended:
            return
