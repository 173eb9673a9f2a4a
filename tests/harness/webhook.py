"""A real webhook receiver on 127.0.0.1 for alert tests: records every POST."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hook:
    """A webhook receiver on 127.0.0.1 that records what it gets."""

    base: str
    status: int = 200
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hooks/T000/B000/SECRET123") -> str:
        return self.base + path


@contextlib.contextmanager
def webhook_server() -> Iterator[Hook]:
    """Start a receiver on 127.0.0.1 (port 0); stop it on exit."""
    box: dict[str, Hook] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state = box["hook"]
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
            )
            if state.delay:
                state.release.wait(state.delay)
            body = b"ok" if state.status < 400 else b"nope"
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box["hook"] = Hook(base=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield box["hook"]
    finally:
        box["hook"].release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
