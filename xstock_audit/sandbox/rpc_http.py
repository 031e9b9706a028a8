"""The HTTP side of the sandbox's JSON-RPC nodes (py-evm and LiteSVM share it).

A threaded server on 127.0.0.1 that hands each POST body to the node's `handle_body` and
answers the way real nodes do: 200 with the JSON-RPC reply (errors included), 413 over the
body limit, 415 for a non-JSON content type, 405 for other methods, `GET /health` -> ok.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol


class JsonRpcBackend(Protocol):
    max_request_body_bytes: int

    def handle_body(self, body: bytes) -> bytes | None: ...


class RpcHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, backend: JsonRpcBackend) -> None:
        self.backend = backend
        super().__init__(("127.0.0.1", port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self, name: str) -> RpcHttpServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls
    server_version = "xstock-audit-sandbox"
    sys_version = ""

    def _backend(self) -> JsonRpcBackend:
        server = self.server
        assert isinstance(server, RpcHttpServer)
        return server.backend

    def log_message(self, format: str, *args: object) -> None:  # silence request logging
        return

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self, limit: int) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > limit:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            return None
        return self.rfile.read(length)

    def do_POST(self) -> None:
        backend = self._backend()
        content_type = self.headers.get("Content-Type")
        if content_type is not None and not content_type.lower().startswith("application/json"):
            self.close_connection = True
            self._reply(415, b"Supplied content type is not allowed", "text/plain")
            return
        try:
            body = self._read_body(backend.max_request_body_bytes)
        except ValueError:
            self.close_connection = True
            self._reply(400, b"Bad Request", "text/plain")
            return
        if body is None:
            self.close_connection = True
            self._reply(413, b"Payload Too Large", "text/plain")
            return
        reply = backend.handle_body(body)
        self._reply(200, reply or b"", "application/json; charset=utf-8")

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, b"ok", "text/plain; charset=utf-8")
        else:
            self._reply(
                405, b"Used HTTP Method is not allowed. POST or OPTIONS is required", "text/plain"
            )
