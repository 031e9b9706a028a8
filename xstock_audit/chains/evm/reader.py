"""EVM reader: ERC-20 and Backed multiplier tokens over JSON-RPC.

Per endpoint, two HTTP requests in the usual case, each one JSON-RPC batch:

1. `eth_chainId` (must equal the registry's `chain_id`) and the pin (`eth_getBlockByNumber`
   of the block tag, or `eth_blockNumber` for head - confirmations); with `deployless:
   false`, `eth_getCode` of Multicall3 too.
2. Every value of every deployment at the pinned block: `decimals()`, `totalSupply()`,
   `balanceOf(x)` per excluded holder and the Backed multiplier views (a plain ERC-20
   reverts on them), in deployless batch calls (`batchread`: contract-creation `eth_call`s
   that run each call with STATICCALL, so one bad token can't sink the rest), chunked by
   call count and the creation limits. A batch that fails as too large, out of gas, or
   because one of its calls starved is split in two and retried. A node that refuses
   creation calls is read through Multicall3 `aggregate3` (`allowFailure`) instead, and
   without Multicall3 the same calls go as plain `eth_call`s in JSON-RPC batches.

If an endpoint fails, the whole read moves to the next one.

`read_at(deployments, when)` (`check --at`) first finds the last block at or before `when`
(`blocksearch`: one round trip for the chain id, the head and the first blocks, then a few
batches of headers), then reads everything at that block as above. It uses the chain's
`archive_rpc` endpoints first, then `rpc`. A node that no longer has the state of that block
(not an archive node) is an error naming the block and the endpoint.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from ...errors import RpcError
from ...rpc import Call, Endpoint
from ...timefmt import from_unix
from .. import JsonRpcReader, endpoints_for, failed, guarded
from .. import multicall as mc
from ..consensus import Probe, freshness, merge, select
from ..interface import (
    ChainRead,
    ChainSettings,
    DeploymentModel,
    EndpointFailed,
    MovementsRead,
    Note,
    Pin,
    StaleHead,
)
from . import batchread as br
from . import blocksearch
from .models import EvmChain, EvmDeployment
from .values import (
    SEL_ACTIVATION,
    SEL_BALANCE_OF,
    SEL_CURRENT_MULTIPLIER,
    SEL_DECIMALS,
    SEL_LATEST_ROUND_DATA,
    SEL_MULTIPLIER,
    SEL_NEW_MULTIPLIER,
    SEL_TOTAL_SUPPLY,
    CallResult,
    Failure,
    Plan,
    feed_round,
    supply,
    uint,
)

WAD = 10**18
#: one object for every call that reverted inside aggregate3 (a plain ERC-20 reverts on the
#: four multiplier views: 40,000 of them for 10,000 tokens)
REVERTED = Failure("execution reverted", revert=True)
#: eth_call errors that mean "this chunk is too big": split it and try again.
SPLIT_HINTS = ("out of gas", "gas required exceeds", "gas limit", "too large", "exceeds")
#: errors of a node asked for state it no longer has (geth, erigon, reth, nethermind,
#: besu, anvil with --prune-history, hosted providers): the block needs an archive node
MISSING_STATE_HINTS = re.compile(
    r"missing trie node|header not found|historical state|state histor|unknown block"
    r"|state\b.*\b(not available|unavailable|pruned)|pruned|blockoutofrange|block height is"
)

if TYPE_CHECKING:
    import httpx

    from ...progress import ChainWatch


class MissingState(RpcError):
    """The endpoint has no state at the block asked for (not an archive node)."""


def _missing_state(exc: RpcError, block: int, ep: Endpoint) -> MissingState | None:
    """`exc` as a missing-state error naming the block and the endpoint, or None when it is
    another error. A `MissingState` already is one."""
    if isinstance(exc, MissingState):
        return exc
    text = exc.message.lower()
    if not MISSING_STATE_HINTS.search(text):
        return None
    return MissingState(
        f"{ep.shown} has no state at block {block} (not an archive node? list one under "
        f"the chain's archive_rpc): {exc.message}"
    )


def _quantity(result: Any) -> int:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError(f"not a hex quantity: {result!r}")
    return int(result, 16)


def _hex_bytes(result: Any) -> bytes:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError("eth_call reply is not hex data")
    return bytes.fromhex(result[2:])


def _header(ep: Endpoint, block: Any, asked: str) -> tuple[int, int]:
    """(number, timestamp) of an `eth_getBlockByNumber` reply."""
    if not isinstance(block, dict):
        raise RpcError(f"{ep.shown}: block {asked} not found")
    return _quantity(block.get("number")), _quantity(block.get("timestamp"))


def _is_split_error(exc: RpcError) -> bool:
    text = exc.message.lower()
    return any(h in text for h in SPLIT_HINTS)


@dataclass(frozen=True)
class _Ident:
    """What round 1 found on one endpoint."""

    number: int
    timestamp: int | None
    has_multicall: bool
    head: int | None

    def at(self, block: int) -> _Ident:
        """The same endpoint pinned to another block (its time then comes from round 2)."""
        if block == self.number:
            return self
        return _Ident(block, None, self.has_multicall, self.head)


_Probed = tuple[Endpoint, _Ident]


@dataclass(frozen=True)
class _Planned:
    """A read's calls (`EvmReader._plan`)."""

    targets: list[tuple[str, bytes]]
    plans: list[Plan]
    #: aggregator -> where its latestRoundData() and decimals() sit
    feeds: dict[str, tuple[int, int]]
    #: deployless batches: each call's result cap, the [start, end) ranges with their init
    #: code's size, and each range's init code in hex
    caps: list[int]
    chunks: list[tuple[int, int, int]]
    encoded: dict[tuple[int, int], str]


