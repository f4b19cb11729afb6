"""Webhooks in a real browser, by keyboard, axe-core on every page: add an endpoint, copy
its secret (shown once), receive a signed job event with it, read the delivery and its
attempt, redeliver, change the secret, delete; in Portuguese, and the list in English."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accounts.models import User
from jobs.services import submit_generation
from webhooks.models import DeliveryStatus, WebhookEndpoint

from .conftest import assert_accessible, wait_until
from .test_webhooks import offline_template
from .webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def test_a_webhook_from_adding_to_deleting_by_keyboard(
    signed_in_page: Any, live_server_url: str, owner: User, receiver: WebhookReceiver
) -> None:
    english = signed_in_page(owner, "en-US")
    english.goto(f"{live_server_url}/accounts/webhooks/")
    assert english.get_by_role("heading", level=1).inner_text() == "Webhooks"
    assert_accessible(english)

    page = signed_in_page(owner, "pt-BR")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_url)
    page.goto(f"{live_server_url}/accounts/webhooks/")
    page.get_by_role("link", name="Adicionar um endpoint").click()
    page.wait_for_url("**/new/")
    page.locator("#id_url").fill("https://169.254.169.254/")
    page.locator("#id_url").press("Enter")
    page.wait_for_selector(".error-summary")
    assert page.title().startswith("Erro:") and "metadados da nuvem" in page.content()
    assert_accessible(page)

    page.locator("#id_url").fill(receiver.url)
    page.get_by_label("Execução concluída").check()
    page.locator("#id_url").press("Enter")
    page.wait_for_selector("#new-secret")
    secret = page.locator("#new-secret").inner_text()
    endpoint = WebhookEndpoint.objects.get(owner=owner)
    assert secret.startswith("whsec_") and secret == endpoint.secret
    assert_accessible(page)
    page.get_by_role("button", name="Copiar segredo").press("Enter")
    page.wait_for_function("() => document.querySelector('#new-secret-copied').textContent === 'Copiado'")
    receiver.secret = page.evaluate("() => navigator.clipboard.readText()")

    template = offline_template(owner, slug="hooked-browser")
    submit_generation(template.published_version, {"topic": "browser", "count": 1}, owner=owner)
    wait_until(lambda: endpoint.deliveries.filter(status=DeliveryStatus.SUCCEEDED).exists(), timeout=30)
    (message,) = receiver.received
    assert message.verified and message.payload["type"] == "job.succeeded"

    page.reload()  # the secret is gone; the delivery is listed
    assert page.locator("#new-secret").count() == 0 and secret not in page.content()
    page.get_by_role("link", name="job.succeeded").press("Enter")
    page.wait_for_url("**/deliveries/*/")
    assert "Entregue" in page.locator("table").inner_text()
    assert_accessible(page)
    page.get_by_role("button", name="Entregar de novo").press("Enter")
    page.wait_for_selector(".messages")
    wait_until(lambda: len(receiver.received) == 2, timeout=30)
    assert receiver.received[1].headers["webhook-id"] == message.headers["webhook-id"]

    page.get_by_role("link", name="Voltar ao endpoint").press("Enter")
    page.get_by_role("link", name="Trocar o segredo de assinatura").press("Enter")
    page.wait_for_url("**/rotate-secret/")
    assert_accessible(page)
    page.get_by_role("button", name="Trocar segredo").press("Enter")
    page.wait_for_selector("#new-secret")
    assert page.locator("#new-secret").inner_text() not in (secret, "")

    page.get_by_role("link", name="Editar", exact=True).press("Enter")
    page.wait_for_url("**/edit/")
    assert_accessible(page)
    page.get_by_label("Execução com falha").check()
    page.get_by_role("button", name="Salvar").press("Enter")
    page.wait_for_selector(".messages")
    endpoint.refresh_from_db()
    assert endpoint.events == ["job.succeeded", "job.failed"]

    page.get_by_role("link", name="Excluir", exact=True).press("Enter")
    page.wait_for_url("**/delete/")
    assert_accessible(page)
    page.get_by_role("button", name="Excluir endpoint").press("Enter")
    page.wait_for_url("**/accounts/webhooks/")
    assert_accessible(page)
    assert not WebhookEndpoint.objects.filter(owner=owner).exists()
