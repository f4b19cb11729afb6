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
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
# Throughput, not the limits: 10,000/min would cut the enterprise user off mid-run.
os.environ["RATELIMIT_ENABLE"] = "0"

from bench.common import BIN, PYTHON, ROOT, env, process, web_server  # noqa: E402

LUA = """
wrk.method = "{method}"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
{body}
done = function(summary, latency, requests)
  for _, p in pairs({{50, 95, 99}}) do
    io.write(string.format("p%d %.3f\\n", p, latency:percentile(p) / 1000))
  end
  io.write(string.format("timeouts %d\\n", summary.errors.timeout))
end
"""


def run_wrk(url: str, token: str, connections: int, method: str = "GET", body: str = "") -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(method=method, token=token, body=f"wrk.body = '{body}'" if body else ""))
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
        "errors": (float(non2xx.group(1)) if non2xx else 0.0)
        + float(re.search(r"^timeouts (\d+)$", out, re.M).group(1)),
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
        header = ("endpoint", "conns", "req/s", "x hello", "p50", "p95", "p99", "errors")
        print(f"{header[0]:38} " + " ".join(f"{h:>8}" for h in header[1:]))
        for connections in (32, 128):
            rows = [
                ("hello-world DRF view", run_wrk(f"{url}/bench/hello-drf/", token, connections)),
                ("GET templates/{slug}", run_wrk(f"{url}/api/v1/templates/meeting-summary", token, connections)),  # noqa: E501
                ("GET jobs", run_wrk(f"{url}/api/v1/jobs", token, connections)),
                ("POST templates/{slug}/generate", run_wrk(
                    f"{url}/api/v1/templates/meeting-summary/generate", token, connections, "POST", body)),
            ]  # fmt: skip
            base = rows[0][1]["rps"]
            for name, r in rows:
                print(
                    f"{name:38} {connections:5d} {r['rps']:8.0f} {r['rps'] / base:8.2f} "
                    f"{r['p50']:6.1f}ms {r['p95']:6.1f}ms {r['p99']:6.1f}ms {r['errors']:7.0f}"
                )


if __name__ == "__main__":
    main()
