"""kombu's filesystem transport (the embedded default broker), writing atomically.

The stock transport creates a message file, *then* locks and writes it, while
a consumer renames and reads any ``*.msg`` file it lists (the lock is advisory
and the rename ignores it). A consumer can so read a message still empty, and
the worker dies on the JSON error ("Unrecoverable error: JSONDecodeError"),
stranding every job after it. Here a message is written under a name
consumers ignore and renamed into place, so it appears whole or not at all.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
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
