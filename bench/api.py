"""API throughput and latency against a hello-world DRF view (same auth, same server,
same run), at 32 and 128 connections. Needs DATABASE_URL and REDIS_URL for realistic
figures; uses a personal token of an enterprise-plan user so limits don't interfere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
# The endpoints are measured in turns, ROUNDS times, so a burst of load from elsewhere on
# the machine falls on all of them rather than on one; ratios are per round, then median.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# Throughput, not the limits: 10,000/min would cut the enterprise user off mid-run.
os.environ["RATELIMIT_ENABLE"] = "0"

from bench.common import BIN, PYTHON, ROOT, env, process, web_server  # noqa: E402

LUA = """
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
{body}
{request}
done = function(summary, latency, requests)
  for _, p in pairs({{50, 95, 99}}) do
    io.write(string.format("p%d %.3f\\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("timeouts %d\\n", summary.errors.timeout))
end
"""


# Each request a new input: no cached answer, no twin to follow; a job queued every time.
NEW_INPUTS = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"inputs": {"notes": "Bench notes %d-%d, each time new.", "max_bullets": 4}}',
    math.random(1, 1000000000), counter))
end
"""


def run_wrk(
    url: str, token: str, connections: int, method: str = "GET", body: str = "", request: str = ""
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            LUA.format(
                method=method, token=token, body=f"wrk.body = '{body}'" if body else "", request=request
            )
        )
    # A short warm-up at low concurrency fills each process's caches and connections.
    subprocess.run(["wrk", "-t2", "-c8", "-d1s", "-s", script.name, url], capture_output=True, check=True)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "-s", script.name, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        **{f"p{p}": float(re.search(rf"^p{p} ([\d.]+)$", out, re.M).group(1)) for p in (50, 95, 99)},
        "non-2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "timeouts": float(re.search(r"^timeouts (\d+)$", out, re.M).group(1)),
    }


def main() -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    import django

    django.setup()
    from accounts.models import PersonalToken, User
    from jobs.services import submit_generation
    from templates_app.models import Template

    user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"plan": "enterprise"})
    _t, token = PersonalToken.issue(user, "bench")
    version = Template.objects.get(slug="meeting-summary").published_version
    inputs = {
        "notes": "Ana: ship Friday. " * 3,
        "max_bullets": 5,
        "audience": "the team",
        "include_action_items": True,
    }
    for n in range(50):
        submit_generation(version, {**inputs, "max_bullets": 3 + n % 8}, owner=user)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have, so plans fit the seeded rows
    worker = [str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery", "-c", "1",
              "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    body = '{"inputs": {"notes": "Bench notes for a quick summary.", "max_bullets": 4}}'
    with process(worker, OFFLINE_PROVIDER_DELAY="0"), web_server() as url:
        endpoints = {
            "hello-world DRF view": (f"{url}/bench/hello-drf/", "GET", "", ""),
            "GET templates/{slug}": (f"{url}/api/v1/templates/meeting-summary", "GET", "", ""),
            "GET jobs": (f"{url}/api/v1/jobs", "GET", "", ""),
            "POST templates/{slug}/generate": (
                f"{url}/api/v1/templates/meeting-summary/generate", "POST", body, ""),
        }  # fmt: skip
        header = ("endpoint", "conns", "req/s", "x hello", "p50", "p95", "p99", "non-2xx", "timeouts")
        print(f"{header[0]:38} " + " ".join(f"{h:>8}" for h in header[1:]))
        for connections in (32, 128):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in endpoints}
            for _round in range(ROUNDS):
                for name, (target, method, payload, request) in endpoints.items():
                    runs[name].append(run_wrk(target, token, connections, method, payload, request))
            _report(runs, connections)
        # Last, as it leaves the worker a backlog: generate on new inputs every time.
        for connections in (32, 128):
            runs = {"hello-world DRF view": [], "POST generate, new inputs each time": []}
            for _round in range(ROUNDS):
                runs["hello-world DRF view"].append(run_wrk(f"{url}/bench/hello-drf/", token, connections))
                runs["POST generate, new inputs each time"].append(
                    run_wrk(endpoints["POST templates/{slug}/generate"][0], token, connections, "POST",
                            body, NEW_INPUTS))  # fmt: skip
            _report(runs, connections)


def _report(runs: dict[str, list[dict[str, float]]], connections: int) -> None:
    """Median over the rounds; the ratio is each round's against the same round's hello."""
    from statistics import median

    base = runs["hello-world DRF view"]
    for name, results in runs.items():
        ratio = median(r["rps"] / b["rps"] for r, b in zip(results, base, strict=True))
        print(
            f"{name:38} {connections:5d} {median(r['rps'] for r in results):8.0f} {ratio:8.2f} "
            + " ".join(f"{median(r[p] for r in results):6.1f}ms" for p in ("p50", "p95", "p99"))
            + f" {sum(r['non-2xx'] for r in results):8.0f} {sum(r['timeouts'] for r in results):8.0f}"
        )


if __name__ == "__main__":
    main()
