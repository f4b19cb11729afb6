"""The embedded mode's workarounds (``promptlab.embedded``): what each one guarantees."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest
from django.core.cache import caches
from kombu import Connection

from promptlab.broker import use_promptlab_transports


def test_a_filesystem_broker_message_is_never_seen_half_written(tmp_path: Path) -> None:
    use_promptlab_transports()
    folder = tmp_path / "broker"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    payload = {"body": "x" * 200_000}
    seen: list[str] = []
    stop = threading.Event()

    def consumer_view() -> None:
        # What a consumer does: list "*.msg" files and read them (here without taking them).
        while not stop.is_set():
            for message in folder.glob("*.msg"):
                with contextlib.suppress(FileNotFoundError):  # taken meanwhile
                    seen.append(message.read_text())

    reader = threading.Thread(target=consumer_view)
    reader.start()
    try:
        with Connection("filesystem://", transport_options=options) as connection:
            queue = connection.SimpleQueue("embedded-test")
            for _ in range(20):
                queue.put(payload)
            received = [queue.get(timeout=5) for _ in range(20)]
            for message in received:
                message.ack()
            queue.close()
    finally:
        stop.set()
        reader.join()
    assert [message.payload for message in received] == [payload] * 20
    # Every message file a consumer could list was already whole.
    assert seen and all(json.loads(text) for text in seen)


@pytest.mark.django_db(transaction=True)
def test_the_embedded_cache_loses_no_increment_between_threads(settings) -> None:
    if settings.REDIS_URL:
        pytest.skip("the embedded cache is used only without Redis")
    cache = caches["default"]
    cache.set("embedded-counter", 0, 60)

    def bump() -> None:
        for _ in range(25):
            caches["default"].incr("embedded-counter")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.get("embedded-counter") == 100
