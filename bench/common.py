"""Helpers shared by the benchmarks: start servers, wait for them, run wrk, read /proc."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
            # 503 is /health/ answering "degraded" (a worker not seen yet): it serves.
            if httpx.get(url, timeout=1).status_code in (*range(200, 500), 503):
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
def web_server(kind: str = "promptlab", workers: int = 2, start_timeout: float = 60) -> Iterator[str]:
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
        wait_http(f"{url}/health/", timeout=start_timeout)
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


def percentile(values: list[float], p: int) -> float:
    """The p-th percentile (inclusive method: defined for a handful of values too)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


# --- /proc: process trees, CPU time and memory (Linux) ----------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None  # gone meanwhile
    # The command name may hold spaces and parentheses: the fields follow the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """root and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def cpu_ms(pids: list[int]) -> float:
    """CPU time (user + system) of these processes and of their exited, reaped children.

    Summed over a whole live tree this counts every process once: a child's time
    moves into its parent's cutime/cstime only when it exits and is reaped.
    """
    ticks = 0
    for pid in pids:
        if (fields := _stat_fields(pid)) is not None:
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks * 1000 / CLOCK_TICKS


def memory_mb(pids: list[int]) -> float:
    """Proportional set size (shared pages split between their users), RSS without smaps_rollup."""
    total_kb = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            total_kb += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
        except (OSError, AttributeError):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                total_kb += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
            except (OSError, AttributeError):
                pass
    return total_kb / 1024


# --- servers of the benchmark's own ---------------------------------------------
def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))[-1:]), None
    )
    if found is None:
        raise SystemExit(f"{name} (PostgreSQL's server programs) is needed for --private-servers")
    return str(found)


def _wait_until(ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start within {timeout} s")
        time.sleep(0.05)


def _answers(command: list[str], expected: bytes) -> Callable[[], bool]:
    return lambda: subprocess.run(command, capture_output=True).stdout.startswith(expected)


@contextmanager
def private_servers(
    database: str = "promptlab", postgres_settings: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """A PostgreSQL cluster and a redis-server of the benchmark's own, on free ports: their
    CPU time is then the measured stack's alone, where a shared server's holds everyone's.
    Yields (DATABASE_URL, REDIS_URL); both are stopped and their files removed afterwards.
    ``postgres_settings`` are passed to the server as ``-c name=value``."""
    workdir = Path(tempfile.mkdtemp(prefix="promptlab-bench-"))
    # PostgreSQL refuses to run as root: as the postgres user, if we are root.
    as_postgres: dict[str, Any] = {}
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": []}
    data, pg_port, redis_port = workdir / "pg", free_port(), free_port()
    initdb = [_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync"]
    subprocess.run([*initdb, "-E", "UTF8"], check=True, capture_output=True, **as_postgres)
    server = [_postgres_bin("postgres"), "-D", str(data), "-p", str(pg_port), "-k", str(workdir)]
    postgres = subprocess.Popen(
        [
            *server,
            "-c",
            "listen_addresses=127.0.0.1",
            *(arg for name, value in (postgres_settings or {}).items() for arg in ("-c", f"{name}={value}")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        **as_postgres,
    )
    redis = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    admin = f"postgres://postgres@127.0.0.1:{pg_port}/postgres"
    try:
        _wait_until(_answers(["psql", admin, "-qtAc", "select 1"], b"1"), "PostgreSQL")
        _wait_until(_answers(["redis-cli", "-p", str(redis_port), "ping"], b"PONG"), "redis-server")
        subprocess.run(["psql", admin, "-qc", f'create database "{database}"'], check=True)
        yield f"postgres://postgres@127.0.0.1:{pg_port}/{database}", f"redis://127.0.0.1:{redis_port}/0"
    finally:
        # SIGINT is PostgreSQL's fast shutdown.
        for proc, sig in ((postgres, signal.SIGINT), (redis, signal.SIGTERM)):
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)


def environ(method: str, path: str, token: str, body: bytes = b"", **headers: str) -> dict[str, Any]:
    """A WSGI request as the dispatcher hands one to Django, authenticated by ``token``."""
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    env.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return env
