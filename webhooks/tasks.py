from __future__ import annotations

import logging
from datetime import timedelta

import kombu.exceptions
from celery import shared_task
from django.utils import timezone

from .models import DeliveryStatus, WebhookDelivery

logger = logging.getLogger(__name__)

# Retries due within this many seconds are sent as a message with a countdown; later
# ones are left to the sweep. A broker holds a delayed message no better than the rows
# do (Redis hands an unacknowledged one to another worker after its visibility
# timeout, an hour by default), and the row already says when the attempt is due.
COUNTDOWN_MAX = 600.0
# How long past its due time a delivery waits for its own message before the sweep
# sends another (a duplicate would find nothing to claim, but costs a message).
SWEEP_GRACE = timedelta(seconds=5)


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    """Make the next attempt of a delivery, if it is pending, due and not claimed by another."""
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or not delivery.endpoint.is_active:
        return  # deleted, or its endpoint switched off (the sweep sends it once it is on again)
    number = delivery.claim()
    if number is None:
        return  # delivered, failed, not due yet, or another message made the attempt
    attempt = delivery.attempt(number)
    logger.info(
        "webhook delivery %s attempt %s: %s %s",
        delivery.pk, number, attempt.status_code, attempt.error_code or "ok",
    )  # fmt: skip
    if delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at is None:
        return
    delay = max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())
    if delay <= COUNTDOWN_MAX:
        try:
            deliver_webhook.apply_async(args=[delivery.pk], countdown=delay)
        except kombu.exceptions.OperationalError as exc:
            logger.warning("webhook delivery %s: retry not sent (%s); the sweep will", delivery.pk, exc)


@shared_task(ignore_result=True)
def sweep_webhook_deliveries() -> int:
    """Send the deliveries that are due and whose message was lost or never sent (a
    broker that was down, a worker killed mid-attempt, a retry hours away)."""
    due = (
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, endpoint__is_active=True)
        .filter(next_attempt_at__lte=timezone.now() - SWEEP_GRACE)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
    sent = 0
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
        sent += 1
    return sent
