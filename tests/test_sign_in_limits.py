"""Sign-in throttling at every door (the site's login, the API's token endpoints, the
admin's login): failures are counted, not successes; an account backs off rather than
locking its owner out; X-Forwarded-For is believed only from configured proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from promptlab import ratelimits

from .conftest import BASE_DIR, ServiceProcess, _free_port, start_web_server, wait_until

PASSWORD = "correct horse battery"


def site_sign_in(client: Client, email: str, password: str, address: str, **headers: Any) -> int:
    response = client.post(
        reverse("accounts:login"), {"username": email, "password": password}, REMOTE_ADDR=address, **headers
    )
    return response.status_code


def api_sign_in(client: Client, email: str, password: str, address: str, **headers: Any) -> int:
    response = client.post(
        "/api/v1/auth/token",
        {"email": email, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
        **headers,
    )
    return response.status_code


def admin_sign_in(client: Client, email: str, password: str, address: str, **headers: Any) -> int:
    data = {"username": email, "password": password}
    return client.post("/admin/login/?next=/admin/", data, REMOTE_ADDR=address, **headers).status_code


SIGNED_IN = {site_sign_in: 302, api_sign_in: 200, admin_sign_in: 302}
WRONG = {site_sign_in: 200, api_sign_in: 401, admin_sign_in: 200}


@pytest.fixture
def long_first_wait(monkeypatch: pytest.MonkeyPatch) -> int:
    """A first backoff longer than any test, so that what is refused does not depend
    on how fast this machine answers."""
    monkeypatch.setattr(ratelimits, "BACKOFF_FIRST_WAIT_SECONDS", 120)
    return 120


DOORS = pytest.mark.parametrize(
    "sign_in", [site_sign_in, api_sign_in, admin_sign_in], ids=["site", "api", "admin"]
)


def test_the_backoff_is_free_at_first_then_doubles_up_to_a_cap() -> None:
    free = ratelimits.BACKOFF_FREE_FAILURES
    assert [ratelimits.backoff_wait(n) for n in range(free + 1)] == [0] * (free + 1)
    assert [ratelimits.backoff_wait(free + n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert ratelimits.backoff_wait(free + 1000) == ratelimits.BACKOFF_MAX_WAIT_SECONDS


@pytest.mark.django_db
@DOORS
def test_twelve_honest_people_behind_one_address_all_sign_in(sign_in: Callable[..., int]) -> None:
    people = [
        User.objects.create_user(f"person{n}@example.com", PASSWORD, is_staff=sign_in is admin_sign_in)
        for n in range(12)
    ]
    statuses = [sign_in(Client(), person.email, PASSWORD, "198.51.100.20") for person in people]
    assert statuses == [SIGNED_IN[sign_in]] * 12


@pytest.mark.django_db
@DOORS
def test_failures_from_one_address_are_limited_whichever_accounts_they_name(
    sign_in: Callable[..., int],
) -> None:
    client = Client()
    statuses = [sign_in(client, f"guess{n}@example.com", "wrong", "198.51.100.30") for n in range(11)]
    assert statuses == [WRONG[sign_in]] * 10 + [429]
    # The refusal is not a failure of the next address along.
    assert sign_in(client, "guess0@example.com", "wrong", "198.51.100.31") == WRONG[sign_in]


@pytest.mark.django_db
@DOORS
def test_ten_wrong_passwords_from_ten_addresses_leave_the_owner_able_to_sign_in(
    sign_in: Callable[..., int], long_first_wait: int
) -> None:
    owner = User.objects.create_user("victim@example.com", PASSWORD, is_staff=True)
    home = "192.0.2.10"
    assert sign_in(Client(), owner.email, PASSWORD, home) == SIGNED_IN[sign_in]  # signed in here before

    guesses = [sign_in(Client(), owner.email, f"guess {n}", f"203.0.113.{n}") for n in range(10)]
    # The guesser is slowed: past the free failures, one guess per (doubling) wait.
    free = ratelimits.BACKOFF_FREE_FAILURES
    assert guesses == [WRONG[sign_in]] * (free + 1) + [429] * (10 - free - 1)
    assert sign_in(Client(), owner.email, "guess 11", "203.0.113.99") == 429

    # …but the owner, from an address the account signed in from, is not locked out.
    assert sign_in(Client(), owner.email, PASSWORD, home) == SIGNED_IN[sign_in]


@pytest.mark.django_db
@pytest.mark.needs_postgres  # whose case-insensitive match (UPPER) folds ı to I and ſ to S
@DOORS
def test_spellings_the_lookup_matches_share_the_accounts_backoff(
    sign_in: Callable[..., int], long_first_wait: int
) -> None:
    """``alıce@…`` and ``ſam``-style spellings sign in to the same account (the lookup
    matches them), so they must count against its backoff, not each get fresh failures."""
    owner = User.objects.create_user("alice.sam@example.com", PASSWORD, is_staff=True)
    spellings = [
        "alıce.sam@example.com",  # dotless i
        "alice.ſam@example.com",  # long s
        "ALIce.SAM@example.com",
        "alıce.ſam@example.com",
    ]
    assert sign_in(Client(), spellings[0], PASSWORD, "192.0.2.50") == SIGNED_IN[sign_in]  # the same account
    free = ratelimits.BACKOFF_FREE_FAILURES
    guesses = [sign_in(Client(), spellings[n % 4], f"guess {n}", f"203.0.113.{n}") for n in range(free + 3)]
    assert guesses == [WRONG[sign_in]] * (free + 1) + [429, 429]
    assert sign_in(Client(), owner.email, "guess", "203.0.113.99") == 429


@pytest.mark.django_db
@pytest.mark.needs_postgres
def test_registration_mails_per_address_count_every_spelling_of_it(mailoutbox) -> None:
    """Registration finds the account the same way (``email__iexact``) and mails its owner:
    each spelling must not get its own five e-mails an hour to the same inbox."""
    owner = User.objects.create_user("alice.sam@example.com", PASSWORD)
    spellings = ["alıce.sam@example.com", "alice.ſam@example.com", "ALICE.sam@example.com"]
    statuses = [
        Client()
        .post(
            "/api/v1/auth/register",
            {"email": spellings[n % 3]},
            content_type="application/json",
            REMOTE_ADDR=f"203.0.113.{n}",
        )
        .status_code
        for n in range(6)
    ]
    assert statuses == [202] * 5 + [429]
    assert [mail.to for mail in mailoutbox] == [[owner.email]] * 5


@pytest.mark.django_db
def test_a_refused_attempt_never_checks_the_password(long_first_wait: int) -> None:
    """During the wait the right password is not evaluated either: otherwise the refusal
    page would tell a guesser which of its guesses was right."""
    owner = User.objects.create_user("quiet@example.com", PASSWORD)
    for n in range(ratelimits.BACKOFF_FREE_FAILURES + 1):
        site_sign_in(Client(), owner.email, f"guess {n}", f"203.0.113.{n}")
    client = Client()
    response = client.post(
        reverse("accounts:login"),
        {"username": owner.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.50",
        HTTP_ACCEPT_LANGUAGE="pt-BR",
    )
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    page = response.content.decode()
    assert "Falhas demais ao entrar" in page and "_auth_user_id" not in client.session
    owner.refresh_from_db()
    assert owner.last_login is None


@pytest.mark.django_db
def test_the_api_refusal_is_a_translated_429_with_retry_after(client: Client, long_first_wait: int) -> None:
    for n in range(ratelimits.BACKOFF_FREE_FAILURES + 1):
        api_sign_in(client, "nobody@example.com", "wrong", f"203.0.113.{n}")
    response = client.post(
        "/api/v1/auth/token",
        {"email": "nobody@example.com", "password": "wrong"},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.60",
        HTTP_ACCEPT_LANGUAGE="pt-BR",
    )
    assert response.status_code == 429 and 1 < int(response["Retry-After"]) <= long_first_wait
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and error["message"].startswith("Falhas demais ao entrar")


@pytest.mark.django_db
def test_each_failure_past_the_free_ones_doubles_the_wait(client: Client, monkeypatch) -> None:
    """An account that does not exist backs off as an existing one does."""
    monkeypatch.setattr(ratelimits, "BACKOFF_FIRST_WAIT_SECONDS", 3)
    free = ratelimits.BACKOFF_FREE_FAILURES
    for n in range(free + 1):
        assert api_sign_in(client, "ghost@example.com", "wrong", f"203.0.113.{n}") == 401

    def next_guess() -> int:
        return api_sign_in(client, "ghost@example.com", "wrong", "203.0.113.70")

    def retry_after() -> int:
        response = client.post(
            "/api/v1/auth/token",
            {"email": "ghost@example.com", "password": "wrong"},
            content_type="application/json",
            REMOTE_ADDR="203.0.113.71",
        )
        assert response.status_code == 429
        return int(response["Retry-After"])

    assert 1 <= retry_after() <= 3
    wait_until(lambda: next_guess() == 401, timeout=10, interval=0.2)  # refused polls are not failures
    assert 3 < retry_after() <= 6


# --- X-Forwarded-For, through the real web server -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(live_server_url: str) -> None:
    statuses = [
        httpx.post(
            f"{live_server_url}/api/v1/auth/token",
            json={"email": f"spoof{n}@example.com", "password": "wrong"},
            headers={"X-Forwarded-For": f"10.1.2.{n}"},
        ).status_code
        for n in range(11)
    ]
    assert statuses == [401] * 10 + [429]


def _procfile_web_command() -> str:
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("the Procfile has no web process")


@pytest.fixture
def procfile_web_server(service_log_dir: Path) -> Iterator[Callable[..., str]]:
    """The Procfile's own web command (what `make run` serves), with the given environment."""
    servers: list[ServiceProcess] = []

    def start(**env: str) -> str:
        port = _free_port()
        server, url = start_web_server(
            service_log_dir,
            f"procfile-web-{port}",
            command=["sh", "-c", _procfile_web_command()],
            port=port,
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_WORKERS="1",
            **env,
        )
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.stop()


