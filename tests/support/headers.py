"""A header-only EVM node on 127.0.0.1: a long virtual chain in front of a real node.

anvil mines about 50 blocks a second here, so a chain of a million blocks can't be made for
a test. `HeaderNode` serves the headers of a virtual chain -- block numbers 0..N-1 with
the timestamps it is given (irregular ones: `irregular_times`) -- and maps every state
read (`eth_call`, `eth_getCode`, `eth_getBalance`, ...) at virtual block v onto the real
node's last block whose timestamp is <= the virtual block's. A test makes its real blocks
at virtual times (`time_of(v)` as the next block's timestamp), so the real history lies
inside the virtual one: state at virtual block v is the real state as of that time.

It counts the HTTP requests and JSON-RPC methods it is sent. Without an upstream node it
serves headers only (state reads are refused), for benchmarks of the block search.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from array import array
from collections import Counter
from collections.abc import Sequence
from typing import Any, Self

import httpx

from .localhttp import LocalServer, QuietHandler

#: methods whose block parameter is at this index
STATE_READS = {
    "eth_call": 1,
    "eth_getCode": 1,
    "eth_getBalance": 1,
    "eth_getTransactionCount": 1,
    "eth_getStorageAt": 2,
}


def irregular_times(n: int, end: int, *, seed: int = 7) -> array[int]:
    """`n` increasing block timestamps ending at `end`: four eras of different average block
    time (14 s, 12 s with missed slots, 2 s, 0.25-1 s bursts), random jitter, and a few
    outages of hours -- what real chains did over the years."""
    rng = random.Random(seed)
    gaps = array("q", [0]) * n
    for i in range(1, n):
        era = i * 4 // n
        if era == 0:
            gap = max(1, round(rng.expovariate(1 / 14)))
        elif era == 1:
            gap = 12 * (1 + (rng.random() < 0.08) + (rng.random() < 0.01))
        elif era == 2:
            gap = 2
        else:
            gap = rng.choice((1, 1, 1, 2))
        if rng.random() < 2e-5:
            gap += rng.randint(3_600, 30_000)  # an outage
        gaps[i] = gap
    times = array("q", [0]) * n
    t = end - sum(gaps)
    for i in range(n):
        t += gaps[i]
        times[i] = t
    return times


class HeaderNode(LocalServer):
    """The virtual chain's JSON-RPC server. Use as a context manager."""

    def __init__(
        self, times: Sequence[int], *, upstream: str | None = None, chain_id: int = 31337
    ) -> None:
        if any(b <= a for a, b in zip(times[:-1][:1000], times[1:1001], strict=True)):
            raise ValueError("block times must increase")
        self.times = times
        self.upstream = upstream
        self.chain_id = chain_id
        self.requests = 0
        self.methods: Counter[str] = Counter()
        #: headers served (eth_getBlockByNumber calls answered), and the HTTP requests that
        #: asked for any (the block search's round trips)
        self.headers = 0
        self.header_requests = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=60)
        self._real: list[int] = []  # timestamps of the upstream's blocks 0..
        self._url = ""

    # -- the virtual chain -------------------------------------------------------------

    @property
    def head(self) -> int:
        return len(self.times) - 1

    def time_of(self, number: int) -> int:
        return self.times[number]

    def block_at(self, when: int) -> int:
        """The last virtual block whose time is <= when (what the test expects)."""
        return bisect.bisect_right(self.times, when) - 1

    def real_block(self, virtual: int) -> int:
        """The upstream block holding the state of virtual block `virtual`."""
        stamp = self.times[virtual]
        with self._lock:
            if not self._real or self._real[-1] <= stamp:
                self._sync()
            return max(0, bisect.bisect_right(self._real, stamp) - 1)

    def _sync(self) -> None:
        head = int(self._upstream("eth_blockNumber", []), 16)
        for n in range(len(self._real), head + 1):
            block = self._upstream("eth_getBlockByNumber", [hex(n), False])
            self._real.append(int(block["timestamp"], 16))

    def _upstream(self, method: str, params: list[Any]) -> Any:
        assert self.upstream is not None
        reply = self._client.post(
            self.upstream, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).json()
        if "error" in reply:
            raise RuntimeError(f"upstream {method}: {reply['error']}")
        return reply["result"]

    def header(self, number: int) -> dict[str, Any]:
        return {
            "number": hex(number),
            "timestamp": hex(self.times[number]),
            "hash": "0x" + number.to_bytes(32, "big").hex(),
            "parentHash": "0x" + max(0, number - 1).to_bytes(32, "big").hex(),
            "transactions": [],
        }

    # -- JSON-RPC ----------------------------------------------------------------------

    def _number(self, tag: Any) -> int | None:
        if tag in ("latest", "safe", "finalized", "pending", None):
            return self.head
        if tag == "earliest":
            return 0
        number = int(tag, 16)
        return number if number <= self.head else None

    def answer(self, item: Any) -> dict[str, Any]:
        rid = item.get("id") if isinstance(item, dict) else None
        method = item.get("method") if isinstance(item, dict) else None
        params = list(item.get("params") or []) if isinstance(item, dict) else []

        def ok(result: Any) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "id": rid, "result": result}

        def err(message: str, code: int = -32000) -> dict[str, Any]:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}}

        if method == "eth_chainId":
            return ok(hex(self.chain_id))
        if method == "eth_blockNumber":
            return ok(hex(self.head))
        if method == "eth_getBlockByNumber":
            with self._lock:
                self.headers += 1
            number = self._number(params[0])
            return ok(None if number is None else self.header(number))
        if method in STATE_READS:
            if self.upstream is None:
                return err("header-only node: no state")
            at = STATE_READS[method]
            while len(params) <= at:
                params.append("latest")
            number = self._number(params[at])
            if number is None:
                return err("header not found")
            params[at] = hex(self.real_block(number))
            return self._forward({**item, "params": params})
        if self.upstream is None:
            return err(f"header-only node: {method} not served", -32601)
        return self._forward(item)

    def _forward(self, item: Any) -> dict[str, Any]:
        assert self.upstream is not None
        reply: dict[str, Any] = self._client.post(self.upstream, json=item).json()
        return reply

    # -- the server --------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._url, "header node not started"
        return self._url

    def reset(self) -> None:
        with self._lock:
            self.requests = self.headers = self.header_requests = 0
            self.methods.clear()

    def start(self) -> Self:
        node = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                payload = json.loads(body)
                items = payload if isinstance(payload, list) else [payload]
                with node._lock:
                    node.requests += 1
                    for item in items:
                        node.methods[str(item.get("method"))] += 1
                    if any(item.get("method") == "eth_getBlockByNumber" for item in items):
                        node.header_requests += 1
                answers = [node.answer(item) for item in items]
                out = json.dumps(answers if isinstance(payload, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._url = f"http://127.0.0.1:{self._serve(Handler)}/"
        return self

    def stop(self) -> None:
        self._close()
        self._client.close()
