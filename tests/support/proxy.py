"""A JSON-RPC HTTP proxy on 127.0.0.1 for tests and benchmarks.

It forwards every POST to an upstream node and can add latency, count requests (and the
JSON-RPC methods inside them), and inject faults a real node can't produce on demand: a
`fault` hook sees each request body and may answer in the node's place.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import httpx

from .localhttp import LocalServer, QuietHandler


@dataclass
class Reply:
    """What a fault hook answers instead of the upstream node."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] | None = None
    delay: float = 0.0
    close: bool = False  # drop the connection without an answer


FaultHook = Callable[[Any], Reply | None]


class RpcProxy(LocalServer):
    def __init__(
        self,
        upstream: str,
        *,
        delay: float = 0.0,
        fault: FaultHook | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: a server context, to be reached over https instead of http."""
        self.upstream = upstream
        self.tls = tls
        self.delay = delay
        self.fault = fault
        self.requests = 0
        self.methods: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=120)
        self._url = ""

    @property
    def url(self) -> str:
        """The proxy's URL (still known after `stop`, for assertions on reports)."""
        assert self._url, "proxy not started"
        return self._url

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.methods.clear()

    def start(self) -> Self:
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    payload: Any = json.loads(body)
                except ValueError:
                    payload = None
                with proxy._lock:
                    proxy.requests += 1
                    for item in payload if isinstance(payload, list) else [payload]:
                        if isinstance(item, dict):
                            proxy.methods[str(item.get("method"))] += 1
                if proxy.delay:
                    time.sleep(proxy.delay)
                reply = proxy.fault(payload) if proxy.fault else None
                if reply is None:
                    upstream = proxy._client.post(
                        proxy.upstream, content=body, headers={"content-type": "application/json"}
                    )
                    reply = Reply(upstream.status_code, upstream.content)
                if reply.delay:
                    time.sleep(reply.delay)
                if not self.send_reply_head(reply):
                    return
                self.wfile.write(reply.body)

        port = self._serve(Handler, self.tls)
        self._url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}/"
        return self

    def stop(self) -> None:
        self._close()
        self._client.close()


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(obj).encode())
