"""A local webhook receiver: an HTTP server thread that checks each message's signature
with the ``standardwebhooks`` library, as a receiver of PromptLab's webhooks would."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any = None


@dataclass
class WebhookReceiver:
    secret: str = ""
    # The statuses to answer with, in order; 200 once they are spent. A (status, headers)
    # pair answers with those headers (a redirect's Location).
    script: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {name.lower(): value for name, value in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except (WebhookVerificationError, EmptyWebhookSecretError, ValueError):
                    payload, verified = None, False
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body, verified, payload))
                    answer = receiver.script.pop(0) if receiver.script else 200
                status, extra = answer if isinstance(answer, tuple) else (answer, {})
                reply = b'{"ok": true}' if status < 300 else b"receiver says no"
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # shutdown() waits for serve_forever's next poll: 0.5 s by default, in every teardown.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
