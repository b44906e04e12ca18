"""A loopback HTTP file server for the download tests: Range requests, dropped connections,
refusals, and a log of what was asked."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)
    # Close the connection after this many body bytes, for the first `drops` responses.
    drop_after: int | None = None
    drops: int = 0
    # Answer 200 with the whole file even to a Range request.
    ignore_range: bool = False
    # Every request: (path, Range header or None).
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    # When set: every answer waits until this event is set (a download held in progress).
    gate: threading.Event | None = None


class _Handler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        b = self.behaviour
        path = self.path.split("?")[0]
        rng = self.headers.get("Range")
        b.requests.append((path, rng))
        if b.gate is not None:
            b.gate.wait()
        data = b.files.get(path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and not b.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if b.drop_after is not None and b.drops > 0:
            b.drops -= 1
            self.wfile.write(body[: b.drop_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@contextmanager
def serve(behaviour: Behaviour) -> Iterator[str]:
    """Serve ``behaviour.files`` on 127.0.0.1; yields the base URL."""
    handler = type("Handler", (_Handler,), {"behaviour": behaviour})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_base() -> str:
    """A loopback base URL nothing listens on (the port is bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def closed_port_url(name: str) -> str:
    return f"{closed_base()}/{name}"
