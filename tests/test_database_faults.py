"""PostgreSQL faults: connections killed under the live server, and the worker
meeting a database it cannot reach before it has claimed its job."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from django.db import connection

from accounts.models import PersonalToken
from jobs.models import TERMINAL_STATUSES, Job, JobStatus

from .conftest import wait_until

pytestmark = [pytest.mark.needs_postgres, pytest.mark.django_db(transaction=True)]


def terminate_other_backends() -> int:
    """Kill every connection to the test database but this one (only ours: other
    engineers' databases are left alone)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@contextlib.contextmanager
def database_refusing_connections() -> Iterator[None]:
    """No new connection to the test database (superusers included) until the block ends.

    Said from the server's maintenance database: a database can't refuse
    connections from a session of its own."""
    db = connection.settings_dict
    quoted = connection.ops.quote_name(db["NAME"])
    params = {"host": db.get("HOST") or "localhost", "port": db.get("PORT") or 5432, "user": db.get("USER")}
    params["password"] = db.get("PASSWORD") or None
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        admin.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS false")
        try:
            yield
        finally:
            admin.execute(f"ALTER DATABASE {quoted} ALLOW_CONNECTIONS true")


def test_site_answers_every_request_after_its_database_connections_are_killed(
    live_server_url: str, make_template, owner
) -> None:
    template = make_template()
    _token, raw = PersonalToken.issue(owner, "script")
    pages = ["/", template.get_absolute_url(), "/api/v1/templates", "/api/v1/auth/me", "/health/"]
    headers = {"Authorization": f"Bearer {raw}"}
    with httpx.Client(base_url=live_server_url, timeout=10, headers=headers) as client:
        # Warm the server's pool: several connections open and idle in it.
        expected = {page: client.get(page).status_code for page in pages for _ in range(3)}
        assert set(expected.values()) == {200}
        assert terminate_other_backends() > 0
        answers = [(page, client.get(page).status_code) for _ in range(5) for page in pages]
    assert [answer for answer in answers if answer[1] != 200] == []


def test_site_answers_every_request_while_its_database_connections_are_killed_repeatedly(
    live_server_url: str, make_template, owner
) -> None:
    """Connections killed while requests are in flight: reads are retried once on a fresh one."""
    owner.plan = "enterprise"  # 10,000 API requests a minute: this test is not about rate limits
    owner.save()
    template = make_template()
    _token, raw = PersonalToken.issue(owner, "script")
    pages = ["/", template.get_absolute_url(), "/api/v1/templates", "/api/v1/auth/me"]
    headers = {"Authorization": f"Bearer {raw}"}
    answers: list[tuple[str, int]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=live_server_url, timeout=10, headers=headers) as client:
            while not stop.is_set():
                for page in pages:
                    answers.append((page, client.get(page).status_code))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()

    def twenty_more_answers() -> None:
        target = len(answers) + 20
        wait_until(lambda: len(answers) >= target, timeout=20)

    try:
        for _ in range(8):
            twenty_more_answers()
            terminate_other_backends()
        twenty_more_answers()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert [answer for answer in answers if answer[1] != 200] == []


def test_job_whose_worker_cannot_reach_the_database_before_its_claim_is_retried_and_runs(
    client, make_template, owner, worker
) -> None:
    client.force_login(owner)
    template = make_template()
    before = worker.log().count("Retry in")
    with database_refusing_connections():
        # The worker's pooled connections die, and it cannot open new ones: its
        # task raises OperationalError before it can claim the job. This test's
        # own connection stays open and submits.
        terminate_other_backends()
        client.post(template.get_absolute_url(), {"topic": "outage", "count": "2"})
        job = Job.objects.get()
        wait_until(lambda: worker.log().count("Retry in") > before, timeout=30)
        assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    job = wait_until(lambda: Job.objects.filter(pk=job.pk, status__in=TERMINAL_STATUSES).first(), timeout=60)
    assert job.status == JobStatus.SUCCEEDED, job.error_text
    assert job.attempts == 1


def test_writes_answer_a_translated_503_not_a_500_while_the_database_refuses_connections(
    live_server_url: str, make_template, owner
) -> None:
    template = make_template()
    _token, raw = PersonalToken.issue(owner, "script")
    form = httpx.Client(base_url=live_server_url, timeout=30, headers={"Accept-Language": "pt-br"})
    api = httpx.Client(base_url=live_server_url, timeout=30, headers={"Authorization": f"Bearer {raw}"})
    with form, api:
        page = form.get(template.get_absolute_url())
        assert page.status_code == 200
        csrf = form.cookies["csrftoken"]
        answers: dict[str, httpx.Response] = {}

        def post_form() -> None:
            answers["form"] = form.post(
                template.get_absolute_url(),
                data={"topic": "outage", "count": "2", "csrfmiddlewaretoken": csrf},
                headers={"Referer": live_server_url + template.get_absolute_url()},
            )

        def post_api() -> None:
            answers["api"] = api.post(
                f"/api/v1/templates/{template.slug}/generate",
                json={"inputs": {"topic": "outage", "count": 2}},
            )

        with database_refusing_connections():
            # The server's pooled connections die and no new one opens: the pool
            # gives up after its timeout (PoolTimeout, an OperationalError).
            # pg_terminate_backend only signals, and a connection that was starting up
            # as connections were refused may still come in: kill until none is left.
            wait_until(lambda: terminate_other_backends() == 0, timeout=10)
            threads = [threading.Thread(target=post) for post in (post_form, post_api)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert answers["form"].status_code == 503, answers["form"].text[:500]
    assert answers["form"].headers["Retry-After"] == "5"
    assert "indisponível por um instante" in answers["form"].text
    assert answers["api"].status_code == 503, answers["api"].text[:500]
    assert answers["api"].json()["error"]["code"] == "service_unavailable"
    assert not Job.objects.exists()


def test_one_dead_pooled_connection_makes_the_pool_check_all_its_idle_ones() -> None:
    """The pool-wide check of promptlab.pg_pool, which leans on how psycopg_pool and
    Django expose the pool: if either changes, this fails rather than the check
    silently no longer running."""
    pool = connection.pool
    assert pool is not None
    idle = [pool.getconn() for _ in range(4)]
    for conn in idle:
        pool.putconn(conn)
    terminate_other_backends()  # the four idle connections die (this test's own stays)
    started = time.monotonic()
    conn = pool.getconn()
    try:
        # Drawn one by one, each dead connection would cost a failed check and a
        # growing pause (1 s, 2 s, 4 s: seven seconds); checking them all at the
        # first failure costs one pause.
        assert time.monotonic() - started < 3
        conn.execute("SELECT 1")
    finally:
        pool.putconn(conn)