@pytest.mark.django_db(transaction=True)
def test_the_procfile_server_believes_forwarded_for_only_from_configured_proxies(
    procfile_web_server: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)

    def failures(url: str, prefix: str) -> list[int]:
        return [
            httpx.post(
                f"{url}/api/v1/auth/token",
                json={"email": f"{prefix}{n}@example.com", "password": "wrong"},
                headers={"X-Forwarded-For": f"10.9.{len(prefix)}.{n}"},
            ).status_code
            for n in range(11)
        ]

    # Unset: nobody's header is believed; all eleven come from this one peer.
    assert failures(procfile_web_server(), "a") == [401] * 10 + [429]
    # Behind a configured proxy (here, this machine), each client has its own count.
    assert failures(procfile_web_server(FORWARDED_ALLOW_IPS="127.0.0.1"), "bb") == [401] * 11


@pytest.mark.django_db
def test_the_admin_login_refuses_with_the_reason_on_its_own_page(staff: User, long_first_wait: int) -> None:
    for n in range(ratelimits.BACKOFF_FREE_FAILURES + 1):
        assert admin_sign_in(Client(), staff.email, f"guess {n}", f"203.0.113.{n}") == 200
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": staff.email, "password": PASSWORD},
        REMOTE_ADDR="203.0.113.40",
        HTTP_ACCEPT_LANGUAGE="pt-BR",
    )
    assert response.status_code == 429 and int(response["Retry-After"]) > 1
    assert "Falhas demais ao entrar" in response.content.decode()
    assert "_auth_user_id" not in client.session  # the right password was not evaluated


