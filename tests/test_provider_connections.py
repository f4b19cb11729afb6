"""Provider connections can't send a server secret anywhere: the key variable's name,
the base URL and the address connected to are all checked, on save and again on use."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import httpx2
import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.utils import translation

from accounts.models import User
from jobs.models import Job, JobStatus
from jobs.services import enqueue_job
from providers import GenerationRequest, ProviderError, StreamEvent, TextDelta, get_provider
from providers.egress import GuardedTransport, is_refused_address
from providers.models import ProviderConnection
from templates_app.models import Template, Visibility

from .conftest import DEFAULT_REPLY, SIMPLE_SCHEMA, wait_until

CONNECTIONS_URL = "/admin/providers/providerconnection/"
ADD_URL = f"{CONNECTIONS_URL}add/"
ATTACK = {"name": "evil", "base_url": "http://attacker/v1", "api_key_env": "DATABASE_URL", "enabled": "on"}


def connection(**fields: str) -> ProviderConnection:
    return ProviderConnection(name="local", **{"base_url": "https://93.184.215.14/v1", **fields})


def problems(**fields: str) -> dict[str, list[str]]:
    try:
        connection(**fields).full_clean()
    except ValidationError as exc:
        return exc.message_dict
    return {}


@pytest.fixture
def staff_member(db: None) -> User:
    """Staff, not superuser, with every permission on connections: the issue's insider."""
    user = User.objects.create_user("insider@example.com", "correct horse battery", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="providers"))
    return user


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_user(
        "root@example.com", "correct horse battery", is_staff=True, is_superuser=True
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- The key variable -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["DATABASE_URL", "SECRET_KEY", "METRICS_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"]
)
def test_a_server_secret_cannot_be_named_as_a_connection_key(name: str) -> None:
    assert "PROMPTLAB_PROVIDER_" in problems(api_key_env=name)["api_key_env"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["PROMPTLAB_PROVIDER_", "promptlab_provider_x", "PROMPTLAB_PROVIDER_X-Y"])
def test_a_key_variable_needs_the_prefix_and_a_plain_name(name: str) -> None:
    assert "api_key_env" in problems(api_key_env=name)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["", "PROMPTLAB_PROVIDER_VLLM", "PROMPTLAB_PROVIDER_OLLAMA_2"])
def test_prefixed_or_empty_key_variables_are_accepted(name: str) -> None:
    assert problems(api_key_env=name) == {}


# --- The base URL -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://93.184.215.14/v1", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("https://user:secret@93.184.215.14/v1", "user name or password"),
        ("https://token@93.184.215.14/v1", "user name or password"),
        ("https://93.184.215.14/v1#frag", "fragment"),
    ],
)
def test_base_urls_must_be_plain_http_without_credentials_or_fragment(url: str, words: str) -> None:
    assert any(words in message for message in problems(base_url=url)["base_url"])


@pytest.mark.django_db
@override_settings(PROVIDER_ALLOWED_NETWORKS=[])
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:11434/v1",
        "http://localhost:11434/v1",  # a name is judged by what it resolves to
        "http://2130706433/v1",  # 127.0.0.1 written as one number
        "http://[::1]/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://10.0.0.5/v1",
        "http://172.16.3.4/v1",
        "http://192.168.1.10/v1",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/v1",
        "http://0.0.0.0/v1",
        "http://[fd00::1]/v1",
        "http://[fe80::1]/v1",
        # IPv4 carried inside IPv6, which Python calls global: NAT64 and 6to4.
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/v1",  # NAT64 of 127.0.0.1
        "http://[2002:a9fe:a9fe::1]/v1",  # 6to4 of 169.254.169.254
        "http://[2002:0a00:0005::]/v1",  # 6to4 of 10.0.0.5
        "http://[::7f00:1]/v1",  # IPv4-compatible 127.0.0.1
        "http://[::a9fe:a9fe]/v1",  # IPv4-compatible 169.254.169.254
        "http://[64:ff9b:1::5db8:d70e]/v1",  # local-use NAT64: the site's own translators
    ],
)
def test_internal_addresses_are_refused_unless_allowed(url: str) -> None:
    messages = problems(base_url=url)["base_url"]
    assert any("internal address" in message for message in messages), messages


@pytest.mark.django_db
@override_settings(PROVIDER_ALLOWED_NETWORKS=["10.0.0.0/24", "127.0.0.1/32"])
def test_the_allowed_networks_setting_lets_named_networks_through() -> None:
    assert problems(base_url="http://10.0.0.5/v1") == {}
    assert problems(base_url="http://localhost:11434/v1") == {}
    assert "base_url" in problems(base_url="http://10.0.1.5/v1")
    assert "base_url" in problems(base_url="http://169.254.169.254/v1")


