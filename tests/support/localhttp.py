"""What the tests' HTTP servers on 127.0.0.1 share (the JSON-RPC proxy, the header-only EVM
node, the JSON API): a quiet HTTP/1.1 handler, and a threaded server's start, stop and
context-manager lifecycle. Each server defines `start` (its handler, then `_serve`) and
`stop` (`_close`, then its own clean-up)."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from xstock_audit.sandbox.rpc_http import LocalHttpServer


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive, no Nagle delay (a 40 ms stall per request otherwise), no access log."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_reply_head(self, reply: Any) -> bool:
        """Start answering with `reply` (a `proxy.Reply`): drop the connection if it says so
        (False), else send its status, its headers and the JSON content type and length."""
        if reply.close:
            self.close_connection = True
            self.connection.close()
            return False
        self.send_response(reply.status)
        for k, v in (reply.headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        return True


class _Server(LocalHttpServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about every failure, not only a client that went away: a test's handler
        that fails shows in what the test asserts, and socketserver's traceback would land in
        whatever `sys.stderr` is then -- another test's captured output."""


class LocalServer:
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        self._close()

    def _serve(
        self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None
    ) -> int:
        """Serve `handler` on a free port of 127.0.0.1 in a daemon thread, over TLS with
        `tls` (a server context); the port."""
        self._server = _Server(("127.0.0.1", 0), handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return int(self._server.server_address[1])

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Webhook(LocalServer):
    """A webhook that records the JSON body of every POST (`bodies`) and answers HTTP 500 to
    as many posts as `fail` has true entries, 200 to the rest."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail: list[int] = []
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Self:
        hook = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                hook.bodies.append(body)
                self.send_response(500 if hook.fail and hook.fail.pop() else 200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.port = self._serve(Handler)
        return self