@pytest.mark.django_db
@pytest.mark.parametrize("sign_in", [site_sign_in, admin_sign_in], ids=["site", "admin"])
def test_the_owners_browser_on_a_new_address_is_not_held_back_either(
    sign_in: Callable[..., int], long_first_wait: int
) -> None:
    owner = User.objects.create_user("traveller@example.com", PASSWORD, is_staff=True)
    browser = Client()
    assert sign_in(browser, owner.email, PASSWORD, "192.0.2.20") == SIGNED_IN[sign_in]
    browser.post(reverse("accounts:logout"))
    for n in range(10):
        sign_in(Client(), owner.email, f"guess {n}", f"203.0.113.{n}")

    # The same browser, now on another network, with the cookie of its last sign-in:
    assert sign_in(browser, owner.email, PASSWORD, "198.51.100.200") == SIGNED_IN[sign_in]
    # A browser without one (or with a forged one) waits, as a guesser does.
    stranger = Client()
    stranger.cookies[ratelimits.DEVICE_COOKIE] = "forged:value"
    assert sign_in(stranger, owner.email, PASSWORD, "198.51.100.201") == 429


# --- The rate-limit headers: the same on the site's pages and the API -------------------

RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.mark.django_db
def test_a_form_run_carries_the_rate_limit_headers_and_a_refusal_its_retry_after(
    client: Client, make_template, monkeypatch
) -> None:
    monkeypatch.setattr(ratelimits, "ANONYMOUS_RATES", ("2/m", "100/h"))
    url = make_template().get_absolute_url()
    page = client.get(url, REMOTE_ADDR="192.0.2.70")
    assert not any(header in page for header in RATE_HEADERS)  # reading the form is not a run
    data = {"topic": "x", "count": "1"}
    first, second, refused = (client.post(url, data, REMOTE_ADDR="192.0.2.70") for _ in range(3))
    assert first.status_code == 302 and first["X-RateLimit-Limit"] == "2"
    assert first["X-RateLimit-Remaining"] == "1" and second["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in second
    assert refused.status_code == 429 and refused["X-RateLimit-Remaining"] == "0"
    assert int(refused["Retry-After"]) >= 1 and int(refused["X-RateLimit-Reset"]) > 0


@pytest.mark.django_db
def test_the_api_and_the_site_refuse_a_sign_in_with_the_same_headers(
    client: Client, long_first_wait: int
) -> None:
    for n in range(ratelimits.BACKOFF_FREE_FAILURES + 1):
        api_sign_in(client, "nobody@example.com", "wrong", f"203.0.113.{n}")
    refusals = [
        client.post(
            "/api/v1/auth/token",
            {"email": "nobody@example.com", "password": "wrong"},
            content_type="application/json",
            REMOTE_ADDR="203.0.113.61",
        ),
        client.post(
            reverse("accounts:login"),
            {"username": "nobody@example.com", "password": "wrong"},
            REMOTE_ADDR="203.0.113.62",
        ),
    ]
    for response in refusals:
        assert response.status_code == 429
        assert response["X-RateLimit-Limit"] == str(ratelimits.BACKOFF_FREE_FAILURES)
        assert response["X-RateLimit-Remaining"] == "0" and int(response["Retry-After"]) >= 1


@pytest.mark.django_db
def test_the_admin_login_and_the_site_registration_refuse_with_the_rate_limit_headers(
    client: Client, staff: User, long_first_wait: int
) -> None:
    for n in range(ratelimits.BACKOFF_FREE_FAILURES + 1):
        admin_sign_in(Client(), staff.email, f"guess {n}", f"203.0.113.{n}")
    admin = client.post(
        "/admin/login/?next=/admin/", {"username": staff.email, "password": "x"}, REMOTE_ADDR="203.0.113.63"
    )
    assert admin.status_code == 429 and admin["X-RateLimit-Limit"] == str(ratelimits.BACKOFF_FREE_FAILURES)
    registrations = [
        client.post(reverse("accounts:register"), {"email": f"new{n}@example.com"}, REMOTE_ADDR="192.0.2.80")
        for n in range(11)
    ]
    assert "X-RateLimit-Limit" not in registrations[0]  # an admitted one: as before, no headers
    refused = registrations[-1]
    assert refused.status_code == 429 and refused["X-RateLimit-Limit"] == "10"
    assert refused["X-RateLimit-Remaining"] == "0" and int(refused["Retry-After"]) >= 1
    assert int(refused["X-RateLimit-Reset"]) > 0
