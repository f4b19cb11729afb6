"""Signed webhooks: deliveries a real receiver verifies with the ``standardwebhooks``
library, retries, redelivery, SSRF refusals on the address actually connected to, the
job events from a real worker, and the API's access rules."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from jobs.models import Job, JobStatus
from jobs.services import cancel_job, submit_generation
from providers.models import ModelPrice
from templates_app.models import Template, Visibility
from webhooks import egress
from webhooks.events import JOB_SUCCEEDED
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.services import record_job_event
from webhooks.tasks import deliver_webhook

from .conftest import SIMPLE_SCHEMA, wait_until
from .fakes.llm_server import error
from .test_api import jwt_for
from .webhook_receiver import WebhookReceiver

ALL_EVENTS = ["job.succeeded", "job.failed", "job.cancelled"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def endpoint_for(user: User, receiver: WebhookReceiver, events: list[str] | None = None) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.create(owner=user, url=receiver.url, events=events or ALL_EVENTS)
    receiver.secret = endpoint.secret
    return endpoint


def offline_template(owner: User, slug: str = "hooked") -> Template:
    template = Template.objects.create(slug=slug, name=slug, owner=owner, visibility=Visibility.PRIVATE)
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    return template


def deliveries_settled(endpoint: WebhookEndpoint, count: int) -> list[WebhookDelivery]:
    rows = list(endpoint.deliveries.exclude(status=DeliveryStatus.PENDING).prefetch_related("attempts"))
    return rows if len(rows) >= count else []


# --- With a real worker -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_job_event_is_delivered_once_signed_and_verified(
    owner: User, worker: Any, llm: Any, receiver: WebhookReceiver
) -> None:
    endpoint = endpoint_for(owner, receiver)
    other = User.objects.create_user("bystander@example.com", "correct horse battery")
    WebhookEndpoint.objects.create(owner=other, url=receiver.url + "/other", events=ALL_EVENTS)
    ModelPrice.objects.update_or_create(
        provider="anthropic", model="claude-test-1",
        defaults={"input_per_million": Decimal("3"), "output_per_million": Decimal("15")},
    )  # fmt: skip
    template = offline_template(owner)
    succeeded = submit_generation(template.published_version, {"topic": "hooks ok", "count": 2}, owner=owner)
    failing = Template.objects.create(
        slug="hooked-fail", name="f", owner=owner, visibility=Visibility.PRIVATE
    )
    failing.create_version(
        body="About {{ topic }} {{ count }}",
        parameters=SIMPLE_SCHEMA,
        provider="anthropic",
        model="claude-test-1",
    )
    llm.script(error(401))
    failed = submit_generation(failing.published_version, {"topic": "hooks fail", "count": 2}, owner=owner)
    cancelled = submit_generation(
        template.published_version, {"topic": "hooks cancel", "count": 3}, owner=owner
    )
    assert cancel_job(cancelled)

    # Long: the failing job is the worker's first Anthropic SDK call when this test runs
    # alone, and building that client took up to 33 s on a loaded machine.
    settled = wait_until(lambda: deliveries_settled(endpoint, 3), timeout=90)
    by_event = {delivery.event_type: delivery for delivery in settled}
    assert set(by_event) == set(ALL_EVENTS)
    assert by_event["job.succeeded"].payload["data"]["id"] == str(succeeded.pk)
    assert by_event["job.failed"].payload["data"]["error"]["code"] == "authentication_failed"
    assert by_event["job.cancelled"].payload["data"]["status"] == "cancelled"
    assert all(d.status == DeliveryStatus.SUCCEEDED and d.attempt_count == 1 for d in settled)
    # The receiver got exactly these three, each verified with the endpoint's secret.
    assert len(receiver.received) == 3
    assert all(message.verified and message.path == "/hooks" for message in receiver.received)
    assert {m.payload["type"] for m in receiver.received} == set(ALL_EVENTS)
    assert {m.headers["webhook-id"] for m in receiver.received} == {d.message_id for d in settled}
    payload = next(m.payload for m in receiver.received if m.payload["type"] == "job.succeeded")
    assert payload["data"]["status"] == "succeeded" and payload["data"]["output"]
    assert set(payload) == {"type", "timestamp", "data"}
    # Another user's endpoint heard nothing of these jobs.
    assert not WebhookDelivery.objects.filter(endpoint__owner=other).exists()
    assert Job.objects.get(pk=failed.pk).status == JobStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_answers_500_twice_then_200_gets_three_attempts(
    owner: User, worker: Any, receiver: WebhookReceiver
) -> None:
    receiver.script = [500, 500]
    endpoint = endpoint_for(owner, receiver, ["job.succeeded"])
    template = offline_template(owner)
    submit_generation(template.published_version, {"topic": "retried", "count": 1}, owner=owner)
    (delivery,) = wait_until(lambda: deliveries_settled(endpoint, 1), timeout=30)
    attempts = list(delivery.attempts.all())
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempt_count == 3
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.error_code for a in attempts] == ["http_error", "http_error", ""]
    assert attempts[0].response_excerpt == "receiver says no"
    assert len(receiver.received) == 3 and all(m.verified for m in receiver.received)
    # One message id, a signature of its own per attempt (the timestamp is signed).
    assert len({m.headers["webhook-id"] for m in receiver.received}) == 1


# --- In this process: the client, the rules, the records ------------------------------


def _delivery(owner: User, url: str, secret_receiver: WebhookReceiver | None = None) -> WebhookDelivery:
    endpoint = WebhookEndpoint.objects.create(owner=owner, url=url, events=["job.succeeded"])
    if secret_receiver is not None:
        secret_receiver.secret = endpoint.secret
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="job.succeeded",
        message_id="msg_test",
        payload={"type": "job.succeeded"},
    )


@pytest.mark.django_db
def test_loopback_and_metadata_addresses_are_refused_with_the_setting_off(
    owner: User, receiver: WebhookReceiver, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    for url in (receiver.url, "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:9/"):
        assert egress.url_problems(url), url
        delivery = _delivery(owner, url)
        deliver_webhook(delivery.pk)
        delivery.refresh_from_db()
        (attempt,) = delivery.attempts.all()
        assert attempt.error_code == "refused_address" and attempt.address == "", url
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).delete()
    assert receiver.received == []
    # Metadata stays refused even where private addresses are allowed.
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    assert egress.url_problems("http://169.254.169.254/")
    assert egress.url_problems("http://[fd00:ec2::254]/")
    assert not egress.url_problems(receiver.url)


@pytest.mark.django_db
def test_a_name_whose_answer_changes_after_the_check_is_refused(
    owner: User, receiver: WebhookReceiver, settings: Any
) -> None:
    """The registration's lookup says public; the delivery's own (its only one) says
    loopback: refused, never connected."""
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    answers = iter([[ipaddress.ip_address("8.8.8.8")], [ipaddress.ip_address("127.0.0.1")]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[Any]:
        calls.append(host)
        return next(answers)

    url = f"http://rebind.example:{receiver.port}/hooks"
    assert egress.url_problems(url, resolver=rebinding) == []
    outcome = egress.post(url, b"{}", {}, resolver=rebinding)
    assert outcome.error_code == "refused_address" and outcome.address == ""
    assert calls == ["rebind.example", "rebind.example"]
    assert receiver.received == []


@pytest.mark.django_db
def test_the_connection_goes_to_the_address_checked_under_the_name(receiver: WebhookReceiver) -> None:
    """One lookup per attempt: the address it checked is the one it connects to, and the
    name is the Host header. A second lookup would get 127.0.0.2, where nothing listens."""
    answers = iter([[ipaddress.ip_address("127.0.0.1")], [ipaddress.ip_address("127.0.0.2")]])
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[Any]:
        calls.append(host)
        return next(answers)

    outcome = egress.post(f"http://hooks.example:{receiver.port}/in", b"{}", {}, resolver=resolver)
    assert outcome.succeeded and outcome.status_code == 200 and outcome.address == "127.0.0.1"
    assert calls == ["hooks.example"]
    (message,) = receiver.received
    assert message.headers["host"] == f"hooks.example:{receiver.port}" and message.path == "/in"


@pytest.mark.django_db
def test_a_redirect_is_a_failed_attempt_and_is_not_followed(owner: User, receiver: WebhookReceiver) -> None:
    receiver.script = [(302, {"Location": receiver.url + "/elsewhere"})]
    delivery = _delivery(owner, receiver.url, receiver)
    deliver_webhook(delivery.pk)
    delivery.refresh_from_db()
    (attempt,) = delivery.attempts.all()
    assert attempt.status_code == 302 and attempt.error_code == "redirect"
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None
    assert [m.path for m in receiver.received] == ["/hooks"]


@pytest.mark.django_db
def test_redeliver_makes_one_more_attempt(owner: User, receiver: WebhookReceiver, client: Client) -> None:
    delivery = _delivery(owner, receiver.url, receiver)
    deliver_webhook(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    deliver_webhook(delivery.pk)  # a duplicate message finds nothing to claim
    assert len(receiver.received) == 1
    client.force_login(owner)
    path = f"/accounts/webhooks/{delivery.endpoint_id}/deliveries/{delivery.pk}/redeliver/"
    assert client.post(path).status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    deliver_webhook(delivery.pk)  # what the message sent on commit does
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempt_count == 2
    assert [m.headers["webhook-id"] for m in receiver.received] == ["msg_test", "msg_test"]
    assert all(m.verified for m in receiver.received)


@pytest.mark.django_db
def test_an_event_makes_one_delivery_per_endpoint_however_often_it_is_recorded(
    owner: User, receiver: WebhookReceiver, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint = endpoint_for(owner, receiver)
    job = submit_generation(
        offline_template(owner).published_version, {"topic": "once", "count": 1}, owner=owner
    )
    with django_capture_on_commit_callbacks(execute=False):
        first = record_job_event([job.pk], JOB_SUCCEEDED)
        again = record_job_event([job.pk], JOB_SUCCEEDED)
    assert len(first) == 1 and again == first
    assert endpoint.deliveries.count() == 1


@pytest.mark.django_db
def test_a_url_is_checked_on_registration_with_translated_field_errors(
    owner: User, client: Client, settings: Any
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    settings.WEBHOOKS_ALLOW_HTTP = False
    headers = {"HTTP_AUTHORIZATION": f"Bearer {jwt_for(owner)}", "HTTP_ACCEPT_LANGUAGE": "pt-BR"}
    for url in (
        "http://8.8.8.8/hooks",
        "https://127.0.0.1/hooks",
        "https://user:pw@8.8.8.8/",
        "ftp://8.8.8.8/",
    ):
        response = client.post(
            "/api/v1/webhooks",
            {"url": url, "events": ["job.succeeded"]},
            content_type="application/json",
            **headers,
        )
        assert response.status_code == 400, (url, response.content)
        assert list(response.json()["error"]["details"]) == ["url"]
    client.force_login(owner)
    response = client.post(
        "/accounts/webhooks/new/", {"url": "https://127.0.0.1/", "events": []}, HTTP_ACCEPT_LANGUAGE="pt-BR"
    )
    content = response.content.decode()
    assert response.status_code == 200 and "Escolha pelo menos um evento." in content
    assert "metadados" in content  # the address refusal, in Portuguese
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_api_is_the_owners_alone(owner: User, other_user: User, client: Client, receiver: Any) -> None:
    def call(user: User | None, method: str, path: str, body: Any = None) -> Any:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {jwt_for(user)}"} if user else {}
        return getattr(client, method)(f"/api/v1{path}", body, content_type="application/json", **headers)

    created = call(owner, "post", "/webhooks", {"url": receiver.url, "events": ["job.failed"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["job.failed"]
    endpoint_id = body["id"]
    assert call(owner, "get", f"/webhooks/{endpoint_id}").json()["secret"] is None  # shown once
    delivery = WebhookDelivery.objects.create(
        endpoint_id=endpoint_id, event_type="job.failed", message_id="msg_x", payload={}, status="failed"
    )
    paths = [
        ("get", "/webhooks", None, 200),
        ("get", "/webhooks/event-types", None, 200),
        ("get", f"/webhooks/{endpoint_id}", None, 200),
        ("patch", f"/webhooks/{endpoint_id}", {"description": "mine"}, 200),
        ("post", f"/webhooks/{endpoint_id}/rotate-secret", None, 200),
        ("get", f"/webhooks/{endpoint_id}/deliveries", None, 200),
        ("get", f"/webhooks/{endpoint_id}/deliveries/{delivery.pk}", None, 200),
        ("post", f"/webhooks/{endpoint_id}/deliveries/{delivery.pk}/redeliver", None, 202),
        ("delete", f"/webhooks/{endpoint_id}", None, 204),
    ]
    for method, path, data, ok in paths:
        assert call(None, method, path, data).status_code == 401, path
        if path not in ("/webhooks", "/webhooks/event-types"):
            assert call(other_user, method, path, data).status_code == 404, path
        response = call(owner, method, path, data)
        assert response.status_code == ok, (path, response.content)
        if path.endswith("rotate-secret"):
            assert response.json()["secret"] != body["secret"]
        if path.endswith("redeliver"):
            assert call(owner, method, path, data).status_code == 409  # pending already
    assert call(other_user, "get", "/webhooks").json()["results"] == []
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_pages_are_the_owners_alone(owner: User, other_user: User, client: Client, receiver: Any) -> None:
    endpoint = endpoint_for(owner, receiver)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="job.failed", message_id="m", payload={}
    )
    pages = [
        f"/accounts/webhooks/{endpoint.pk}/",
        f"/accounts/webhooks/{endpoint.pk}/edit/",
        f"/accounts/webhooks/{endpoint.pk}/delete/",
        f"/accounts/webhooks/{endpoint.pk}/rotate-secret/",
        f"/accounts/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/",
    ]
    for path in ["/accounts/webhooks/", "/accounts/webhooks/new/", *pages]:
        assert client.get(path).status_code == 302, path  # to the sign-in page
    client.force_login(other_user)
    for path in pages:
        assert client.get(path).status_code == 404, path
    assert client.post(f"/accounts/webhooks/{endpoint.pk}/delete/").status_code == 404
    client.force_login(owner)
    for path in pages:
        assert client.get(path).status_code == 200, path
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_deleted_while_the_worker_records_a_delivery_is_deleted_with_it(
    owner: User, client: Client
) -> None:
    """The worker commits a delivery and its attempt just before the endpoint's DELETE runs
    (after anything Django's collector could have read): the API still answers 204 and no
    row of the endpoint is left. With a collector's cascade this was a foreign key
    violation at commit, a 500."""
    import threading

    from django.db import connection
    from django.db.models.signals import pre_delete
    from django.utils import timezone

    from webhooks.models import WebhookAttempt

    endpoint = WebhookEndpoint.objects.create(
        owner=owner, url="http://127.0.0.1:9/hooks", events=["job.succeeded"]
    )

    def worker_records_a_delivery() -> None:
        try:
            delivery = WebhookDelivery.objects.create(
                endpoint_id=endpoint.pk, event_type="job.succeeded", message_id="msg_late", payload={}
            )
            WebhookAttempt.objects.create(
                delivery=delivery, number=1, started_at=timezone.now(), duration_ms=3, error_code="refused"
            )
        finally:
            connection.close()  # this thread's own connection

    def just_before_the_delete(sender: Any, instance: WebhookEndpoint, **kwargs: Any) -> None:
        thread = threading.Thread(target=worker_records_a_delivery)  # another connection: commits now
        thread.start()
        thread.join()

    pre_delete.connect(just_before_the_delete, sender=WebhookEndpoint, dispatch_uid="test-late-delivery")
    try:
        response = client.delete(
            f"/api/v1/webhooks/{endpoint.pk}", HTTP_AUTHORIZATION=f"Bearer {jwt_for(owner)}"
        )
    finally:
        pre_delete.disconnect(sender=WebhookEndpoint, dispatch_uid="test-late-delivery")
    assert response.status_code == 204, response.content
    assert WebhookDelivery.objects.filter(message_id="msg_late").exists() is False
    assert not WebhookAttempt.objects.exists() and not WebhookEndpoint.objects.exists()
