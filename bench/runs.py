"""Complete runs through the API, as a script runs them: the figures of issue #11.

For one checkout (``--root``, this one by default), on PostgreSQL and Redis: starts
that checkout's ``web`` and ``worker`` commands from its Procfile with its own venv
(2 web, 2 worker processes, DEBUG off, the real settings, rate limits off), a
zero-latency OpenAI-compatible fake provider in a process of its own, seeds a user
with a personal token and a template on the ``openai`` provider (a priced model),
then measures, each after a warm-up:

1. a sequential complete run (POST generate, then the job's SSE stream to ``done``);
2. runs/s and latency at 8 and at 32 concurrent clients, every run on new inputs;
3. CPU per complete run during (2), by process: web, worker, redis-server, PostgreSQL;
4. time to first token added over a direct streaming SDK call to the same fake
   (which then waits 50 ms before its first token), alternated run by run;
5. a cached answer (identical inputs): sequential latency and runs/s at 8 clients;
6. memory (PSS) of all web and worker processes, idle and after the load;
and, when the generate endpoint takes ``"wait"``, runs in that blocking mode too.
Every counted run is checked in the database afterwards: ``succeeded``, with the
fake's text as output.

    DATABASE_URL=postgres://… REDIS_URL=redis://…/N python bench/runs.py [--root DIR] [--quick]

The script uses only the HTTP API, the Procfile and ``manage.py``, so that it runs
unchanged against older and newer checkouts (``bench/compare.py`` does that).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.common import (  # noqa: E402
    ROOT,
    cpu_ms,
    free_port,
    median,
    memory_mb,
    percentile,
    private_servers,
    process_tree,
)

MODEL = "gpt-bench-runs"
SLUG = "bench-runs"
REPLY = "Rain on the roof; the gutters sing along, and the street shines."
FIRST_TOKEN_DELAY = 0.05
TOKEN_EMAIL = "runs-bench@example.com"

# The figures, in the order printed: key, label, unit. compare.py prints the same rows.
FIGURES: list[tuple[str, str, str]] = [
    ("seq_p50", "complete run, sequential, median", "ms"),
    ("seq_p95", "complete run, sequential, p95", "ms"),
    *[
        row
        for clients in (8, 32)
        for row in (
            (f"rps_{clients}", f"runs/s, {clients} clients", "/s"),
            (f"p50_{clients}", f"  latency p50, {clients} clients", "ms"),
            (f"p95_{clients}", f"  latency p95, {clients} clients", "ms"),
            (f"p99_{clients}", f"  latency p99, {clients} clients", "ms"),
            (f"cpu_total_{clients}", f"CPU per run, server total, {clients} clients", "ms"),
            (f"cpu_web_{clients}", "  web (uvicorn master + workers + children)", "ms"),
            (f"cpu_worker_{clients}", "  worker (celery master + pool)", "ms"),
            (f"cpu_redis_{clients}", "  redis-server", "ms"),
            (f"cpu_postgres_{clients}", "  PostgreSQL (postmaster and all its backends)", "ms"),
            (f"cpu_client_{clients}", "  the load client (not in the total)", "ms"),
            (f"pg_sessions_{clients}", "  PostgreSQL sessions opened per run (own db)", ""),
        )
    ],
    ("ttft_direct_p50", "first token, direct SDK call, median", "ms"),
    ("ttft_added_p50", "first token added over direct, median", "ms"),
    ("ttft_added_p95", "first token added over direct, p95", "ms"),
    ("cached_p50", "cached answer, sequential, median", "ms"),
    ("cached_rps_8", "cached answer, runs/s, 8 clients", "/s"),
    ("cached_cpu_total_8", "  CPU per run, server total, 8 clients", "ms"),
    ("cached_provider_calls", "  provider calls during the cached runs", ""),
    ("wait_p50", "blocking wait, sequential, median", "ms"),
    ("wait_rps_8", "blocking wait, runs/s, 8 clients", "/s"),
    ("wait_cpu_total_8", "  CPU per run, server total, 8 clients", "ms"),
    ("mem_idle", "memory (PSS), web + worker, idle", "MB"),
    ("mem_after", "memory (PSS), web + worker, after load", "MB"),
    ("processes", "web + worker processes after load", ""),
    ("errors", "errors (client or database check)", ""),
]


# --- the stack under test ---------------------------------------------------


class FakeProvider:
    """tests/fakes/llm_server.py of this checkout, in its own process (bench/fake_provider.py)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "fake_provider.py"), "--reply", REPLY],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self.base_url = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        if not self.base_url.startswith("http"):
            raise RuntimeError("the fake provider did not start")

    def command(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self.proc.stdout.readline().strip()  # type: ignore[union-attr]

    def calls(self) -> int:
        return int(self.command("calls"))

    def stop(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@dataclass
class Stack:
    root: Path
    env: dict[str, str]
    base_url: str
    database_url: str
    web: subprocess.Popen
    worker: subprocess.Popen
    redis_pid: int | None
    postmaster_pid: int | None

    def pids(self) -> dict[str, list[int]]:
        groups = {"web": process_tree(self.web.pid), "worker": process_tree(self.worker.pid)}
        if self.redis_pid is not None:
            groups["redis"] = [self.redis_pid]
        if self.postmaster_pid is not None:
            groups["postgres"] = process_tree(self.postmaster_pid)
        return groups

    def cpu(self) -> dict[str, float]:
        return {name: cpu_ms(pids) for name, pids in self.pids().items()}

    def memory(self) -> tuple[float, int]:
        pids = process_tree(self.web.pid) + process_tree(self.worker.pid)
        return memory_mb(pids), len(pids)


def procfile(root: Path) -> dict[str, str]:
    commands = {}
    for line in (root / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and not line.lstrip().startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


def server_env(root: Path, database_url: str, redis_url: str, provider_url: str, port: int) -> dict[str, str]:
    # The real settings, as `make run` with DEBUG off; nothing of this shell's Django setup.
    inherited = {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")
    }
    return {
        **inherited,
        "PATH": f"{root / '.venv' / 'bin'}:{inherited.get('PATH', '/usr/bin:/bin')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_WORKERS": "2",
        "WORKER_CONCURRENCY": "2",
        "DEBUG": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OPENAI_API_KEY": "bench-key",
        "OPENAI_BASE_URL": provider_url,
        "RATELIMIT_ENABLE": "0",  # promptlab/settings.py: the figures, not the limits
        "SECRET_KEY": "benchmark-only-secret",
    }


def manage(stack_root: Path, env: dict[str, str], *args: str, extra: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(stack_root / ".venv" / "bin" / "python"), "manage.py", *args],
        cwd=stack_root, env={**env, **(extra or {})}, capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def shell_json(root: Path, env: dict[str, str], code: str, extra: dict[str, str] | None = None) -> Any:
    """Run code in that checkout's `manage.py shell`; it prints one line `BENCH <json>`."""
    out = manage(root, env, "shell", "-c", code, extra=extra)
    line = next(line for line in reversed(out.splitlines()) if line.startswith("BENCH "))
    return json.loads(line[6:])


SEED = f"""
import json
from decimal import Decimal
from django.db import transaction
from accounts.models import PersonalToken, User
from providers.models import ModelPrice
from templates_app.models import Template, Visibility

user, _ = User.objects.get_or_create(email={TOKEN_EMAIL!r}, defaults={{"plan": "enterprise"}})
_token, raw = PersonalToken.issue(user, "runs bench")
ModelPrice.objects.update_or_create(
    provider="openai", model={MODEL!r},
    defaults={{"input_per_million": Decimal("1.25"), "output_per_million": Decimal("10")}},
)
with transaction.atomic():
    template, _ = Template.objects.get_or_create(
        slug={SLUG!r}, defaults={{"name": "Runs bench", "visibility": Visibility.PUBLIC, "owner": user}}
    )
    if template.published_version is None:
        template.create_version(
            body="Write {{{{ count }}}} lines about {{{{ topic }}}}.",
            parameters=[
                {{"name": "topic", "type": "string", "label": "Topic", "max_length": 80}},
                {{"name": "count", "type": "integer", "label": "Count", "min": 1, "max": 5}},
            ],
            provider="openai",
            model={MODEL!r},
        )
print("BENCH " + json.dumps({{"token": raw}}))
"""

VERIFY = """
import json, os
from jobs.models import Job
ids = json.load(open(os.environ["BENCH_JOB_IDS"]))
reply = os.environ["BENCH_REPLY"]
found = {str(pk): (status, output) for pk, status, output in
         Job.objects.filter(pk__in=ids).values_list("pk", "status", "output")}
bad = [i for i in ids if found.get(i) != ("succeeded", reply)]
examples = [found.get(i) for i in bad[:3]]
print("BENCH " + json.dumps({"checked": len(ids), "bad": len(bad), "examples": examples}))
"""


def postmaster_pid(database_url: str) -> int | None:
    """The postmaster's pid, when PostgreSQL runs on this machine: the checkpointer's parent
    (psql's own backend, asked before, had often exited by the time /proc was read)."""
    query = "select pid from pg_stat_activity where backend_type = 'checkpointer'"
    out = subprocess.run(["psql", database_url, "-tAc", query], capture_output=True, text=True).stdout.strip()
    try:
        stat = Path(f"/proc/{int(out)}/stat").read_text()
    except (ValueError, OSError):
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def pg_sessions(database_url: str) -> int:
    """Sessions PostgreSQL counted for our database (from the `postgres` db, not to add one)."""
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    out = subprocess.run(
        ["psql", admin, "-tAc", f"select sessions from pg_stat_database where datname = '{name}'"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    return int(out or 0)


def redis_pid(redis_url: str, flush: bool) -> int | None:
    import redis

    client = redis.Redis.from_url(redis_url)
    if flush:
        client.flushdb()  # leftovers of an interrupted run (queued messages) would skew this one
    pid = int(client.info("server")["process_id"])
    return pid if Path(f"/proc/{pid}").exists() else None


@contextlib.contextmanager
def started(root: Path, env: dict[str, str], command: str, log: Path) -> Iterator[subprocess.Popen]:
    # exec: the pid is the server's own (uvicorn's or celery's master), the root of its tree.
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def stack(args: argparse.Namespace, provider_url: str) -> Iterator[Stack]:
    root = args.root.resolve()
    port = free_port()
    env = server_env(root, args.database_url, args.redis_url, provider_url, port)
    manage(root, env, "migrate", "--noinput", "-v0")
    manage(root, env, "createcachetable")
    commands = procfile(root)
    logs = ROOT / "var" / "bench" / f"runs-{root.name}"
    logs.mkdir(parents=True, exist_ok=True)
    with (
        started(root, env, commands["worker"], logs / "worker.log") as worker,
        started(root, env, commands["web"], logs / "web.log") as web,
    ):
        base_url = f"http://127.0.0.1:{port}"
        _wait_for(f"{base_url}/health/", web)
        yield Stack(
            root, env, base_url, args.database_url, web, worker,
            redis_pid(args.redis_url, args.flush_redis), postmaster_pid(args.database_url),
        )  # fmt: skip


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the web server exited ({proc.returncode}): see var/bench/runs-*/web.log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


# --- the client ---------------------------------------------------------------


@dataclass
class Run:
    ok: bool
    seconds: float
    first_token: float | None = None
    job_id: str | None = None
    error: str | None = None


class Client:
    """One script's connection: POST generate, then follow the job's stream to `done`."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def close(self) -> None:
        self.http.close()

    def submit(self, inputs: dict[str, Any], wait: float | None = None) -> httpx.Response:
        body: dict[str, Any] = {"inputs": inputs}
        if wait is not None:
            body["wait"] = wait
        return self.http.post(f"/api/v1/templates/{SLUG}/generate", json=body)

    def run(self, inputs: dict[str, Any], wait: float | None = None) -> Run:
        started = time.perf_counter()
        try:
            response = self.submit(inputs, wait)
            if response.status_code not in (200, 201, 202):
                return Run(False, 0, error=f"POST {response.status_code}: {response.text[:200]}")
            job = response.json()
            # Finished already (an identical recent result, or within `wait`): the answer is in
            # the POST's response, and a script has no stream to follow.
            if wait is not None or job.get("status") in ("succeeded", "failed", "cancelled"):
                ok = job.get("status") == "succeeded" and job.get("output") == REPLY
                return Run(
                    ok, time.perf_counter() - started, job_id=job["id"], error=None if ok else str(job)
                )
            return self._follow(job, started)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return Run(False, time.perf_counter() - started, error=repr(exc))

    def _follow(self, job: dict[str, Any], started: float) -> Run:
        path = (job.get("links") or {}).get("events") or f"/api/v1/jobs/{job['id']}/events"
        first_token = None
        with self.http.stream("GET", path) as stream:
            if stream.status_code != 200:
                return Run(False, 0, job_id=job["id"], error=f"events {stream.status_code}")
            event = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "chunk" and first_token is None:
                    first_token = time.perf_counter() - started
                elif line.startswith("data: ") and event == "done":
                    ok = line[6:] == "succeeded"
                    return Run(
                        ok, time.perf_counter() - started, first_token, job["id"], None if ok else line
                    )
                elif not line:
                    event = None
        return Run(False, time.perf_counter() - started, job_id=job["id"], error="stream ended before done")


_counter = itertools.count()
_SALT = random.randrange(1_000_000_000)


def new_inputs() -> dict[str, Any]:
    """Never seen before: no cached answer, no twin to follow, a provider call every time."""
    n = next(_counter)
    return {"topic": f"rain {_SALT}-{n}-{random.randrange(1_000_000)}", "count": 1 + n % 5}


@dataclass
class Phase:
    runs: list[Run]
    seconds: float
    cpu: dict[str, float]  # ms per completed run, by process group
    client_cpu: float
    pg_sessions: float

    @property
    def ok(self) -> list[Run]:
        return [run for run in self.runs if run.ok]

    @property
    def latencies(self) -> list[float]:
        return [run.seconds * 1000 for run in self.ok]


def _own_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def load(
    target: Stack, token: str, *, clients: int, runs: int,
    inputs: Callable[[], dict[str, Any]], wait: float | None = None,
) -> Phase:  # fmt: skip
    """`runs` runs by `clients` concurrent clients (threads), with process CPU sampled around them."""
    results: list[Run] = []
    handed_out = itertools.count()
    connections = [Client(target.base_url, token) for _ in range(clients)]

    def client_loop(client: Client) -> None:
        while next(handed_out) < runs:
            results.append(client.run(inputs(), wait))

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in connections]
    sessions_before, cpu_before, own_before = pg_sessions(target.database_url), target.cpu(), _own_cpu_ms()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    # The last runs' bookkeeping (the acknowledgement, a final save) ends just after `done`.
    time.sleep(0.3)
    cpu_after, own_after = target.cpu(), _own_cpu_ms()
    sessions_after = pg_sessions(target.database_url)
    for client in connections:
        client.close()
    done = max(1, sum(run.ok for run in results))
    return Phase(
        results,
        seconds,
        {name: (cpu_after[name] - cpu_before[name]) / done for name in cpu_before if name in cpu_after},
        (own_after - own_before) / done,
        (sessions_after - sessions_before) / done,
    )


def sequential(
    target: Stack, token: str, runs: int, inputs: Callable[[], dict[str, Any]], **kw: Any
) -> Phase:
    return load(target, token, clients=1, runs=runs, inputs=inputs, **kw)


def first_token_pairs(
    target: Stack, token: str, fake: FakeProvider, pairs: int
) -> tuple[list[float], list[float]]:
    """Direct SDK call and PromptLab run, alternated, on a provider slow to its first token."""
    import openai

    direct = openai.OpenAI(api_key="bench-key", base_url=fake.base_url, max_retries=0, timeout=30)
    client = Client(target.base_url, token)
    warm = 3
    fake.command(f"slow {FIRST_TOKEN_DELAY} {2 * (pairs + warm)}")
    direct_ms, added_ms = [], []
    try:
        for n in range(pairs + warm):
            started = time.perf_counter()
            stream = direct.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Write 2 lines about rain."}], stream=True
            )
            first = None
            for chunk in stream:  # read to the end, so that the SDK keeps its connection
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - started
            run = client.run(new_inputs())
            if n >= warm and first is not None and run.ok and run.first_token is not None:
                direct_ms.append(first * 1000)
                added_ms.append((run.first_token - first) * 1000)
    finally:
        client.close()
        fake.command("reset")
    return direct_ms, added_ms


def verify(target: Stack, job_ids: list[str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as ids:
        json.dump(job_ids, ids)
    try:
        return shell_json(target.root, target.env, VERIFY, {"BENCH_JOB_IDS": ids.name, "BENCH_REPLY": REPLY})
    finally:
        os.unlink(ids.name)


# --- the measures ---------------------------------------------------------------


def measure(args: argparse.Namespace) -> dict[str, float | None]:
    if not args.private_servers:
        return _measure(args)
    with private_servers() as (database_url, redis_url):
        return _measure(
            argparse.Namespace(**{**vars(args), "database_url": database_url, "redis_url": redis_url})
        )


def _measure(args: argparse.Namespace) -> dict[str, float | None]:
    n_seq, n_load, n_pairs = (10, 40, 10) if args.quick else (50, 400, 50)
    figures: dict[str, float | None] = {key: None for key, _label, _unit in FIGURES}
    counted: list[str] = []
    errors = 0

    def note(phase: Phase) -> Phase:
        nonlocal errors
        errors += sum(not run.ok for run in phase.runs)
        for run in phase.runs:
            if not run.ok and errors <= 5:
                print(f"  error: {run.error}", file=sys.stderr)
        counted.extend(run.job_id for run in phase.ok if run.job_id)
        return phase

    fake = FakeProvider()
    try:
        with stack(args, fake.base_url) as target:
            token = shell_json(target.root, target.env, SEED)["token"]
            figures["mem_idle"], _ = target.memory()
            say = (lambda text: print(text, file=sys.stderr)) if args.verbose else (lambda text: None)

            # Warm-up: the worker may still be starting; then imports, pools, connections.
            warm = Client(target.base_url, token)
            first = warm.run(new_inputs())
            deadline = time.monotonic() + 60
            while not first.ok and time.monotonic() < deadline:
                first = warm.run(new_inputs())
            warm.close()
            if not first.ok:
                raise RuntimeError(f"no run completed: {first.error}")
            sequential(target, token, 10, new_inputs)

            say("sequential")
            phase = note(sequential(target, token, n_seq, new_inputs))
            figures["seq_p50"], figures["seq_p95"] = median(phase.latencies), percentile(phase.latencies, 95)

            for clients in (8, 32):
                say(f"{clients} clients")
                load(target, token, clients=clients, runs=2 * clients, inputs=new_inputs)
                phase = note(load(target, token, clients=clients, runs=n_load, inputs=new_inputs))
                figures[f"rps_{clients}"] = len(phase.ok) / phase.seconds
                for p in (50, 95, 99):
                    figures[f"p{p}_{clients}"] = percentile(phase.latencies, p)
                for name, value in phase.cpu.items():
                    figures[f"cpu_{name}_{clients}"] = value
                figures[f"cpu_total_{clients}"] = sum(phase.cpu.values())
                figures[f"cpu_client_{clients}"] = phase.client_cpu
                figures[f"pg_sessions_{clients}"] = phase.pg_sessions

            say("first token")
            direct_ms, added_ms = first_token_pairs(target, token, fake, n_pairs)
            errors += n_pairs - len(added_ms)
            figures["ttft_direct_p50"] = median(direct_ms)
            figures["ttft_added_p50"], figures["ttft_added_p95"] = median(added_ms), percentile(added_ms, 95)

            say("cached")
            same = new_inputs()
            note(sequential(target, token, 1, lambda: same))  # the answer to reuse
            fake.command("reset")
            phase = note(sequential(target, token, n_seq, lambda: same))
            figures["cached_p50"] = median(phase.latencies)
            phase = note(load(target, token, clients=8, runs=n_load, inputs=lambda: same))
            figures["cached_rps_8"] = len(phase.ok) / phase.seconds
            figures["cached_cpu_total_8"] = sum(phase.cpu.values())
            figures["cached_provider_calls"] = fake.calls()

            probe = Client(target.base_url, token)
            supported = probe.submit(new_inputs(), wait=30).status_code != 400
            probe.close()
            if supported:  # {"wait": seconds}: answered with the finished job, one request a run
                say("wait")
                phase = note(sequential(target, token, n_seq, new_inputs, wait=30))
                figures["wait_p50"] = median(phase.latencies)
                phase = note(load(target, token, clients=8, runs=n_load, inputs=new_inputs, wait=30))
                figures["wait_rps_8"] = len(phase.ok) / phase.seconds
                figures["wait_cpu_total_8"] = sum(phase.cpu.values())

            figures["mem_after"], processes = target.memory()
            figures["processes"] = processes
            check = verify(target, counted)
            if check["bad"]:
                print(
                    f"  database check: {check['bad']} of {check['checked']} wrong, e.g. {check['examples']}"
                )
            errors += check["bad"]
            figures["errors"] = errors
    finally:
        fake.stop()
    return figures


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}"


def servers_note(private: bool) -> str:
    if private:
        return "PostgreSQL and Redis: servers of each run's own, so their CPU is the stack's alone."
    return "Redis and PostgreSQL are shared with the machine's other users: their CPU includes others' work."


def main() -> None:
    parser = argparse.ArgumentParser(description="Complete runs through the API (issue #11's figures).")
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="the checkout to measure (its venv, Procfile)"
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
    parser.add_argument("--rounds", type=int, default=1, help="measure this many times, report medians")
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument("--json", type=Path, help="write the figures (a list, one per round) here")
    parser.add_argument("--flush-redis", action="store_true", help="FLUSHDB the Redis database first")
    parser.add_argument(
        "--private-servers",
        action="store_true",
        help="start a PostgreSQL and a Redis of its own (so that their CPU is this stack's alone)",
    )
    parser.add_argument("--verbose", action="store_true", help="say which phase runs")
    args = parser.parse_args()
    urls = args.database_url.startswith("postgres") and args.redis_url.startswith("redis")
    if not (urls or args.private_servers):
        raise SystemExit(
            "runs.py measures PostgreSQL + Redis: set DATABASE_URL and REDIS_URL (or the options)."
        )
    rounds = [measure(args) for _ in range(args.rounds)]
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))
    print(f"{args.root.resolve()}: median of {len(rounds)} round(s)")
    print(servers_note(args.private_servers))
    for key, label, unit in FIGURES:
        values = [r[key] for r in rounds if r[key] is not None]
        print(f"{label:52} {format_value(median(values) if values else None):>8} {unit}")


if __name__ == "__main__":
    main()