@pytest.mark.django_db
def test_a_host_name_that_does_not_resolve_is_refused() -> None:
    assert "does not resolve" in problems(base_url="http://attacker.invalid/v1")["base_url"][-1]


@pytest.mark.django_db
@override_settings(PROVIDER_ALLOWED_NETWORKS=[])
def test_a_public_address_is_accepted() -> None:
    assert problems(base_url="https://93.184.215.14/v1") == {}
    # The same public address through NAT64 and 6to4 is public too.
    assert problems(base_url="https://[64:ff9b::5db8:d70e]/v1") == {}
    assert problems(base_url="https://[2002:5db8:d70e::1]/v1") == {}


@pytest.mark.django_db
def test_editing_a_connection_replaces_its_client_instead_of_adding_one(llm) -> None:
    """One client per connection name: every edit changes the configuration, and the old
    client must go, or a process's clients would grow with every edit, without bound."""
    import providers

    connection = ProviderConnection.objects.create(name="edited", base_url=llm.openai_base_url)
    before = len(providers._instances)
    first = get_provider("edited")
    assert get_provider("edited") is first  # unchanged: reused
    for n in range(5):
        connection.base_url = f"{llm.openai_base_url}?edit={n}"
        connection.save()
        latest = get_provider("edited")
    assert latest is not first
    assert len(providers._instances) == before + 1
    connection.delete()
    with pytest.raises(ProviderError):
        get_provider("edited")
    assert len(providers._instances) == before  # a deleted connection's client is dropped


# --- The admin: who may manage connections, and the log ----------------------------------------------


@pytest.mark.django_db
def test_the_issues_attack_is_refused_even_for_a_superuser(superuser: User) -> None:
    response = signed_in(superuser).post(ADD_URL, ATTACK)
    assert response.status_code == 200  # the form again, with errors
    errors = response.context["adminform"].form.errors
    assert "PROMPTLAB_PROVIDER_" in errors["api_key_env"][0]
    assert errors["base_url"]
    assert not ProviderConnection.objects.exists()


@pytest.mark.django_db
def test_staff_can_view_connections_but_not_add_change_or_delete_them(staff_member: User) -> None:
    existing = ProviderConnection.objects.create(name="local", base_url="http://127.0.0.1:11434/v1")
    client = signed_in(staff_member)
    listing = client.get(CONNECTIONS_URL)
    assert listing.status_code == 200 and b"local" in listing.content
    assert ADD_URL.encode() not in listing.content
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, ATTACK).status_code == 403
    change_url = f"{CONNECTIONS_URL}{existing.pk}/change/"
    assert client.get(change_url).status_code == 200  # read only
    client.post(change_url, {**ATTACK, "name": "local"})
    client.post(f"{CONNECTIONS_URL}{existing.pk}/delete/", {"post": "yes"})
    existing.refresh_from_db()
    assert (existing.base_url, existing.api_key_env) == ("http://127.0.0.1:11434/v1", "")
    assert list(ProviderConnection.objects.values_list("name", flat=True)) == ["local"]
    assert not LogEntry.objects.exists()


@pytest.mark.django_db
def test_signed_in_users_and_visitors_see_no_connections(owner: User) -> None:
    assert signed_in(owner).get(CONNECTIONS_URL).status_code == 302  # to the admin login
    assert Client().get(ADD_URL).status_code == 302


@pytest.mark.django_db
def test_a_superuser_manages_connections_and_every_change_is_logged(
    superuser: User, caplog: pytest.LogCaptureFixture
) -> None:
    client = signed_in(superuser)
    fields = {"name": "local", "base_url": "http://127.0.0.1:11434/v1", "api_key_env": "", "enabled": "on"}
    with caplog.at_level(logging.INFO, logger="providers.admin"):
        assert client.post(ADD_URL, fields).status_code == 302
        made = ProviderConnection.objects.get()
        changed = {**fields, "api_key_env": "PROMPTLAB_PROVIDER_LOCAL"}
        assert client.post(f"{CONNECTIONS_URL}{made.pk}/change/", changed).status_code == 302
        deleted = client.post(f"{CONNECTIONS_URL}{made.pk}/delete/", {"post": "yes"})
        assert deleted.status_code == 302
    assert not ProviderConnection.objects.exists()
    entries = list(LogEntry.objects.order_by("action_time").values_list("action_flag", "user_id"))
    assert entries == [(ADDITION, superuser.pk), (CHANGE, superuser.pk), (DELETION, superuser.pk)]
    lines = [record.getMessage() for record in caplog.records if record.name == "providers.admin"]
    assert [line.split(" by ")[0] for line in lines] == [
        "provider connection local added",
        "provider connection local changed",
        "provider connection local deleted",
    ]
    assert "root@example.com" in lines[1] and "api_key_env=PROMPTLAB_PROVIDER_LOCAL" in lines[1]


