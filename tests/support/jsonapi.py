"""A small HTTP API on 127.0.0.1 for the http-json custody source's tests.

Each test gives a `handler(request) -> Reply`; the server records every request (path with
query, headers) so tests can count them and check what was sent. A reply's `delay` drips its
body out over that many seconds (after the headers), as a slow or hostile server would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from .localhttp import LocalServer, QuietHandler
from .proxy import Reply


@dataclass
class Request:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


class JsonApi(LocalServer):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def start(self) -> Self:
        api = self

        class H(QuietHandler):
            def do_GET(self) -> None:
                req = Request(self.path, {k.lower(): v for k, v in self.headers.items()})
                with api._lock:
                    api.requests.append(req)
                reply = api.handler(req)
                if not self.send_reply_head(reply):
                    return
                if not reply.delay:
                    self.wfile.write(reply.body)
                    return
                # a slow drip: the body in ten parts over `delay` seconds, each part well
                # within a read timeout, the whole past a deadline
                step = max(1, len(reply.body) // 10)
                try:
                    for i in range(0, len(reply.body), step):
                        time.sleep(reply.delay / 10)
                        self.wfile.write(reply.body[i : i + step])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up: what the test wants

        self._serve(H)
        return self


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def raw(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    """A reply with this exact JSON text (for numbers json.dumps would not write)."""
    return Reply(status=status, body=text.encode(), headers=headers)
