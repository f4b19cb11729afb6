"""GraphQL ``generate`` against REST ``generate``: the same template, the same inputs, the
same server and run (wrk, rounds in turn, ratios per round). Both are answered from the
identical recent result after the first request, so the figure is the cost of each road
(parsing, validating, the schema lookup) around the same submission. Needs DATABASE_URL
and REDIS_URL for realistic figures; an enterprise-plan user's personal token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ["RATELIMIT_ENABLE"] = "0"  # throughput, not the limits

from bench.api import ROUNDS, _report, run_wrk  # noqa: E402
from bench.common import BIN, PYTHON, ROOT, env, process, web_server  # noqa: E402

INPUTS = {"notes": "Bench notes for a quick summary.", "max_bullets": 4}
TYPED = "mutation ($inputs: MeetingSummaryInput!) { generateMeetingSummary(inputs: $inputs) { id status } }"
# No quotes inside the query: wrk's Lua would read the JSON's \" as an escape.
UNTYPED = "mutation ($t: String!, $inputs: JSON!) { generate(template: $t, inputs: $inputs) { id status } }"


def main() -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    import django

    django.setup()
    from accounts.models import PersonalToken, User

    user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"plan": "enterprise"})
    _t, token = PersonalToken.issue(user, "bench-graphql")
    worker = [str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery", "-c", "1",
              "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    rest_body = json.dumps({"inputs": INPUTS})
    typed_body = json.dumps({"query": TYPED, "variables": {"inputs": INPUTS}})
    untyped_body = json.dumps({"query": UNTYPED, "variables": {"t": "meeting-summary", "inputs": INPUTS}})
    with process(worker, OFFLINE_PROVIDER_DELAY="0"), web_server() as url:
        endpoints = {
            "hello-world DRF view": (f"{url}/bench/hello-drf/", "GET", ""),
            "REST POST generate": (f"{url}/api/v1/templates/meeting-summary/generate", "POST", rest_body),
            "GraphQL generateMeetingSummary": (f"{url}/graphql", "POST", typed_body),
            "GraphQL generate (JSON inputs)": (f"{url}/graphql", "POST", untyped_body),
        }
        header = ("endpoint", "conns", "req/s", "x hello", "p50", "p95", "p99", "non-2xx", "timeouts")
        print(f"{header[0]:38} " + " ".join(f"{h:>8}" for h in header[1:]))
        for connections in (32,):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in endpoints}
            for _round in range(ROUNDS):
                for name, (target, method, payload) in endpoints.items():
                    runs[name].append(run_wrk(target, token, connections, method, payload))
            _report(runs, connections)
            rest = runs["REST POST generate"]
            for name in ("GraphQL generateMeetingSummary", "GraphQL generate (JSON inputs)"):
                ratios = sorted(g["rps"] / r["rps"] for g, r in zip(runs[name], rest, strict=True))
                median = ratios[len(ratios) // 2]
                print(f"{name} / REST generate: {median:.2f}x (median of {len(ratios)} rounds)")


if __name__ == "__main__":
    main()
