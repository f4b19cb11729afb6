"""kombu's Redis transport, surviving a lost connection, and the transports Celery uses.

When the broker connection drops (Redis restarting, or down), Celery
5.7's consumer first collects the connection, which detaches the transport
(``transport.client = None``), and then closes it, which closes the default
channel, whose QoS restores the unacknowledged messages and so needs the
connection details that are gone: ``AttributeError`` on ``conninfo.hostname``,
"Unrecoverable error", and the worker process exits. The channel here keeps
the connection details it was opened with, so the restore can run (or fail
with an ordinary connection error, which Celery expects) and the worker
reconnects instead of dying.

The embedded default's filesystem transport has a fix of its own, in
``promptlab.embedded.broker``.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis


class RedisChannel(kombu_redis.Channel):
    def __init__(self, connection: Any, *args: Any, **kwargs: Any) -> None:
        self._connection_info = connection.client  # the kombu Connection: URL, port, options
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:  # detached by Celery before this channel closed
            self.connection.client = self._connection_info
        return super()._connparams(asynchronous=asynchronous)


class RedisTransport(kombu_redis.Transport):
    Channel = RedisChannel


def use_promptlab_transports() -> None:
    """Make ``filesystem://`` and ``redis://`` mean these transports, in every process."""
    TRANSPORT_ALIASES["filesystem"] = "promptlab.embedded.broker:Transport"
    TRANSPORT_ALIASES["redis"] = "promptlab.broker:RedisTransport"
    TRANSPORT_ALIASES["rediss"] = "promptlab.broker:RedisTransport"
