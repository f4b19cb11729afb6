"""Recording events as deliveries: work across jobs, endpoints and deliveries."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from rest_framework.renderers import JSONRenderer

from jobs.api.serializers import JobSerializer
from jobs.models import Job

from .events import EventType
from .models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)


def record_job_event(job_ids: list[Any], event: EventType) -> list[int]:
    """Make a delivery of ``event`` for each job and each endpoint of its owner that
    subscribes to it, in the caller's transaction; send them once it commits.

    The ids of the deliveries made. One query when no owner has an endpoint (most
    jobs). A delivery already made for the event (the same message id) is not made
    again: the unique constraint holds it to one per event and endpoint.
    """
    # A workflow's steps are not runs of their own: the run's own event is the one sent.
    owners = Job.objects.runs().filter(pk__in=job_ids, owner__isnull=False).values("owner_id")
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True, owner_id__in=owners)
        if endpoint.subscribes_to(event.name)
    ]
    if not endpoints:
        return []
    by_owner: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in endpoints:
        by_owner[endpoint.owner_id].append(endpoint)
    jobs = (
        Job.objects.runs()
        .filter(pk__in=job_ids, owner_id__in=list(by_owner))
        .select_related("template_version__template")
    )
    now = timezone.now()
    rows = []
    # The payload is for machines: the job's texts (an error's message) in the site's
    # default language, whatever language the request that finished it spoke.
    with translation.override(settings.LANGUAGE_CODE):
        for job in jobs:
            payload = {
                "type": event.name,
                "timestamp": now.isoformat().replace("+00:00", "Z"),
                "data": json.loads(JSONRenderer().render(JobSerializer(job).data)),
            }
            message_id = WebhookDelivery.message_id_for(event.name, job.pk)
            rows.extend(
                WebhookDelivery(
                    endpoint=endpoint, event_type=event.name, message_id=message_id, payload=payload
                )
                for endpoint in by_owner[job.owner_id]
            )
    # A savepoint: should this fail, the job's own change still commits.
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        made = list(
            WebhookDelivery.objects.filter(
                endpoint__in=endpoints,
                message_id__in={row.message_id for row in rows},
                status=DeliveryStatus.PENDING,
                attempt_count=0,
            ).values_list("pk", flat=True)
        )
    transaction.on_commit(lambda: send_deliveries(made))
    return made


def send_deliveries(delivery_ids: list[int]) -> None:
    """Hand committed deliveries to the workers. A broker that is down loses nothing:
    the rows are pending, and the sweep sends them."""
    from .tasks import deliver_webhook

    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception as exc:
            logger.warning("could not enqueue webhook delivery %s now (%s); the sweep will", delivery_id, exc)


def redeliver(delivery: WebhookDelivery) -> bool:
    """One more attempt of an ended delivery, sent once committed; False while one is pending."""
    with transaction.atomic():
        if not delivery.redeliver():
            return False
        transaction.on_commit(lambda: send_deliveries([delivery.pk]))
    return True
