"""A Redis server, worker and web server of a test's own, for tests that stop or
restart Redis: the shared Redis that every other test (and other test runs)
uses is never touched."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from .conftest import ServiceProcess, _free_port, start_web_server, wait_until


class OwnRedis:
    """``redis-server`` on a free port, without persistence unless asked for:
    a restart then loses everything, as the fault reports describe."""

    def __init__(self, log_dir: Path, *, appendonly: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not on PATH")
        self.binary = binary
        self.port = _free_port()
        self.dir = log_dir / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--dir", str(self.dir),
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def start_web(log_dir: Path, name: str, **env: str) -> tuple[ServiceProcess, str]:
    """uvicorn serving promptlab.asgi on the test database, as the live server does."""
    return start_web_server(log_dir, name, **env)
