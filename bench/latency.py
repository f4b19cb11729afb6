"""Submit → first streamed token → succeeded, with the offline provider at zero delay.

Runs the real stack (uvicorn + dispatcher, a Celery worker process) on
DATABASE_URL / REDIS_URL; streaming needs Redis. Prints medians of 50 runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

# Latency, not the limits: 53 form runs a minute would pass the anonymous limit.
os.environ["RATELIMIT_ENABLE"] = "0"

from bench.common import BIN, PYTHON, ROOT, env, process, web_server  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "50"))
FORM = {"product_name": "Aurora lamp", "features": "Warm light", "tone": "friendly", "word_count": "80"}


def one_run(client: httpx.Client, base: str, token: str, n: int) -> tuple[float, float, float]:
    started = time.perf_counter()
    response = client.post(
        f"{base}/t/product-description/",
        data={**FORM, "product_name": f"Lamp {n}", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/t/product-description/"},
    )
    assert response.status_code == 302, response.status_code
    posted = time.perf_counter() - started
    first = None
    with client.stream("GET", f"{base}{response.headers['location']}events/") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "chunk" and first is None:
                first = time.perf_counter() - started
            elif line.startswith("data: ") and event == "done":
                return posted, first or 0.0, time.perf_counter() - started
    raise RuntimeError("stream ended without a done event")


def main() -> None:
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("latency.py measures the SSE path: set REDIS_URL (and DATABASE_URL).")
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    worker = [
        str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery",
        "--concurrency", "2", "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
    ]  # fmt: skip
    with process(worker, OFFLINE_PROVIDER_DELAY="0"), web_server() as base, httpx.Client() as client:
        client.get(f"{base}/t/product-description/")
        token = client.cookies["csrftoken"]
        for n in range(3):  # warm-up: imports, connections, worker pool
            one_run(client, base, token, n)
        posts, firsts, totals = [], [], []
        for n in range(RUNS):
            posted, first, total = one_run(client, base, token, n)
            posts.append(posted * 1000)
            firsts.append(first * 1000)
            totals.append(total * 1000)
    base_ms = statistics.median(posts)
    print(f"runs: {RUNS}  (offline provider, zero delay; ms from the POST of the form)")
    print(f"baseline, the form POST alone: median {base_ms:6.1f}")
    for name, values in (("first streamed token", firsts), ("succeeded (done)", totals)):
        middle, p95 = statistics.median(values), statistics.quantiles(values, n=20)[-1]
        print(f"{name:30} median {middle:6.1f}  p95 {p95:6.1f}  ({middle / base_ms:.1f}x the POST)")


if __name__ == "__main__":
    main()
