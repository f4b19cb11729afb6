"""Batch files, the web process's side: the time from an upload to its validation table,
and the memory an upload and an export cost, at 1,000 and 10,000 rows (bounded: the
ratio between the sizes should stay near 1× while the file grows 10×).

Each measurement runs in a fresh process of its own (this script calls itself), through
Django's WSGI handler as the dispatcher serves pages, signed in by a session cookie:

- upload: POST of a CSV to a template's "Run on a file" page (the rows are read and
  checked, a draft is made), then GET of the review page it redirects to (the validation
  table and the estimate) — the time of both, and the memory of both;
- export: GET of a finished batch's results as CSV and as XLSX, the streamed body read
  to its end chunk by chunk and dropped, as a client would.

Memory is given two ways: the peak of Python's allocations during the request
(tracemalloc), and the growth of the process's resident set high-water mark (VmHWM,
reset through /proc/self/clear_refs just before the request; native allocations such as
openpyxl's count there too).

    DATABASE_URL=… .venv/bin/python bench/batch_files.py [--sizes 1000,10000]

It uses a database of its own (BENCH_BATCH_DB, default promptlab_batch_bench, on the
server of DATABASE_URL), migrated at the start and left for the next run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
BASE = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
DB = os.environ.get("BENCH_BATCH_DB", "promptlab_batch_bench")
os.environ["DATABASE_URL"] = f"{BASE}/{DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ["RATELIMIT_ENABLE"] = "0"
os.environ["ALLOWED_HOSTS"] = "testserver"
os.environ.setdefault("LOG_LEVEL", "WARNING")
# No worker runs: the web process is measured; the draft is never started, and the
# exported batch's rows are written finished.
os.environ.pop("REDIS_URL", None)

PARAMETERS = [
    {"name": "topic", "type": "string", "label": {"en": "Topic", "pt": "Assunto"}, "max_length": 200},
    {"name": "count", "type": "integer", "label": "Count", "min": 1, "max": 5, "default": 3},
]
# A CSRF secret of the form Django makes, sent as its cookie and its header (as a page would).
CSRF_SECRET = "b" * 32
OUTPUT = "Crisp leaves drift down; the river carries autumn past the sleeping town. " * 3


def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_hwm() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _request(app: Any, method: str, path: str, cookie: str, body: bytes = b"", content_type: str = "") -> Any:
    from django.core.handlers.wsgi import WSGIHandler  # noqa: F401 - the handler type

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "HTTP_COOKIE": f"{cookie}; csrftoken={CSRF_SECRET}",
        "HTTP_X_CSRFTOKEN": CSRF_SECRET,
        "HTTP_ACCEPT_LANGUAGE": "en",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": content_type,
        "REMOTE_ADDR": "127.0.0.1",
    }
    statuses: list[str] = []
    headers: list[Any] = []

    def start_response(status: str, response_headers: Any, *_: Any) -> None:
        statuses.append(status)
        headers.extend(response_headers)

    size = 0
    for chunk in app(environ, start_response):
        size += len(chunk)  # read to the end and dropped, as a client reading the stream
    return int(statuses[0].split()[0]), dict(headers), size


def _setup(rows: int) -> tuple[Any, Any, Any, str]:
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client

    from templates_app.models import Template, Visibility

    suffix = f"{rows}-{os.getpid()}"
    user = get_user_model().objects.create_user(f"bench-{suffix}@example.com", "x", plan="enterprise")
    template = Template.objects.create(
        slug=f"bench-{suffix}", name="Bench", owner=user, visibility=Visibility.PRIVATE
    )
    template.create_version(
        body="Write {{ count }} lines about {{ topic }}.", parameters=PARAMETERS, author=user
    )
    client = Client()
    client.force_login(user)
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    return WSGIHandler(), user, template, cookie


def _csv(rows: int) -> bytes:
    lines = ["topic,count"] + [f"a topic numbered {n} for the benchmark,{1 + n % 5}" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def measure_upload(rows: int) -> dict[str, Any]:
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    app, _user, template, cookie = _setup(rows)

    def body_of(count: int) -> bytes:
        upload = io.BytesIO(_csv(count))
        upload.name = "rows.csv"
        fields = {"file": upload, "concurrency": "4", "config-TOTAL_FORMS": "0", "config-INITIAL_FORMS": "0"}
        return encode_multipart(BOUNDARY, fields)

    # A first upload of two rows: imports, URL patterns and compiled templates are then
    # loaded, as in a web process that has served pages before.
    _, headers, _ = _request(app, "POST", f"/t/{template.slug}/batch/", cookie, body_of(2), MULTIPART_CONTENT)
    _request(app, "GET", headers["Location"], cookie)
    body = body_of(rows)
    tracemalloc.start()
    tracemalloc.reset_peak()
    _reset_hwm()
    before = _hwm_kb()
    start = time.perf_counter()
    status, headers, _ = _request(app, "POST", f"/t/{template.slug}/batch/", cookie, body, MULTIPART_CONTENT)
    if status != 302:
        raise SystemExit(f"the upload answered {status}")
    review = headers["Location"]
    status, _, size = _request(app, "GET", review, cookie)
    seconds = time.perf_counter() - start
    if status != 200 or "/review/" not in review:
        raise SystemExit(f"the review page answered {status} at {review}")
    peak = tracemalloc.get_traced_memory()[1]
    return {"seconds": seconds, "python_peak_mb": peak / 2**20, "rss_growth_mb": (_hwm_kb() - before) / 1024}


def _finished_batch(user: Any, template: Any, rows: int) -> Any:
    """A batch of ``rows`` whose rows all succeeded, as a worker would have left them
    (no worker runs here)."""
    import uuid

    from django.utils import timezone

    from batches import services
    from batches.models import BatchRow
    from jobs.models import Job, JobStatus

    inputs = (
        (n + 1, {"topic": f"topic {n}", "count": 1 + n % 5}, {"topic": f"topic {n}", "count": str(1 + n % 5)})
        for n in range(rows)
    )
    batch = services.create_batch(template, user, inputs, columns=["topic", "count"], source_name="bench.csv")
    version = template.published_version
    now = timezone.now()
    batch_rows = list(BatchRow.objects.filter(batch=batch).order_by("number"))
    jobs = [
        Job(
            id=uuid.uuid4(), template_version=version, owner=user, inputs=row.inputs,
            input_hash=uuid.uuid4().hex * 2, prompt="p", provider="offline", model="echo-1",
            status=JobStatus.SUCCEEDED, output=OUTPUT, input_tokens=20, output_tokens=40, cost=0,
            started_at=now, finished_at=now,
        )
        for row in batch_rows
    ]  # fmt: skip
    Job.objects.bulk_create(jobs, batch_size=1000)
    for row, job in zip(batch_rows, jobs, strict=True):
        row.job, row.status = job, "succeeded"
    BatchRow.objects.bulk_update(batch_rows, ["job", "status"], batch_size=1000)
    return batch


def measure_export(rows: int, extension: str) -> dict[str, Any]:
    app, user, template, cookie = _setup(rows)
    # A first export of two rows: imports and templates loaded, as in a web process
    # that has served pages before.
    warm_up = _finished_batch(user, template, 2)
    _request(app, "GET", f"/batches/{warm_up.pk}/results.{extension}", cookie)
    batch = _finished_batch(user, template, rows)
    tracemalloc.start()
    tracemalloc.reset_peak()
    _reset_hwm()
    before = _hwm_kb()
    start = time.perf_counter()
    status, _, size = _request(app, "GET", f"/batches/{batch.pk}/results.{extension}", cookie)
    seconds = time.perf_counter() - start
    if status != 200:
        raise SystemExit(f"the {extension} export answered {status}")
    peak = tracemalloc.get_traced_memory()[1]
    return {
        "seconds": seconds,
        "bytes": size,
        "python_peak_mb": peak / 2**20,
        "rss_growth_mb": (_hwm_kb() - before) / 1024,
    }


def _prepare_database() -> None:
    import psycopg

    with psycopg.connect(f"{BASE}/postgres", autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone():
            connection.execute(f'CREATE DATABASE "{DB}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=Path(__file__).resolve().parent.parent,
        env=os.environ,
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child's measurement: upload, csv, xlsx
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        import django

        django.setup()
        result = measure_upload(args.rows) if args.one == "upload" else measure_export(args.rows, args.one)
        print(json.dumps(result))
        return
    _prepare_database()
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for what in ("upload", "csv", "xlsx"):
        for rows in sizes:
            child = subprocess.run(
                [sys.executable, __file__, "--one", what, "--rows", str(rows)],
                capture_output=True, text=True, env=os.environ, check=False,
            )  # fmt: skip
            if child.returncode:
                raise SystemExit(child.stdout + child.stderr)
            results[what, rows] = json.loads(child.stdout.strip().splitlines()[-1])
            figures = results[what, rows]
            print(
                f"{what:6} {rows:>6,} rows: {figures['seconds']:.2f} s, Python peak "
                f"{figures['python_peak_mb']:.1f} MB, RSS growth {figures['rss_growth_mb']:.1f} MB",
                flush=True,
            )
    small, large = sizes[0], sizes[-1]
    print(f"\nratio {large:,} / {small:,} rows:")
    for what, label in (
        ("upload", "upload → validation table"),
        ("csv", "CSV export"),
        ("xlsx", "XLSX export"),
    ):
        a, b = results[what, small], results[what, large]
        print(
            f"    {label}: time {b['seconds'] / a['seconds']:.2f}×, Python peak "
            f"{b['python_peak_mb'] / a['python_peak_mb']:.2f}×, RSS growth "
            f"{b['rss_growth_mb']:.1f} MB vs {a['rss_growth_mb']:.1f} MB"
        )


if __name__ == "__main__":
    main()
