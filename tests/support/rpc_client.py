"""The tests' JSON-RPC client for a local node's own URL (`rpc`, `rpc_raw`).

Mixed into the tests' `AnvilNode` and into their subclass of the package's `EvmNode` (see
`support.evm`); the package itself never calls its nodes over HTTP this way.
"""

from __future__ import annotations

from typing import Any

import httpx

from xstock_audit.sandbox.rpc_http import RpcError


class RpcClientMixin:
    """JSON-RPC over HTTP to the node's `url` through `_http` (opened while the node runs)."""

    _http: httpx.Client | None = None
    _rpc_id: int = 0

    @property
    def url(self) -> str:
        raise NotImplementedError

    def rpc_raw(self, method: str, params: list[Any]) -> dict[str, Any]:
        """POST one JSON-RPC request; return the whole response object (`result` or `error`)."""
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        self._rpc_id += 1
        payload = {"jsonrpc": "2.0", "id": self._rpc_id, "method": method, "params": params}
        response = self._http.post(self.url, json=payload)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def rpc(self, method: str, params: list[Any]) -> Any:
        """JSON-RPC call returning `result`; raises `RpcError` on an `error`."""
        body = self.rpc_raw(method, params)
        if "error" in body:
            raise RpcError.from_json(body["error"], method=method)
        return body.get("result")
