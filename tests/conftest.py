"""Shared fixtures: users, templates, and the real moving parts.

``worker`` starts a real Celery worker process and ``live_server_url`` a real
uvicorn process serving promptlab.asgi (the same entry point `make run` uses),
both on the test database and the configured broker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import OperationalError

from accounts.models import User
from templates_app.models import Template, Visibility

from .fakes.llm_server import FakeLLMServer

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# tests make around it are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

BASE_DIR = Path(__file__).resolve().parent.parent
HAS_REDIS = bool(settings.REDIS_URL)
HAS_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_redis = pytest.mark.skip(reason="needs Redis: REDIS_URL is not set (embedded defaults)")
    skip_postgres = pytest.mark.skip(reason="needs PostgreSQL: DATABASE_URL is not set (embedded defaults)")
    for item in items:
        if "needs_redis" in item.keywords and not HAS_REDIS:
            item.add_marker(skip_redis)
        if "needs_postgres" in item.keywords and not HAS_POSTGRES:
            item.add_marker(skip_postgres)


def wait_until(predicate: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate`` returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Rate-limit counters and cached API principals live in the shared cache; start every
    test with none."""
    from django.core.cache import cache

    if HAS_REDIS:
        client = cache._cache.get_client()  # type: ignore[attr-defined]
        keys = [
            key for pattern in ("*:rl:*", "*:auth:*") for key in client.scan_iter(match=pattern, count=1000)
        ]
        if keys:
            client.delete(*keys)
    else:
        # Tests without database access can't reach the cache table; they
        # can't be rate limited either.
        with contextlib.suppress(Exception):
            cache.clear()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """A request's LocaleMiddleware leaves its language active in the thread: a test
    whose last request asked for Portuguese must not hand it to the next test."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete() -> Iterator[None]:
    """After each transactional test Django empties every table with one TRUNCATE of all
    of them, which PostgreSQL makes dear however few rows they hold (new files for each
    table and index): ~0.3 s a test here. DELETE of the same tables, in the flush's one
    transaction, costs a few milliseconds and leaves the same state: every table empty,
    sequences not reset (Django doesn't reset them either unless asked), and post_migrate
    still recreating the content types and permissions. The foreign keys Django makes on
    PostgreSQL are checked at commit (DEFERRABLE INITIALLY DEFERRED), so the order does
    not matter. Flushes that reset sequences or cascade (available_apps) keep TRUNCATE."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    truncate = DatabaseOperations.sql_flush

    def sql_flush(
        self: DatabaseOperations,
        style: Any,
        tables: list[str],
        *,
        reset_sequences: bool = False,
        allow_cascade: bool = False,
    ) -> list[str]:
        if reset_sequences or allow_cascade:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return [f"DELETE FROM {self.quote_name(table)};" for table in tables]

    flush = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        # A worker may still be finishing the test's last job (a cancel winding down): its
        # transaction and the DELETEs lock the same rows in another order, and PostgreSQL
        # ends one of the two as a deadlock. When it picks the flush, whose transaction it
        # rolled back whole, the flush runs again (the worker's change has committed).
        for attempt in range(5):
            try:
                return flush(self, sql_list)
            except OperationalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != "40P01" or attempt == 4:
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        patch.setattr(DatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


# --- Data ---------------------------------------------------------------------


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("owner@example.com", "correct horse battery")


@pytest.fixture
def other_user(db: None) -> User:
    return User.objects.create_user("other@example.com", "correct horse battery")


SIMPLE_SCHEMA = [
    {"name": "topic", "type": "string", "label": {"en": "Topic", "pt": "Assunto"}, "max_length": 50},
    {"name": "count", "type": "integer", "label": "Count", "min": 1, "max": 5, "default": 3},
]


@pytest.fixture
def make_template(db: None) -> Callable[..., Template]:
    def make(
        *,
        slug: str = "haiku",
        owner: User | None = None,
        visibility: str = Visibility.PUBLIC,
        parameters: list[dict[str, Any]] | None = None,
        body: str = "Write {{ count }} lines about {{ topic }}.",
    ) -> Template:
        template = Template.objects.create(slug=slug, name=slug.title(), owner=owner, visibility=visibility)
        template.create_version(
            body=body, parameters=SIMPLE_SCHEMA if parameters is None else parameters, author=owner
        )
        return template

    return make


# --- Processes ----------------------------------------------------------------


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if "sqlite" in db["ENGINE"]:
        return f"sqlite:///{db['NAME']}"
    from urllib.parse import quote

    credentials = quote(db.get("USER") or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    host = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}"


def _service_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "promptlab.settings_test",
        "DATABASE_URL": _database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


class ServiceProcess:
    """A child process whose output goes to a log file the tests can read."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            args, cwd=BASE_DIR, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60.0) -> None:
        def ready() -> Any:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log()[-3000:]}")
            return predicate()

        wait_until(ready, timeout=timeout, interval=0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def service_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


def start_worker(
    log_dir: Path, name: str = "worker", *, queues: str = "generation,batches,workflows,celery", **env: str
) -> ServiceProcess:
    worker = ServiceProcess(
        name,
        [
            sys.executable, "-m", "celery", "-A", "promptlab", "worker", "--loglevel", "INFO",
            "--queues", queues, "--concurrency", "2", "--without-gossip", "--without-mingle",
            "--hostname", f"{name}-{os.getpid()}@%h",
        ],
        _service_env(OFFLINE_PROVIDER_DELAY=os.environ.get("TEST_OFFLINE_DELAY", "0.03"), **env),
        log_dir,
    )  # fmt: skip
    worker.wait_for(lambda: " ready." in worker.log())
    return worker


DEFAULT_REPLY = "Crisp leaves drift down; the river carries autumn past the sleeping town."


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    """One fake provider server speaking Anthropic's and OpenAI's wire protocols.

    The SDKs find it through their own environment variables, in this process
    (which checks that a provider is configured) and in the worker's.
    """
    server = FakeLLMServer(reply=DEFAULT_REPLY).start()
    settings_env = {
        "ANTHROPIC_API_KEY": "test-anthropic-key",
        "ANTHROPIC_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "test-openai-key",
        "OPENAI_BASE_URL": server.openai_base_url,
    }
    previous = {name: os.environ.get(name) for name in settings_env}
    os.environ.update(settings_env)
    yield server
    server.stop()
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def forget_provider_health() -> None:
    """No open circuit breaker or rate-limit hold left by an earlier test.

    Without Redis they live in the database cache, which every test starts without.
    """
    if HAS_REDIS:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match="*:breaker:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def llm(fake_llm: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The fake provider, with no leftover script, calls, or open circuit."""
    fake_llm.reset(reply=DEFAULT_REPLY)
    forget_provider_health()
    yield fake_llm
    fake_llm.reset()


# The test worker's circuit breaker: tests that read or seed its state from this
# process use the same values (the ``breaker_settings`` fixture).
WORKER_BREAKER_SETTINGS = {
    "PROVIDER_BREAKER_FAIL_MAX": 5,
    "PROVIDER_BREAKER_RESET_TIMEOUT": 8.0,
    "PROVIDER_BREAKER_WINDOW": 6.0,
}


@pytest.fixture
def breaker_settings(settings: Any) -> Any:
    forget_provider_health()
    for name, value in WORKER_BREAKER_SETTINGS.items():
        setattr(settings, name, value)
    return settings


@pytest.fixture(scope="session")
def worker(
    django_db_setup: None, django_db_blocker: Any, service_log_dir: Path, fake_llm: FakeLLMServer
) -> Iterator[ServiceProcess]:
    """A real Celery worker process on the test database and the real broker."""
    process = start_worker(
        service_log_dir,
        JOB_RETRY_DELAYS="0.2,0.4,0.8",
        PROVIDER_READ_TIMEOUT="2",
        **{name: str(value) for name, value in WORKER_BREAKER_SETTINGS.items()},
        JOB_LEASE_SECONDS="2",
        # A pool that can't get a connection gives up in 4 s, not 10 (promptlab/settings_test.py):
        # the claim's retry once the database refuses connections (test_database_faults.py).
        TEST_DATABASE_POOL_TIMEOUT="4",
        # Webhook retries a test can wait for (the schedule is hours long).
        WEBHOOKS_RETRY_DELAYS="0.2,0.2,0.2",
    )
    yield process
    process.stop()


@pytest.fixture(scope="session")
def live_server_url(
    django_db_setup: None, django_db_blocker: Any, service_log_dir: Path, worker: ServiceProcess
) -> Iterator[str]:
    """uvicorn serving promptlab.asgi, as `make run` does."""
    server, url = start_web_server(service_log_dir)
    yield url
    server.stop()


def start_web_server(
    log_dir: Path, name: str = "web", *, command: list[str] | None = None, port: int | None = None, **env: str
) -> tuple[ServiceProcess, str]:
    """A uvicorn process serving promptlab.asgi on a free port, once /health/ answers
    (200, or 503 while a service it reports on is down). ``command`` replaces the
    default uvicorn command line (it must serve on ``port``)."""
    port = port or _free_port()
    args = command or [
        sys.executable, "-m", "uvicorn", "promptlab.asgi:application", "--host", "127.0.0.1",
        "--port", str(port), "--no-access-log",
        # As the Procfile: X-Forwarded-For believed only from configured proxies.
        "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", ""),
    ]  # fmt: skip
    server = ServiceProcess(name, args, _service_env(**env), log_dir)
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/health/", timeout=1).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    server.wait_for(answers)
    return server, url


# --- Browser ------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not on PATH; `make test` installs it.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


AXE_SOURCE = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def assert_accessible(page: Any, *, vendored: str = "", vendored_rules: tuple[str, ...] = ()) -> None:
    """Run axe-core on the page as it is now; fail listing every violation.

    ``vendored``: a selector for markup a vendored library writes (Swagger UI), where only
    ``vendored_rules`` are not checked; they still are everywhere else on the page."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluate, not add_script_tag: the page's CSP forbids inline scripts.
        page.evaluate(AXE_SOURCE.read_text())
    runs = [("document", {"resultTypes": ["violations"]})]
    if vendored and vendored_rules:
        off = {rule: {"enabled": False} for rule in vendored_rules}
        runs = [
            ("document", {"resultTypes": ["violations"], "rules": off}),
            ({"exclude": [[vendored]]}, {"resultTypes": ["violations"], "runOnly": list(vendored_rules)}),
        ]
    violations = []
    for context, options in runs:
        result = page.evaluate(
            "async ([where, options]) => await axe.run(where === 'document' ? document : where, options)",
            [context, options],
        )
        violations += [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
            for v in result["violations"]
        ]
    assert not violations, f"axe-core violations on {page.url}:\n" + "\n".join(violations)


# --- Themes, versions and the editor -------------------------------------------


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user(
        "staff@example.com", "correct horse battery", is_staff=True, is_superuser=True
    )


@pytest.fixture
def signed_in_page(browser: Any, live_server_url: str) -> Iterator[Any]:
    """Open pages signed in as a user; any console error (a CSP violation included) fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(user: User | None, locale: str = "en-US", **options: Any) -> Any:
        context = browser.new_context(locale=locale, **options)
        if user is not None:
            from django.test import Client

            client = Client()
            client.force_login(user)
            host = live_server_url.split("//")[1].split(":")[0]
            cookie = {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "domain": host,
                "path": "/",
            }
            context.add_cookies([cookie])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"browser console errors: {errors}"
