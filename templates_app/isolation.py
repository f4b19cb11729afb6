"""Authors' code (prompt bodies, regular expressions) runs in small child processes.

The sandbox (``sandbox.BoundedSandbox``) refuses the bombs it can foresee, but no
check inside Python can stop ``9 ** (9 ** 7)`` once it has started (one C call
that never returns to the interpreter, holding the GIL) or a text that doubles
in a loop. So the work runs in a child process with an address-space limit
(``RLIMIT_AS``), and the parent waits for its answer only so long: a child
that runs out of time is killed and replaced. The web thread waits on the pipe
without the GIL, so the server keeps answering meanwhile.

Why a process and not a watchdog thread: a thread can only ask the interpreter
to raise between bytecodes (nothing happens during a long C call), and it can
bound no memory. The children are started once and reused (docs/architecture.md gives
what a render in a child costs), at most ``RENDER_PROCESSES`` per server process.

Requests go to a child pickled (we wrote them); answers come back as JSON only,
so a child that untrusted code took over could not make the parent run code.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import resource
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .sandbox import LimitExceeded, Limits

_HEADER = struct.Struct("!I")
# A child says it is ready once its imports are done (slower on a loaded machine):
# that wait must not count against the first render's time limit.
_STARTUP_SECONDS = 15.0
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class IsolationError(Exception):
    """The child could not answer: ``limit`` is "seconds" (it was killed at the time
    limit), "busy" (no child free in time) or "crashed" (it died on the request)."""

    def __init__(self, limit: str, value: float = 0) -> None:
        super().__init__(limit)
        self.limit = limit
        self.value = value


class Refused(Exception):
    """The child answered with an error: ``kind`` is "limit", "template", "regex" or "value"."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(answer.get("message", ""))
        self.kind: str = answer["error"]
        self.answer = answer


# --- The parent's side ---------------------------------------------------------------


class _Child:
    def __init__(self, limits: Limits) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "templates_app.isolation", json.dumps(asdict(limits))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=_PROJECT_ROOT,
            # None of the server's environment (database URL, keys): the child runs
            # authors' code and needs only to find this package.
            env={"PYTHONPATH": str(_PROJECT_ROOT), "PATH": os.environ.get("PATH", "")},
            close_fds=True,
        )
        try:
            self._answer(time.monotonic() + _STARTUP_SECONDS)
        except IsolationError:
            self.kill()
            raise IsolationError("crashed") from None

    def ask(self, request: tuple[Any, ...], seconds: float) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.process.stdin.write(_HEADER.pack(len(data)) + data)
            self.process.stdin.flush()
        except OSError:  # it died while idle (killed from outside): nothing was run
            raise IsolationError("gone") from None
        return self._answer(time.monotonic() + seconds)

    def _answer(self, deadline: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        (length,) = _HEADER.unpack(_read(fd, _HEADER.size, deadline))
        return json.loads(_read(fd, length, deadline))

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]


def _read(fd: int, size: int, deadline: float) -> bytes:
    data = b""
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise IsolationError("seconds")
        chunk = os.read(fd, size - len(data))
        if not chunk:  # the child died on this request (a MemoryError is answered, not this)
            raise IsolationError("crashed")
        data += chunk
    return data


class _Pool:
    """Idle children, and how many exist. A request waits for a free one (or for room to
    start one) a second longer than a render may take, since a busy child is free by then."""

    def __init__(self, limits: Limits, size: int) -> None:
        self.limits = limits
        self.size = size
        self.idle: list[_Child] = []
        self.count = 0
        self.changed = threading.Condition()
        self.pid = os.getpid()

    def take(self) -> _Child:
        deadline = time.monotonic() + self.limits.seconds + 1
        with self.changed:
            while not self.idle and self.count >= self.size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise IsolationError("busy")
                self.changed.wait(remaining)
            if self.idle:
                return self.idle.pop()
            self.count += 1
        try:
            return _Child(self.limits)  # outside the lock: starting one takes ~0.1 s
        except (OSError, IsolationError):  # it could not start, or never said it was ready
            self._forget()
            raise IsolationError("crashed") from None

    def give_back(self, child: _Child) -> None:
        with self.changed:
            self.idle.append(child)
            self.changed.notify()

    def discard(self, child: _Child) -> None:
        child.kill()
        self._forget()

    def _forget(self) -> None:
        with self.changed:
            self.count -= 1
            self.changed.notify()

    def close(self) -> None:
        with self.changed:
            idle, self.idle = self.idle, []
        for child in idle:
            child.kill()


_pool: _Pool | None = None
_pool_lock = threading.Lock()


def _current_pool(limits: Limits, size: int) -> _Pool:
    global _pool
    with _pool_lock:
        if _pool is not None and _pool.pid != os.getpid():
            _pool = None  # a forked copy: the pipes belong to the parent's children
        if _pool is None or _pool.limits != limits or _pool.size != size:
            old, _pool = _pool, _Pool(limits, size)
            if old is not None:  # the limits changed (tests): children with the old ones go
                old.close()
        return _pool