class EvmReader(JsonRpcReader):
    unit = "block"

    chain: EvmChain
    #: Proof of Reserve aggregators to read in the same block (custody `chainlink-por`); set
    #: by the audit before `read`
    feeds: tuple[str, ...] = ()

    def __init__(
        self,
        name: str,
        chain: ChainSettings,
        client: httpx.AsyncClient,
        *,
        now: datetime | None = None,
        clock_skew: timedelta = timedelta(minutes=5),
        watch: ChainWatch | None = None,
    ) -> None:
        super().__init__(name, chain, client, now=now, clock_skew=clock_skew, watch=watch)
        archive = list(getattr(chain, "archive_rpc", ()))
        #: endpoints for past reads only (`archive_rpc`)
        self.archive = (
            endpoints_for(chain.model_copy(update={"rpc": archive}), client) if archive else []
        )
        #: block number -> timestamp of every header fetched in this run (`read_at`)
        self.headers: dict[int, int] = {}

    # -- check --at: the last block at or before an instant --------------------------------

    async def read_at(self, deployments: Sequence[DeploymentModel], when: datetime) -> ChainRead:
        evm = [d for d in deployments if isinstance(d, EvmDeployment)]
        endpoints = [*self.archive, *self.endpoints]
        self.watch.track(endpoints)
        errors: list[Note] = []
        planned = self._plan(evm)
        for ep in endpoints:
            self.watch.using(ep)
            try:
                found, how = await self._find_block(ep, when)
            except blocksearch.BeforeGenesis as exc:
                return failed(
                    self.name, evm, f"{when.isoformat()} is before the chain began: {exc}"
                )
            except RpcError as exc:
                errors.append(EndpointFailed(exc.message))
                continue
            if found.next_timestamp is None and self.clock is not None:
                # the head is at or before `when`: a node whose head is much older than the
                # instant is stuck or syncing, and its head is not the chain at `when`
                behind = when - from_unix(found.timestamp)
                if behind > self.clock.max_head_age:
                    errors.append(
                        StaleHead(
                            ep.shown,
                            self.unit,
                            found.number,
                            from_unix(found.timestamp),
                            behind,
                            self.clock.max_head_age,
                        )
                    )
                    continue
            self.watch.pinned(found.number, ep)
            ident = _Ident(found.number, found.timestamp, bool(self.chain.multicall), None)
            try:
                read = await self._values(ep, evm, ident, planned)
            except RpcError as exc:
                errors.append(EndpointFailed(exc.message))
                continue
            problem = freshness(read, self.clock, pinned=True)
            if problem:
                errors.append(problem)
                continue
            assert read.pin is not None
            return replace(
                read,
                pin=replace(read.pin, at=when, how=how),
                notes=(*errors, *read.notes),
                retries=sum(ep.stats.retries for ep in endpoints),
            )
        return failed(self.name, evm, *errors)

    async def movements(
        self, deployments: Sequence[DeploymentModel], since: datetime, pin: Pin
    ) -> MovementsRead:
        """`check --movements`: the Transfer logs after `since` up to the pinned block
        (`evm/movements.py`)."""
        from .movements import movements

        return await movements(self, deployments, since, pin)

    async def _find_block(self, ep: Endpoint, when: datetime) -> tuple[blocksearch.Found, str]:
        """The last block at or before `when` on `ep`, and how it was found. One round trip
        for the chain id, the head and blocks 0 and 1 (block 0 of some chains is dated
        1970: block 1 anchors the average block time), then `blocksearch.find`."""
        cache = self.headers
        anchors = [n for n in (0, 1) if n not in cache]
        calls = [Call("eth_chainId"), Call("eth_getBlockByNumber", ["latest", False])]
        calls += [Call("eth_getBlockByNumber", [hex(n), False]) for n in anchors]
        replies = await ep.batch(calls)
        for r in replies[:2]:
            if isinstance(r, RpcError):
                raise r
        try:
            self._check_chain_id(ep, replies[0])
            head_number, head_time = _header(ep, replies[1], "latest")
            cache[head_number] = head_time
            for n, r in zip(anchors, replies[2:], strict=True):
                if r is None and n > head_number:
                    continue  # a chain of one block
                if isinstance(r, RpcError):
                    raise r
                number, stamp = _header(ep, r, hex(n))
                cache[number] = stamp
        except ValueError as exc:
            raise RpcError(f"{ep.shown}: malformed reply: {exc}") from None
        fetched = 1 + len(anchors)

        async def fetch(numbers: list[int]) -> dict[int, int]:
            got = await ep.batch([Call("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
            out: dict[int, int] = {}
            for n, r in zip(numbers, got, strict=True):
                if isinstance(r, RpcError):
                    raise r
                number, stamp = _header(ep, r, hex(n))
                if number != n:
                    raise RpcError(f"{ep.shown}: asked for block {n}, got block {number}")
                out[n] = stamp
            return out

        try:
            found = await blocksearch.find(int(when.timestamp()), head_number, cache, fetch)
        except ValueError as exc:
            if isinstance(exc, blocksearch.BeforeGenesis):
                raise
            raise RpcError(f"{ep.shown}: malformed reply: {exc}") from None
        rounds = 1 + found.rounds
        headers = fetched + found.headers
        how = (
            f"block search: {rounds} round trip{'s' if rounds != 1 else ''}, "
            f"{headers} header{'s' if headers != 1 else ''}"
        )
        if found.next_timestamp is None:
            how += " (the head is at or before the instant)"
        return found, how

    async def read(
        self, deployments: Sequence[DeploymentModel], at: int | None = None
    ) -> ChainRead:
        evm = [d for d in deployments if isinstance(d, EvmDeployment)]
        eps = self.endpoints
        # the calls are planned in a worker thread while the probe's round trip is in flight
        planning = asyncio.ensure_future(asyncio.to_thread(self._plan, evm))
        try:
            if len(eps) == 1:
                probes = [await self._probe(eps[0], at, want_head=False)]
            else:  # probe every endpoint at once: chain id, head (for the lag check), pin
                probes = list(await asyncio.gather(*(self._probe(ep, at, True) for ep in eps)))
        finally:
            planned = await planning
        usable, notes = select(probes, self.chain.max_lag, self.unit)
        if self.chain.quorum > 1:
            return await self._quorum(evm, usable, notes, at is not None, planned)
        errors: list[Note] = []
        for probe in usable:
            assert probe.state is not None
            ep, ident = probe.state
            self.watch.pinned(ident.number, ep)
            try:
                read = await self._values(ep, evm, ident, planned)
            except RpcError as exc:
                errors.append(EndpointFailed(exc.message))
                continue
            problem = freshness(read, self.clock, pinned=at is not None)
            if problem:
                errors.append(problem)
                continue
            return replace(read, notes=(*notes, *errors, *read.notes), retries=self._retries())
        return failed(self.name, evm, *notes, *errors)

    async def _quorum(
        self,
        deps: Sequence[EvmDeployment],
        usable: list[Probe[_Probed]],
        notes: list[Note],
        pinned: bool,
        planned: _Planned,
    ) -> ChainRead:
        """Read the same block from `quorum` endpoints; they must agree on every value."""
        need = self.chain.quorum
        if len(usable) < need:
            return failed(
                self.name,
                deps,
                f"quorum of {need} endpoints not reachable ({len(usable)} usable)",
                *notes,
            )
        # the newest block every chosen endpoint has
        block = min(p.state[1].number for p in usable[:need] if p.state is not None)
        self.watch.pinned(block)
        reads: list[ChainRead] = []
        errors: list[Note] = []
        candidates = list(usable)
        while len(reads) < need and candidates:
            wave, candidates = candidates[: need - len(reads)], candidates[need - len(reads) :]
            results = await asyncio.gather(
                *(
                    self._values(p.state[0], deps, p.state[1].at(block), planned)
                    for p in wave
                    if p.state
                ),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, ChainRead):
                    problem = freshness(r, self.clock, pinned=pinned)
                    if problem:
                        errors.append(problem)
                    else:
                        reads.append(r)
                elif isinstance(r, RpcError):
                    errors.append(EndpointFailed(r.message))
                elif isinstance(r, BaseException):
                    raise r
        if len(reads) < need:
            return failed(
                self.name,
                deps,
                f"quorum of {need} endpoints not reached at block {block}",
                *notes,
                *errors,
            )
        merged = merge(reads)
        return replace(merged, notes=(*notes, *merged.notes), retries=self._retries())

    def _check_chain_id(self, ep: Endpoint, reply: Any) -> None:
        """An `eth_chainId` reply must be the registry's `chain_id`."""
        chain_id = _quantity(reply)
        if chain_id != self.chain.chain_id:
            raise RpcError(
                f"{ep.shown}: endpoint is chain id {chain_id}, the registry says "
                f"{self.chain.chain_id} (wrong network?)"
            )

    # -- round trip 1: identity, pin, Multicall3 -------------------------------------------

    async def _probe(self, ep: Endpoint, at: int | None, want_head: bool) -> Probe[_Probed]:
        try:
            ident = await self._identify(ep, at, want_head)
        except RpcError as exc:
            return Probe(ep.shown, None, error=exc.message)
        return Probe(ep.shown, ident.head, state=(ep, ident))

    async def _identify(self, ep: Endpoint, at: int | None, want_head: bool) -> _Ident:
        """Check the chain id; find the pinned block (and its time when the reply has it)."""
        calls = [Call("eth_chainId")]
        if want_head or (at is None and self.chain.confirmations is not None):
            calls.append(Call("eth_blockNumber"))
        if at is None and self.chain.confirmations is None:
            calls.append(Call("eth_getBlockByNumber", [self.chain.block or "latest", False]))
        multicall = self.chain.multicall if not self.chain.batches_deployless else False
        if multicall:
            calls.append(Call("eth_getCode", [multicall, "latest"]))
        replies = await ep.batch(calls)
        for r in replies:
            if isinstance(r, RpcError):
                raise r
        try:
            self._check_chain_id(ep, replies[0])
            rest = replies[1:]
            asked_head = len(calls) > 1 and calls[1].method == "eth_blockNumber"
            head = _quantity(rest.pop(0)) if asked_head else None
            timestamp: int | None = None
            if at is not None:
                number = at
            elif self.chain.confirmations is not None:
                assert head is not None
                number = max(0, head - self.chain.confirmations)
            else:
                block = rest.pop(0)
                if not isinstance(block, dict):
                    raise RpcError(f"{ep.shown}: block {self.chain.block or 'latest'} not found")
                number = _quantity(block.get("number"))
                timestamp = _quantity(block.get("timestamp"))
        except ValueError as exc:
            raise RpcError(f"{ep.shown}: malformed reply: {exc}") from None
        code = replies[-1] if multicall else None
        has_multicall = bool(multicall) and code not in ("0x", "0x0", None, "")
        return _Ident(number, timestamp, has_multicall, head)

    # -- round trip 2: every value at the pinned block -------------------------------------

    def _plan(self, deps: Sequence[EvmDeployment]) -> _Planned:
        """Every call of a read, where each value sits, and the deployless batches' init
        code. It depends on nothing the probe finds, so `read` builds it (in a worker
        thread) while the probe's round trip is in flight."""
        targets: list[tuple[str, bytes]] = []

        def call(to: str, data: bytes) -> int:
            targets.append((to, data))
            return len(targets) - 1

        plans = [
            Plan(
                decimals=call(d.address, SEL_DECIMALS),
                total_supply=call(d.address, SEL_TOTAL_SUPPLY),
                balances=tuple(
                    call(d.address, SEL_BALANCE_OF + bytes.fromhex(x[2:]).rjust(32, b"\x00"))
                    for x in d.exclude
                ),
                multiplier=call(d.address, SEL_MULTIPLIER),
                current_multiplier=call(d.address, SEL_CURRENT_MULTIPLIER),
                new_multiplier=call(d.address, SEL_NEW_MULTIPLIER),
                activation=call(d.address, SEL_ACTIVATION),
            )
            for d in deps
        ]
        feed_plans = {
            address: (call(address, SEL_LATEST_ROUND_DATA), call(address, SEL_DECIMALS))
            for address in self.feeds
        }
        if not self.chain.batches_deployless:
            return _Planned(targets, plans, feed_plans, [], [], {})
        caps = [160 if data[:4] == SEL_LATEST_ROUND_DATA else br.WORD for _to, data in targets]
        chunks = self._batch_chunks(targets, caps)
        encoded = {(a, b): br.encode(targets[a:b], caps[a:b]).hex() for a, b, _ in chunks}
        return _Planned(targets, plans, feed_plans, caps, chunks, encoded)

    async def _values(
        self,
        ep: Endpoint,
        deps: Sequence[EvmDeployment],
        ident: _Ident,
        planned: _Planned | None = None,
    ) -> ChainRead:
        number, timestamp, has_multicall = ident.number, ident.timestamp, ident.has_multicall
        planned = planned or self._plan(deps)
        targets = list(planned.targets)  # the Multicall3 path may add a clock call
        plans, feed_plans = planned.plans, planned.feeds

        def call(to: str, data: bytes) -> int:
            targets.append((to, data))
            return len(targets) - 1

        results: list[CallResult] | None = None
        if self.chain.batches_deployless:
            batch = await self._batch_calls(ep, planned, number)
            if batch is not None:
                results, ran_at = batch
                timestamp = timestamp if timestamp is not None else ran_at
            else:  # the node runs no creation calls: Multicall3 if it is there, else eth_calls
                has_multicall = True
        if results is None and has_multicall and self.chain.multicall:
            clock = -1
            if timestamp is None:
                clock = call(self.chain.multicall, mc.GET_CURRENT_BLOCK_TIMESTAMP)
            results = await self._multicall(ep, self.chain.multicall, targets, hex(number))
            if results is not None and clock >= 0:
                stamp = results[clock]
                if isinstance(stamp, Failure):
                    raise RpcError(f"{ep.shown}: getCurrentBlockTimestamp(): {stamp.message}")
                timestamp = uint(stamp)
        plain = results is None  # no Multicall3 (at this block): plain eth_calls
        if timestamp is None:  # nor from the batches (none ran: every call starved)
            try:
                block = await ep.call("eth_getBlockByNumber", [hex(number), False])
            except RpcError as exc:
                raise _missing_state(exc, number, ep) or exc from None
            if not isinstance(block, dict):
                raise RpcError(f"{ep.shown}: block {number} not found")
            timestamp = _quantity(block.get("timestamp"))
        if plain:
            results = await self._batched(ep, targets, hex(number))
        assert timestamp is not None and results is not None
        supplies = {
            d.key: guarded(
                self.name,
                d.address,
                partial(supply, self.name, d, plan, results, number, timestamp),
            )
            for d, plan in zip(deps, plans, strict=True)
        }
        return ChainRead(
            chain=self.name,
            pin=Pin(self.name, "evm", number, from_unix(timestamp), ep.shown),
            supplies=supplies,
            requests=ep.stats.http_requests,
            feeds={a: feed_round(a, results[r], results[d]) for a, (r, d) in feed_plans.items()},
        )

    def _batch_chunks(
        self, targets: Sequence[tuple[str, bytes]], caps: Sequence[int]
    ) -> list[tuple[int, int, int]]:
        """[start, end) ranges for deployless batch calls: at most `multicall_chunk` calls,
        the init code within EIP-3860 and the results, at their caps, within EIP-170; with
        the size of each range's init code in bytes."""
        code = len(br.bytecode()) + 32
        room_in = min(br.MAX_INITCODE, self.chain.multicall_bytes) - code
        room_out = br.MAX_RETURNED - br.HEADER
        out: list[tuple[int, int, int]] = []
        start, size, returned, previous, run = 0, 0, 0, "", 0
        for i, (to, data) in enumerate(targets):
            run = run + 1 if to == previous and run < 255 else 1
            item = 2 + len(data) + (21 if run == 1 else 0)
            back = 3 + caps[i]
            if i > start and (
                i - start >= self.chain.multicall_chunk
                or size + item > room_in
                or returned + back > room_out
            ):
                out.append((start, i, code + size))
                start, size, returned, run = i, 0, 0, 1
                item = 23 + len(data)
            size += item
            returned += back
            previous = to
        if start < len(targets):
            out.append((start, len(targets), code + size))
        return out

    async def _batch_calls(
        self, ep: Endpoint, planned: _Planned, number: int
    ) -> tuple[list[CallResult], int | None] | None:
        """Run calls as deployless batch calls (`batchread`) at block `number`: the results
        and the block's timestamp (None if no batch came back: each of its calls starved),
        or None when the node ran none of them (it refuses creation calls): the caller then
        uses Multicall3 or plain eth_calls.

        A batch that fails as too large, out of gas, or for a transient reason is split in
        two and asked again; so is one that reverted, which BatchRead does only when a call
        ran out of gas (a contract's own revert is a result, never the batch's)."""
        targets, caps, encoded = planned.targets, planned.caps, planned.encoded
        results: list[CallResult] = [Failure("not run")] * len(targets)
        stamps: set[tuple[int, int]] = set()
        refused: list[str] = []
        ran = False
        slots = asyncio.Semaphore(self.chain.max_concurrency)
        block = hex(number)

        def _init_code(a: int, b: int) -> str:
            hexed = encoded.get((a, b))  # built with the plan; a split part is built here
            return hexed if hexed is not None else br.encode(targets[a:b], caps[a:b]).hex()

        async def send(group: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
            nonlocal ran
            retry: list[tuple[int, int, int]] = []
            async with slots:
                replies = await ep.batch(
                    [
                        Call(
                            "eth_call",
                            [{"data": "0x" + _init_code(a, b)}, block],
                        )
                        for a, b, _ in group
                    ]
                )
                for (a, b, size), reply in zip(group, replies, strict=True):
                    if isinstance(reply, RpcError):
                        missing = _missing_state(reply, number, ep)
                        if missing:
                            raise missing
                        starved = reply.is_revert
                        if b - a > 1 and (_is_split_error(reply) or reply.transient or starved):
                            mid = (a + b) // 2
                            retry += [(a, mid, size // 2), (mid, b, size - size // 2)]
                            continue
                        text = "ran out of gas" if starved else reply.message
                        if not starved:
                            refused.append(reply.message)
                        for i in range(a, b):
                            results[i] = Failure(f"batch call: {text}")
                        continue
                    ran = True
                    try:
                        at, stamp, decoded = br.decode(_hex_bytes(reply), caps[a:b])
                    except ValueError as exc:
                        raise RpcError(f"{ep.shown}: malformed batch call reply: {exc}") from None
                    stamps.add((at, stamp))
                    for i, (ok, ret) in zip(range(a, b), decoded, strict=True):
                        results[i] = ret if ok else REVERTED
            return retry

        pending = list(planned.chunks)
        while pending:
            done = await asyncio.gather(
                *(send(g) for g in self._groups(ep, pending)), return_exceptions=True
            )
            for d in done:
                if isinstance(d, BaseException):
                    raise d
            pending = [chunk for retry in done if isinstance(retry, list) for chunk in retry]
        if not ran and refused:
            return None
        if not stamps:
            return results, None
        # every batch must have run in one block: the same NUMBER and TIMESTAMP. NUMBER is
        # not held to `number` itself: on some chains it is not the chain's own block
        # number (on Arbitrum it is an L1 block's)
        if len(stamps) > 1:
            raise RpcError(
                f"{ep.shown}: the batch calls for block {number} ran in different blocks "
                f"(block number, time: {', '.join(f'{a} {t}' for a, t in sorted(stamps))})"
            )
        return results, next(iter(stamps))[1]

    def _chunks(self, targets: Sequence[tuple[str, bytes]]) -> list[tuple[int, int, int]]:
        """[start, end) ranges within the call-count and calldata-size limits, with the
        size of each range's aggregate3 calldata in bytes."""
        out: list[tuple[int, int, int]] = []
        start, size = 0, 0
        for i, (_to, data) in enumerate(targets):
            item = mc.encoded_size(len(data))
            if i > start and (
                i - start >= self.chain.multicall_chunk or size + item > self.chain.multicall_bytes
            ):
                out.append((start, i, size))
                start, size = i, 0
            size += item
        if start < len(targets):
            out.append((start, len(targets), size))
        return out

    @staticmethod
    def _groups(
        ep: Endpoint, chunks: Sequence[tuple[int, int, int]]
    ) -> list[list[tuple[int, int, int]]]:
        """Chunks grouped as the endpoint will send them: one HTTP request each (within its
        batch size and body size), so each group's calldata is built just before it is sent
        and decoded as soon as it returns -- at most `max_concurrency` groups in memory."""
        groups: list[list[tuple[int, int, int]]] = []
        current: list[tuple[int, int, int]] = []
        body = 2
        for chunk in chunks:
            # the calldata (selector, offset, length, calls) in hex, in a JSON-RPC eth_call
            item = 2 * (4 + 64 + chunk[2]) + 160
            if current and (len(current) >= ep.batch_size or body + item > ep.max_body_bytes):
                groups.append(current)
                current, body = [], 2
            current.append(chunk)
            body += item + 1
        if current:
            groups.append(current)
        return groups

    async def _multicall(
        self, ep: Endpoint, address: str, targets: Sequence[tuple[str, bytes]], block: str
    ) -> list[CallResult] | None:
        """Run calls through aggregate3; None when Multicall3 has no code at `block`."""
        results: list[CallResult] = [Failure("not run")] * len(targets)
        no_code = False
        slots = asyncio.Semaphore(self.chain.max_concurrency)

        async def send(group: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
            nonlocal no_code
            retry: list[tuple[int, int, int]] = []
            async with slots:
                replies = await ep.batch(
                    [
                        Call(
                            "eth_call",
                            [
                                {
                                    "to": address,
                                    "data": "0x" + mc.encode_aggregate3(targets[a:b]).hex(),
                                },
                                block,
                            ],
                        )
                        for a, b, _ in group
                    ]
                )
                for (a, b, size), reply in zip(group, replies, strict=True):
                    if isinstance(reply, RpcError):
                        missing = _missing_state(reply, int(block, 16), ep)
                        if missing:
                            raise missing
                        if b - a > 1 and (_is_split_error(reply) or reply.transient):
                            mid = (a + b) // 2
                            retry += [(a, mid, size // 2), (mid, b, size - size // 2)]
                            continue
                        for i in range(a, b):
                            results[i] = Failure(f"aggregate3: {reply.message}")
                        continue
                    try:
                        data = _hex_bytes(reply)
                        if not data:
                            no_code = True  # no contract at the Multicall3 address
                            continue
                        decoded = mc.decode_aggregate3(data, b - a)
                    except ValueError as exc:
                        raise RpcError(f"{ep.shown}: malformed aggregate3 reply: {exc}") from None
                    for i, (ok, ret) in zip(range(a, b), decoded, strict=True):
                        results[i] = ret if ok else REVERTED
            return retry

        pending = self._chunks(targets)
        while pending:
            done = await asyncio.gather(
                *(send(g) for g in self._groups(ep, pending)), return_exceptions=True
            )
            for d in done:
                if isinstance(d, BaseException):
                    raise d
            if no_code:
                return None
            pending = [chunk for retry in done if isinstance(retry, list) for chunk in retry]
        return results

    async def _batched(
        self, ep: Endpoint, targets: Sequence[tuple[str, bytes]], block: str
    ) -> list[CallResult]:
        replies = await ep.batch(
            [
                Call("eth_call", [{"to": to, "data": "0x" + data.hex()}, block])
                for to, data in targets
            ]
        )
        out: list[CallResult] = []
        for r in replies:
            if isinstance(r, RpcError):
                missing = _missing_state(r, int(block, 16), ep)
                if missing:
                    raise missing
                out.append(Failure(r.message, revert=r.is_revert))
                continue
            try:
                out.append(_hex_bytes(r))
            except ValueError as exc:
                out.append(Failure(str(exc)))
        return out
