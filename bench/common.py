"""Helpers shared by the benchmarks: start servers, wait for them, run wrk."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def env(**extra: str) -> dict[str, str]:
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings", "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    base.setdefault("SECRET_KEY", "benchmark-only-secret")
    base.update(extra)
    return base


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def process(args: list[str], **extra_env: str) -> Iterator[subprocess.Popen]:
    # Output kept in var/bench/ so a failed request in a run can be traced.
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{Path(args[0]).name}.log").open("ab")
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env(**extra_env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def web_server(kind: str = "promptlab", workers: int = 2) -> Iterator[str]:
    """`promptlab`: uvicorn + the dispatcher, as `make run` serves; `gunicorn`: plain WSGI."""
    port = free_port()
    if kind == "gunicorn":
        args = [
            str(BIN / "gunicorn"),
            "promptlab.wsgi:application",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
        ]
    else:
        args = [
            str(BIN / "uvicorn"), "promptlab.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    with process(args):
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health/")
        yield url


def wrk(url: str, *, seconds: int = 8, connections: int = 32, threads: int = 2) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    subprocess.run(["wrk", "-t2", "-c8", "-d2s", url], capture_output=True, check=True)  # warm-up
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "errors": float(non2xx.group(1)) if non2xx else 0.0}


def median(values: list[float]) -> float:
    return statistics.median(values)