def run(request: tuple[Any, ...], limits: Limits, processes: int) -> Any:
    """Run ``request`` (an operation name and its arguments) in a child; its result, or
    ``Refused`` (the work's own error) or ``IsolationError`` (the child's limits)."""
    pool = _current_pool(limits, processes)
    for _attempt in range(2):
        child = pool.take()
        try:
            answer = child.ask(request, limits.seconds)
        except IsolationError as exc:
            pool.discard(child)
            if exc.limit == "gone":
                continue  # an idle child was gone: a fresh one runs the request
            raise IsolationError(exc.limit, limits.seconds if exc.limit == "seconds" else 0) from None
        except BaseException:
            pool.discard(child)
            raise
        break
    else:
        raise IsolationError("crashed")
    if answer.get("retire"):  # the child ran out of memory: it may be in a bad state
        pool.discard(child)
    else:
        pool.give_back(child)
    if "error" in answer:
        raise Refused(answer)
    return answer["result"]


# --- The child's side ------------------------------------------------------------------


def _limit_memory(megabytes: int) -> None:
    """The address space may grow by ``megabytes`` beyond what the interpreter already uses."""
    ceiling = _address_space() + megabytes * 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_AS, ceiling),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_FSIZE, 0),
    ):
        # Some kernels (macOS) refuse RLIMIT_AS: the time limit and the sandbox still hold there.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, (value, value))


def _limit_cpu(seconds: float) -> None:
    """The kernel ends this request's work a second after the parent's deadline, even if
    the parent died and can no longer kill it (SIGXCPU, whose default is to terminate)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    soft = int(spent + seconds) + 2
    resource.setrlimit(
        resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard)
    )


def _answer(operation: str, arguments: tuple[Any, ...], limits: Limits) -> dict[str, Any]:
    from jinja2 import TemplateError

    from . import sandbox

    try:
        if operation == "render":
            return {"result": sandbox.render(*arguments, limits)}
        if operation == "referenced_names":
            return {"result": sandbox.referenced_names(*arguments, limits)}
        if operation == "compile_regexes":
            return _compile_regexes(*arguments)
        if operation == "evaluate":
            return {"result": sandbox.evaluate(*arguments, limits)}
        if operation == "analyze":
            return {"result": sandbox.analyze(*arguments, limits)}
        raise ValueError(f"unknown operation {operation!r}")
    except LimitExceeded as exc:
        return {"error": "limit", "limit": exc.limit, "value": exc.value}
    except MemoryError:
        return {"error": "limit", "limit": "memory_mb", "value": limits.memory_mb, "retire": True}
    except RecursionError:
        return {"error": "limit", "limit": "recursion", "value": sys.getrecursionlimit()}
    except TemplateError as exc:
        return {
            "error": "template",
            "message": exc.message or type(exc).__name__,
            "line": getattr(exc, "lineno", None),
        }
    except Exception as exc:  # the template's own arithmetic, type and value errors
        return {"error": "value", "message": str(exc)}


def _compile_regexes(sources: list[str], megabytes: int) -> dict[str, Any]:
    """Compile each of ``sources`` with at most ``megabytes`` more address space than the
    process had before it: the compiled sizes, or the first error."""
    import regex

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    sizes = []
    try:
        for source in sources:
            _lower_address_space(megabytes, hard)
            try:
                # Not kept in regex's cache: a child checks many patterns and runs none, and
                # each cached one would hold its memory against the checks after it.
                compiled = regex.compile(source, cache_pattern=False)
            except regex.error as exc:
                return {"error": "regex", "message": str(exc)}
            except MemoryError:
                return {"error": "limit", "limit": "memory_mb", "value": megabytes, "retire": True}
            sizes.append(sys.getsizeof(compiled))
            del compiled
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return {"result": sizes}


def _lower_address_space(megabytes: int, hard: int) -> None:
    """A soft RLIMIT_AS ``megabytes`` above what the process uses now (raised back after)."""
    ceiling = _address_space() + megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    with contextlib.suppress(ValueError, OSError):  # refused on some kernels (macOS)
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _serve(limits: Limits) -> None:
    from . import sandbox

    sandbox.environment(limits)  # imported and built before the limit applies
    import regex  # noqa: F401

    _limit_memory(limits.memory_mb)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    ready = json.dumps({"ready": True}).encode()
    stdout.write(_HEADER.pack(len(ready)) + ready)
    stdout.flush()
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the parent went away
        (length,) = _HEADER.unpack(header)
        operation, *arguments = pickle.loads(stdin.read(length))
        _limit_cpu(limits.seconds)
        answer = _answer(operation, tuple(arguments), limits)
        try:
            data = json.dumps(answer).encode()
        except MemoryError:
            data = json.dumps({"error": "limit", "limit": "memory_mb", "value": limits.memory_mb}).encode()
        stdout.write(_HEADER.pack(len(data)) + data)
        stdout.flush()
        if answer.get("retire"):
            return


if __name__ == "__main__":
    _serve(Limits(**json.loads(sys.argv[1])))
