"""kombu's transports, each with a fix: the filesystem one (the embedded default
broker) writes atomically, and the Redis one survives a lost connection.

Filesystem. The stock transport creates a message file, *then* locks and writes it, while
a consumer renames and reads any ``*.msg`` file it lists (the lock is advisory
and the rename ignores it). A consumer can so read a message still empty, and
the worker dies on the JSON error ("Unrecoverable error: JSONDecodeError"),
stranding every job after it. Here a message is written under a name
consumers ignore and renamed into place, so it appears whole or not at all.

Redis. When the broker connection drops (Redis restarting, or down), Celery
5.7's consumer first collects the connection, which detaches the transport
(``transport.client = None``), and then closes it, which closes the default
channel, whose QoS restores the unacknowledged messages and so needs the
connection details that are gone: ``AttributeError`` on ``conninfo.hostname``,
"Unrecoverable error", and the worker process exits. The channel here keeps
the connection details it was opened with, so the restore can run (or fail
with an ordinary connection error, which Celery expects) and the worker
reconnects instead of dying.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # "<n>_<uuid>.<queue>.msg.part": not a "<queue>.msg" to consumers
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


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
    TRANSPORT_ALIASES["filesystem"] = "promptlab.broker:Transport"
    TRANSPORT_ALIASES["redis"] = "promptlab.broker:RedisTransport"
    TRANSPORT_ALIASES["rediss"] = "promptlab.broker:RedisTransport"