# --- Rows written past validation: checked again where the client is built -------------------------


@pytest.mark.django_db
def test_a_row_forced_into_the_database_is_refused_when_its_client_is_built() -> None:
    ProviderConnection.objects.create(name="evil", base_url="http://attacker/v1", api_key_env="DATABASE_URL")
    with pytest.raises(ProviderError) as caught:
        get_provider("evil")
    assert caught.value.code == "connection_refused" and not caught.value.retryable
    assert str(caught.value) == ""  # no address or variable name shown to whoever ran the job


def _template_on(provider: str) -> Template:
    template = Template.objects.create(slug=f"on-{provider}", name=provider, visibility=Visibility.PUBLIC)
    template.create_version(body="Write about {{ topic }}.", parameters=SIMPLE_SCHEMA[:1], provider=provider)
    return template


@pytest.mark.django_db(transaction=True)
def test_a_forced_row_naming_a_server_secret_never_sends_it(client: Client, llm, worker) -> None:
    """The issue's attack past validation: the URL is the (reachable) fake provider, the key
    DATABASE_URL. The run page will not offer it, and a job queued anyway fails in the
    worker before any request is made."""
    os.environ["PROMPTLAB_PROVIDER_CANARY"] = "canary"  # so only the variable's name is wrong
    ProviderConnection.objects.create(name="evil", base_url=llm.openai_base_url, api_key_env="DATABASE_URL")
    template = _template_on("evil")
    page = client.post(template.get_absolute_url(), {"topic": "secrets"})
    assert "not configured here" in page.content.decode()
    assert not Job.objects.exists()
    version = template.published_version
    job = Job.objects.create(
        template_version=version, inputs={"topic": "x"}, input_hash="x" * 64, prompt="p", provider="evil",
        model=version.model,
    )  # fmt: skip
    enqueue_job(job)
    job = wait_until(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.FAILED).first())
    assert job.error_code == "connection_refused"
    assert "outgoing connections" in job.error_text
    assert llm.call_count == 0


REQUEST = GenerationRequest(system_prompt="", prompt="hi", model="m", temperature=0.5, max_tokens=5)


def reply_of(events: Iterable[StreamEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


@pytest.mark.django_db
def test_a_host_name_is_judged_by_the_address_it_connects_to(llm) -> None:
    """A name passes the client-building check (it is not resolved there); the guarded
    transport judges the address it is about to connect to, on every connection, so a
    name that resolves somewhere internal (re-pointed after the save, say) sends nothing."""
    local = llm.openai_base_url.replace("127.0.0.1", "localhost")
    ProviderConnection.objects.create(name="by-name", base_url=local)
    ProviderConnection.objects.create(name="by-name-later", base_url=local)
    assert reply_of(get_provider("by-name").stream(REQUEST)) == DEFAULT_REPLY  # allowed: reached
    with override_settings(PROVIDER_ALLOWED_NETWORKS=[]):
        provider = get_provider("by-name-later")
        with pytest.raises(ProviderError) as caught:
            list(provider.stream(REQUEST))
    assert caught.value.code == "connection_refused" and not caught.value.retryable
    assert llm.call_count == 1


@override_settings(PROVIDER_ALLOWED_NETWORKS=[])
def test_the_guarded_transport_refuses_internal_addresses_before_connecting(llm) -> None:
    with httpx2.Client(transport=GuardedTransport()) as http, pytest.raises(httpx2.ConnectError) as caught:
        http.post(f"{llm.openai_base_url}/chat/completions", json={})
    assert is_refused_address(caught.value)
    assert llm.call_count == 0


@pytest.mark.django_db
def test_refusals_are_translated() -> None:
    with translation.override("pt-br"):
        found = problems(base_url="ftp://10.0.0.1/v1#x", api_key_env="SECRET_KEY")
    assert found["api_key_env"] == [
        "Só variáveis de ambiente cujos nomes começam com PROMPTLAB_PROVIDER_ (letras maiúsculas, dígitos e "
        "sublinhados) podem guardar a chave de uma conexão."
    ]
    assert "A URL base deve começar com http:// ou https://." in found["base_url"]
