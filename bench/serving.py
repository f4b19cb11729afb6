"""Requests/s of pages against a hello-world Django view, served the same way in the same run.

Usage: python bench/serving.py   (uses DATABASE_URL / REDIS_URL when set)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PYTHON, ROOT, env, web_server, wrk  # noqa: E402


def main() -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "createcachetable"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    rows = []
    with web_server("gunicorn") as url:
        rows.append(("hello, gunicorn sync x2 (pure WSGI)", wrk(f"{url}/bench/hello/")))
    with web_server("promptlab") as url:
        hello = wrk(f"{url}/bench/hello/")
        rows.append(("hello, as `make run` serves (uvicorn x2 + dispatcher)", hello))
        rows.append(("home page", wrk(f"{url}/")))
        rows.append(("form page /t/product-description/", wrk(f"{url}/t/product-description/")))
        rows.append(("health (1 query)", wrk(f"{url}/health/")))
    baseline = rows[1][1]["rps"]
    print(f"{'what':60} {'req/s':>9} {'x hello':>8} {'non-2xx':>8}")
    for name, result in rows:
        print(f"{name:60} {result['rps']:9.0f} {result['rps'] / baseline:8.2f} {result['errors']:8.0f}")


if __name__ == "__main__":
    main()
