"""The one JSON-RPC transport, shared by the EVM and Solana readers.

`Endpoint` sends single calls and batches over an `httpx.AsyncClient`, retries transient
failures (connection errors, timeouts, HTTP 429/5xx, rate-limit error objects) with
exponential backoff and jitter, honours ``Retry-After``, splits batches a server refuses as
too large, and never lets a raw URL into an error message (it is shown redacted).
Failover between endpoints happens one level up, per chain read, so that a read stays on
one node and one pinned block or slot.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from . import redact
from .errors import RpcError

#: JSON-RPC error codes that mean "slow down", not "your request is wrong".
RATE_LIMIT_CODES = {429, -32005, -32029, -32097}
BATCH_TOO_LARGE_HINTS = ("batch too large", "batch size", "too many requests in batch")


@dataclass
class Call:
    method: str
    params: list[Any] = field(default_factory=list)


@dataclass
class Stats:
    http_requests: int = 0
    calls: int = 0
    retries: int = 0


def _is_rate_limited(err: dict[str, Any]) -> bool:
    code = err.get("code")
    msg = str(err.get("message", "")).lower()
    return code in RATE_LIMIT_CODES or "rate limit" in msg or "too many requests" in msg


def _is_batch_too_large(err: dict[str, Any]) -> bool:
    msg = str(err.get("message", "")).lower()
    return any(h in msg for h in BATCH_TOO_LARGE_HINTS)


class BatchTooLarge(RpcError):
    pass


class Endpoint:
    """One JSON-RPC endpoint. All errors raised are `RpcError` with redacted text."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.2,
        batch_size: int = 100,
        max_concurrency: int = 4,
        max_body_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self._url = url
        self.shown = redact.register_url(url)
        self._client = client
        self._headers = {"content-type": "application/json", **(headers or {})}
        for value in (headers or {}).values():
            redact.register_secret(value)
        self._timeout = timeout
        self._timeouts = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self._retries = retries
        self._backoff = backoff
        self.batch_size = batch_size
        self.max_body_bytes = max_body_bytes
        self.stats = Stats()
        self._next_id = 1
        self._slots = asyncio.Semaphore(max_concurrency)

    # -- wire ---------------------------------------------------------------------------

    async def _post(self, payload: Any) -> Any:
        return await self._post_body(json.dumps(payload, separators=(",", ":")))

    async def _post_body(self, body: str | bytes) -> Any:
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                self.stats.http_requests += 1
                async with self._slots:
                    resp = await self._client.post(
                        self._url, content=body, headers=self._headers, timeout=self._timeouts
                    )
                # httpx ties a read response and its stream in a cycle, which keeps the request
                # and reply bodies (megabytes each for a large audit) alive until the cyclic
                # collector runs; cut it so they go when this function is done with them
                resp.stream = _READ
                if resp.status_code == 413:
                    raise BatchTooLarge(f"{self.shown}: HTTP 413 request too large")
                if resp.status_code == 429 or resp.status_code >= 500:
                    retry_after = parse_retry_after(resp.headers.get("retry-after"))
                    raise RpcError(
                        f"{self.shown}: HTTP {resp.status_code}",
                        code=resp.status_code,
                        transient=True,
                    )
                if resp.status_code >= 400:
                    raise RpcError(f"{self.shown}: HTTP {resp.status_code}", code=resp.status_code)
                try:
                    reply = resp.json()
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise RpcError(
                        f"{self.shown}: reply is not JSON (HTTP {resp.status_code}, "
                        f"{len(resp.content)} bytes)",
                        transient=True,
                    ) from None
                error = reply.get("error") if isinstance(reply, dict) else None
                if isinstance(error, dict) and _is_rate_limited(error):
                    raise _error_from(error, self.shown, "request")  # transient: retried
                return reply
            except httpx.TimeoutException:
                err = RpcError(f"{self.shown}: timed out after {self._timeout:g}s", transient=True)
            except httpx.TransportError as exc:
                err = RpcError(
                    f"{self.shown}: {type(exc).__name__}: {redact.scrub(str(exc)) or 'failed'}",
                    transient=True,
                )
            except RpcError as exc:
                if not exc.transient:
                    raise
                err = exc
            if attempt >= self._retries:
                raise err
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(backoff_delay(attempt, self._backoff, retry_after))

    def _ids(self, n: int) -> list[int]:
        start = self._next_id
        self._next_id += n
        return list(range(start, start + n))

    # -- API ----------------------------------------------------------------------------

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One call; returns its result or raises RpcError (error objects included)."""
        (rid,) = self._ids(1)
        self.stats.calls += 1
        reply = await self._post(
            {"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}
        )
        if not isinstance(reply, dict):
            raise RpcError(f"{self.shown}: malformed JSON-RPC reply to {method}")
        if reply.get("error") is not None:
            err = reply["error"] if isinstance(reply["error"], dict) else {}
            raise _error_from(err, self.shown, method)
        if "result" not in reply:
            raise RpcError(f"{self.shown}: reply to {method} has neither result nor error")
        return reply["result"]

    async def batch(
        self, calls: Sequence[Call], on_result: Callable[[int, Any], None] | None = None
    ) -> list[Any]:
        """Send calls as JSON-RPC batches; return one entry per call, in order: the result,
        or an `RpcError` for that call. Raises RpcError when an exchange itself fails.

        A batch is split into parts of at most `batch_size` calls and `max_body_bytes` of
        request body, sent concurrently (so a split costs requests, not round trips). A part
        the server refuses as too large is halved, and the smaller size is kept.
        `on_result(i, entry)` is called as each part's entries arrive, so a caller can work
        on them while the other parts are on their way (an entry asked again, after a rate
        limit, is given again).
        """
        ids = self._ids(len(calls))
        self.stats.calls += len(calls)
        items = [
            json.dumps(
                {"jsonrpc": "2.0", "id": rid, "method": c.method, "params": c.params},
                separators=(",", ":"),
            )
            for rid, c in zip(ids, calls, strict=True)
        ]
        results: list[Any] = [None] * len(calls)
        # a method, not a closure: a closure that calls itself (to halve a refused part) is a
        # reference cycle, and it would keep every call's body alive until the cyclic
        # collector ran -- tens of megabytes of calldata in a 10,000-token audit
        run = partial(self._run_part, items, ids, calls, results, on_result)
        await asyncio.gather(*(run(p) for p in self._split(range(len(items)), items)))
        for attempt in range(self._retries):  # calls the server rate-limited one by one
            again = [i for i, r in enumerate(results) if isinstance(r, RpcError) and r.transient]
            if not again:
                break
            self.stats.retries += 1
            await asyncio.sleep(backoff_delay(attempt + 1, self._backoff))
            await asyncio.gather(*(run(p) for p in self._split(again, items)))
        return results

    async def _run_part(
        self,
        items: Sequence[str],
        ids: Sequence[int],
        calls: Sequence[Call],
        results: list[Any],
        on_result: Callable[[int, Any], None] | None,
        part: list[int],
    ) -> None:
        """Send the calls `part` indexes as one batch; a refused batch is halved."""
        try:
            body = "[" + ",".join(items[i] for i in part) + "]"
            replies = await self._batch_once(body, [ids[i] for i in part], [calls[i] for i in part])
        except BatchTooLarge:
            if len(part) == 1:
                raise
            half = len(part) // 2
            self.batch_size = min(self.batch_size, half)
            await asyncio.gather(
                self._run_part(items, ids, calls, results, on_result, part[:half]),
                self._run_part(items, ids, calls, results, on_result, part[half:]),
            )
            return
        for i, r in zip(part, replies, strict=True):
            results[i] = r
            if on_result is not None:
                on_result(i, r)

    def _split(self, indexes: Sequence[int], items: Sequence[str]) -> list[list[int]]:
        """Cut `indexes` into parts within the batch size and the body size."""
        parts: list[list[int]] = []
        current: list[int] = []
        size = 2
        for i in indexes:
            item = items[i]
            if current and (
                len(current) >= self.batch_size or size + len(item) + 1 > self.max_body_bytes
            ):
                parts.append(current)
                current, size = [], 2
            current.append(i)
            size += len(item) + 1
        if current:
            parts.append(current)
        return parts

    async def _batch_once(self, body: str, ids: Sequence[int], calls: Sequence[Call]) -> list[Any]:
        reply = await self._post_body(body)
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            err = reply["error"]
            if _is_batch_too_large(err) or (err.get("code") == -32600 and len(calls) > 1):
                raise BatchTooLarge(f"{self.shown}: batch of {len(calls)} refused: {err}")
            raise _error_from(err, self.shown, "batch")
        if not isinstance(reply, list):
            raise RpcError(f"{self.shown}: batch reply is not a JSON array", transient=True)
        by_id: dict[Any, Any] = {}
        for item in reply:
            if isinstance(item, dict) and "id" in item:
                by_id[item["id"]] = item
        out: list[Any] = []
        for rid, c in zip(ids, calls, strict=True):
            item = by_id.get(rid)
            if item is None:
                out.append(RpcError(f"{self.shown}: batch reply has no answer to {c.method}"))
            elif item.get("error") is not None:
                err = item["error"] if isinstance(item["error"], dict) else {}
                out.append(_error_from(err, self.shown, c.method))
            elif "result" not in item:
                out.append(RpcError(f"{self.shown}: reply to {c.method} has no result"))
            else:
                out.append(item["result"])
        return out


#: what a response's stream becomes once its body has been read
_READ = httpx.ByteStream(b"")


def _error_from(err: dict[str, Any], shown: str, method: str) -> RpcError:
    code = err.get("code")
    message = redact.scrub(str(err.get("message", "unknown error")))[:300]
    return RpcError(
        f"{shown}: {method} failed: {message}" + (f" (code {code})" if code is not None else ""),
        code=code if isinstance(code, int) else None,
        data=err.get("data"),
        transient=_is_rate_limited(err),
    )


def parse_retry_after(value: str | None, cap: float = 30.0) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date), within [0, cap];
    None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(int(text))
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, min(seconds, cap))


def backoff_delay(
    attempt: int, backoff: float, retry_after: float | None = None, cap: float = 30.0
) -> float:
    """How long to wait before retry number `attempt` (1, 2, ...): the server's Retry-After
    when it gave one, else exponential backoff; capped, plus up to 25 % jitter."""
    delay = retry_after if retry_after is not None else backoff * 2 ** (attempt - 1)
    return min(delay, cap) * (1 + random.random() * 0.25)


def preload() -> None:
    """Import now what httpx imports when a client is made and when it first connects:
    httpcore with h11 and h2, and anyio's asyncio backend, about 80 modules.

    The audit calls this before it starts its worker threads (custody files, the EVM call
    plan). An import makes hundreds of file-system calls, each of which lets go of the
    interpreter lock, and a busy worker thread then keeps it for up to the switch interval
    (5 ms) each time: imported with those threads running, these modules took 0.2-0.4 s
    instead of 0.1 s in a 10,000-token audit."""
    import anyio._backends._asyncio  # noqa: F401
    import h2.connection  # noqa: F401
    import httpcore
    import httpcore._async.connection_pool
    import httpcore._async.http2
    import httpcore._async.http11  # noqa: F401


def make_client(tls: bool = True) -> httpx.AsyncClient:
    """The shared HTTP client: keep-alive, HTTP/2 where the server offers it, no redirects.

    `tls=False` when the caller knows it will fetch no https URL: the client then gets a
    TLS context that trusts no certificate at all instead of loading the CA bundle (25-50 ms
    of a run's start). An https request made with it anyway fails verification; it never
    goes through unchecked."""
    try:
        import h2  # noqa: F401

        http2 = True
    except ImportError:  # pragma: no cover - h2 comes with httpx[http2]
        http2 = False
    return httpx.AsyncClient(
        http2=http2,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        verify=True if tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
    )
