"""SQLite for the embedded default, with writers queued inside each process.

SQLite lets one writer at a time in. When several threads of one process want
to write, SQLite's busy handler makes each waiter *sleep and poll* (1, 2, 5,
… up to 100 ms between tries), so the lock sits free while the waiters sleep
and throughput collapses under many concurrent API submissions (each a few
short write transactions: rate-limit counters, the job row). Here the threads of a
process queue on one ``threading.Lock`` for every write transaction instead,
handed over the moment it is released; SQLite's busy timeout is left to
arbitrate only between processes (web and worker), which contend far less.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_WRITE_LOCK = threading.Lock()
_READ_ONLY = ("SELECT", "PRAGMA", "EXPLAIN", "WITH")


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_write_lock = False

    def _acquire_write_lock(self) -> None:
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        if not _WRITE_LOCK.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's other writers)")
        self._holds_write_lock = True

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            _WRITE_LOCK.release()

    def _start_transaction_under_autocommit(self) -> None:
        # Transactions begin IMMEDIATE (settings): each one is a write.
        self._acquire_write_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._release_write_lock()

    def create_cursor(self, name: str | None = None) -> Any:
        cursor = self.connection.cursor(factory=_QueuedWritesCursor)
        cursor.wrapper = self
        return cursor


class _QueuedWritesCursor(base.SQLiteCursorWrapper):
    """A write statement outside a transaction is a transaction of its own: queue it too."""

    wrapper: DatabaseWrapper

    def _queued(self, query: str) -> bool:
        wrapper = self.wrapper
        return not wrapper._holds_write_lock and not query.lstrip()[:7].upper().startswith(_READ_ONLY)

    def execute(self, query: str, params: Any = None) -> Any:
        if not self._queued(query):
            return super().execute(query, params)
        self.wrapper._acquire_write_lock()
        try:
            return super().execute(query, params)
        finally:
            self.wrapper._release_write_lock()

    def executemany(self, query: str, param_list: Any) -> Any:
        if not self._queued(query):
            return super().executemany(query, param_list)
        self.wrapper._acquire_write_lock()
        try:
            return super().executemany(query, param_list)
        finally:
            self.wrapper._release_write_lock()
