"""Run every benchmark in bench/ and print its figures (see README, "Benchmarks")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    subprocess.run([sys.executable, HERE / "serving.py"], check=True)
    subprocess.run([sys.executable, HERE / "forms.py"], check=True)
    subprocess.run([sys.executable, HERE / "api.py"], check=True)
    subprocess.run([sys.executable, HERE / "mcp_vs_rest.py"], check=True)
    subprocess.run([sys.executable, HERE / "engine.py"], check=True)
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        subprocess.run([sys.executable, HERE / "budgets.py"], check=True)
    if os.environ.get("REDIS_URL"):
        subprocess.run([sys.executable, HERE / "latency.py"], check=True)
        subprocess.run([sys.executable, HERE / "ttft.py"], check=True)
        subprocess.run([sys.executable, HERE / "sse_capacity.py"], check=True)
        if os.environ.get("DATABASE_URL", "").startswith("postgres"):
            subprocess.run([sys.executable, HERE / "runs.py"], check=True)
        else:
            print("runs.py skipped: it measures the PostgreSQL + Redis stack (set DATABASE_URL).")
    else:
        print("latency.py, ttft.py, sse_capacity.py and runs.py skipped: they need REDIS_URL.")
    subprocess.run([HERE / "cold_start.sh"], check=True)
