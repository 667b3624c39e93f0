"""A real HTTP receiver on 127.0.0.1 that checks every Registry-Signature with the README's recipe."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


# --- the README's verification recipe, verbatim ---------------------------------------------------
def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    items = [part.strip().split("=", 1) for part in header.split(",")]
    stamps = [v for k, v in items if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(time.time() - int(stamps[0])) > tolerance:
        return False
    signed = stamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in items if k == "v1")
# ---------------------------------------------------------------------------------------------------


class Receiver:
    """Records every request; ``answer(event)`` picks the status code (default 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.secrets: list[str] = []
        self.answer: Callable[[dict[str, Any]], int] = lambda _event: 200
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                header = self.headers.get("Registry-Signature", "")
                event = json.loads(body)
                entry = {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                    "event": event,
                    "verified": [verify_signature(s, header, body) for s in list(receiver.secrets)],
                    "at": time.time(),
                }
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.requests.append(entry)
                status = receiver.answer(event)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r["event"] for r in self.requests if type_ is None or r["event"]["type"] == type_]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
