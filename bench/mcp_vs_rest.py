"""An MCP tool call (``tools/call`` on /mcp) against the REST API's generate
(``POST templates/{slug}/generate``), same inputs, same server, same run, in turns.

Both are answered from the cache after the first (the same inputs every time), so
the figure is the cost of each road: authentication, validation, the submit service's
cache hit and the answer's shape (a JSON-RPC result in an SSE event, or the job's
JSON). Uses a personal token of an enterprise-plan user, limits off.

Not named mcp.py: run as a script, bench/ comes first on sys.path, and that name
would shadow the mcp SDK for anything the process imports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
os.environ["RATELIMIT_ENABLE"] = "0"

import httpx  # noqa: E402

from bench.common import BIN, PYTHON, ROOT, env, process, web_server  # noqa: E402

SLUG = "meeting-summary"
INPUTS = {"notes": "Bench notes for a quick summary.", "max_bullets": 4}
# The 2025-06-18 revision: a self-contained POST on the stateless server, as clients send it.
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-06-18",
}
MCP_BODY = json.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": SLUG, "arguments": INPUTS}}
)
REST_BODY = json.dumps({"inputs": INPUTS})

LUA = """
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
{headers}
wrk.body = '{body}'
done = function(summary, latency, requests)
  for _, p in pairs({{50, 95, 99}}) do
    io.write(string.format("p%d %.3f\\n", p, latency:percentile(p) / 1000))
  end
end
"""


def run_wrk(url: str, token: str, body: str, headers: dict[str, str], connections: int) -> dict[str, float]:
    lines = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(token=token, headers=lines, body=body))
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
    }


def check_both_answer(url: str, token: str) -> None:
    """One of each first: both must answer with the output, or the figures mean nothing."""
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    rest = httpx.post(f"{url}/api/v1/templates/{SLUG}/generate", content=REST_BODY, headers=auth, timeout=30)
    assert rest.status_code in (200, 202), rest.text
    for _attempt in range(50):  # until the first job has finished and its result is cached
        rest = httpx.post(
            f"{url}/api/v1/templates/{SLUG}/generate", content=REST_BODY, headers=auth, timeout=30
        )
        if rest.status_code == 200:
            break
    mcp = httpx.post(f"{url}/mcp", content=MCP_BODY, headers={**auth, **MCP_HEADERS}, timeout=30)
    assert mcp.status_code == 200 and rest.json()["output"][:40] in mcp.text, mcp.text[:2000]


def main() -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    import django

    django.setup()
    from accounts.models import PersonalToken, User

    user, _ = User.objects.get_or_create(email="bench@example.com", defaults={"plan": "enterprise"})
    _t, token = PersonalToken.issue(user, "bench")
    worker = [str(BIN / "celery"), "-A", "promptlab", "worker", "--queues", "generation,celery", "-c", "1",
              "--without-gossip", "--without-mingle", "--loglevel", "WARNING"]  # fmt: skip
    # A loaded machine can take more than a minute to start two web workers.
    with process(worker, OFFLINE_PROVIDER_DELAY="0"), web_server(start_timeout=300) as url:
        check_both_answer(url, token)
        roads = {
            "POST templates/{slug}/generate": (f"{url}/api/v1/templates/{SLUG}/generate", REST_BODY, {}),
            "MCP tools/call": (f"{url}/mcp", MCP_BODY.replace("'", "\\'"), MCP_HEADERS),
        }
        header = ("conns", "req/s", "x REST", "p50", "p95", "p99", "non-2xx")
        print(f"{'road':32} " + " ".join(f"{h:>8}" for h in header))
        for connections in (8, 32):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in roads}
            for _round in range(ROUNDS):
                for name, (target, body, headers) in roads.items():
                    runs[name].append(run_wrk(target, token, body, headers, connections))
            base = runs["POST templates/{slug}/generate"]
            for name, results in runs.items():
                ratio = median(r["rps"] / b["rps"] for r, b in zip(results, base, strict=True))
                print(
                    f"{name:32} {connections:5d} {median(r['rps'] for r in results):8.0f} {ratio:7.2f} "
                    + " ".join(f"{median(r[p] for r in results):6.1f}ms" for p in ("p50", "p95", "p99"))
                    + f" {sum(r['non-2xx'] for r in results):8.0f}"
                )


if __name__ == "__main__":
    main()
