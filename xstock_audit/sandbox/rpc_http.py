"""The JSON-RPC and HTTP side shared by the sandbox's nodes (py-evm and LiteSVM).

`JsonRpcDispatcher` answers JSON-RPC 2.0 requests and batches from a method table under the
node's lock, with the standard error objects. `RpcHttpServer` is a threaded server on
127.0.0.1 that hands each POST body to the node's `handle_body` and answers the way real
nodes do: 200 with the JSON-RPC reply (errors included), 413 over the body limit, 415 for a
non-JSON content type, 405 for other methods, `GET /health` -> ok.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Protocol, Self

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
SERVER_ERROR: Final = -32000

Handler = Callable[[object], object]


class RpcError(Exception):
    """A JSON-RPC error object: `{"code", "message", "data"?}` (`method`: the call, if known)."""

    def __init__(
        self, code: int, message: str, data: object = None, *, method: str | None = None
    ) -> None:
        prefix = f"{method} failed: " if method else ""
        super().__init__(f"{prefix}code={code} message={message!r} data={data!r}")
        self.code = code
        self.message = message
        self.data = data
        self.method = method

    @classmethod
    def from_json(cls, error: Mapping[str, Any], *, method: str | None = None) -> RpcError:
        code = error.get("code")
        return cls(
            code if isinstance(code, int) else SERVER_ERROR,
            str(error.get("message", "")),
            error.get("data"),
            method=method,
        )

    def to_json(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def error_response(request_id: object, error: RpcError) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


class JsonRpcDispatcher:
    """JSON-RPC 2.0 over a method table; every request runs with `lock` held."""

    lock: threading.RLock
    _methods: dict[str, Handler]

    def handle_json(self, request: object) -> object | None:
        """Answer a decoded JSON-RPC request or batch; None when nothing is to be sent."""
        with self.lock:
            if isinstance(request, list):
                if not request:
                    return error_response(None, RpcError(INVALID_REQUEST, "Invalid request"))
                replies = [self._handle_one(item) for item in request]
                kept = [reply for reply in replies if reply is not None]
                return kept or None
            return self._handle_one(request)

    def handle_body(self, body: bytes) -> bytes | None:
        """Answer an HTTP body; None for a notification (HTTP 200 with an empty body)."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            reply: object | None = error_response(None, RpcError(PARSE_ERROR, "Parse error"))
        else:
            reply = self.handle_json(request)
        if reply is None:
            return None
        return json.dumps(reply, allow_nan=False, separators=(",", ":")).encode()

    def _failure(self, exc: Exception) -> RpcError:
        """The error object for an exception out of a handler (a bug: an internal error)."""
        return RpcError(INTERNAL_ERROR, "Internal error", f"{type(exc).__name__}: {exc}")

    def _handle_one(self, request: object) -> dict[str, object] | None:
        if not isinstance(request, dict):
            return error_response(None, RpcError(INVALID_REQUEST, "Invalid request"))
        request_id = request.get("id")
        is_notification = "id" not in request
        valid_id = request_id is None or (
            isinstance(request_id, str | int) and not isinstance(request_id, bool)
        )
        method = request.get("method")
        params = request.get("params")
        if (
            request.get("jsonrpc") != "2.0"
            or not isinstance(method, str)
            or not valid_id
            or not (params is None or isinstance(params, list | dict))
        ):
            return error_response(
                request_id if valid_id else None, RpcError(INVALID_REQUEST, "Invalid request")
            )
        handler = self._methods.get(method)
        try:
            if handler is None:
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
            result = handler(params)
        except RpcError as rpc_error:
            return None if is_notification else error_response(request_id, rpc_error)
        except Exception as exc:
            return None if is_notification else error_response(request_id, self._failure(exc))
        if is_notification:
            return None
        return {"jsonrpc": "2.0", "id": request_id, "result": result}


class JsonRpcBackend(Protocol):
    max_request_body_bytes: int

    def handle_body(self, body: bytes) -> bytes | None: ...


class ServedNode(JsonRpcDispatcher):
    """A node served over HTTP on 127.0.0.1: start/stop, context manager, `port`, `url`.

    Subclasses set `_requested_port` (0: any free port) and `_server_name`, and may hook
    `_on_start`/`_on_stop`."""

    _requested_port: int = 0
    _server_name: str = "node"
    _server: RpcHttpServer | None = None
    max_request_body_bytes: int

    def start(self) -> Self:
        """Bind 127.0.0.1 (a free port unless one was given) and serve in a daemon thread."""
        if self._server is None:
            server = RpcHttpServer(self._requested_port, self)
            self._server = server.start(f"{self._server_name}-{server.port}")
            self._on_start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent). The chain stays; `start()` serves it again."""
        server, self._server = self._server, None
        if server is not None:
            self._on_stop()
            server.stop()

    def _on_start(self) -> None:
        pass

    def _on_stop(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class LocalHttpServer(ThreadingHTTPServer):
    """A threaded HTTP server on 127.0.0.1 that behaves as a node's would under load (the
    sandbox nodes', and the tests' proxies and fakes)."""

    daemon_threads = True
    #: the listen backlog; socketserver's default of 5 drops the connections of a client
    #: that opens ten at once while the accepting thread waits for the interpreter lock
    #: (the SYN is retried after a second: a one-second stall that real nodes don't have)
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (it gave up, or its run ended) is not an
        error of the server: nothing is printed for it (socketserver prints a traceback to
        whatever `sys.stderr` is then -- in a test, another test's captured output)."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class RpcHttpServer(LocalHttpServer):
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
