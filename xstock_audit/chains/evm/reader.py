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
from . import blocksearch, transport
from .models import EvmChain, EvmDeployment
from .transport import Planned, missing_state
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

if TYPE_CHECKING:
    import httpx

    from ...progress import ChainWatch


def _quantity(result: Any) -> int:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError(f"not a hex quantity: {result!r}")
    return int(result, 16)


def _header(ep: Endpoint, block: Any, asked: str) -> tuple[int, int]:
    """(number, timestamp) of an `eth_getBlockByNumber` reply."""
    if not isinstance(block, dict):
        raise RpcError(f"{ep.shown}: block {asked} not found")
    return _quantity(block.get("number")), _quantity(block.get("timestamp"))


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
        planned: Planned,
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

    def _plan(self, deps: Sequence[EvmDeployment]) -> Planned:
        """Every call of a read, where each value sits, and the deployless batches' init
        code. It depends on nothing the probe finds, so `read` builds it (in a worker
        thread) while the probe's round trip is in flight."""
        targets: list[tuple[str, bytes]] = []

        def call(to: str, data: bytes) -> int:
            targets.append((to, data))
            return len(targets) - 1

        #: holder -> its balanceOf calldata (treasuries repeat across tokens)
        balance_of: dict[str, bytes] = {}
        plans: list[Plan] = []
        for d in deps:  # each deployment's calls in this order, so its indexes follow
            to = d.address
            first = len(targets)
            k = len(d.exclude)
            targets.append((to, SEL_DECIMALS))
            targets.append((to, SEL_TOTAL_SUPPLY))
            for x in d.exclude:
                data = balance_of.get(x)
                if data is None:
                    data = balance_of[x] = SEL_BALANCE_OF + bytes.fromhex(x[2:]).rjust(32, b"\0")
                targets.append((to, data))
            targets.append((to, SEL_MULTIPLIER))
            targets.append((to, SEL_CURRENT_MULTIPLIER))
            targets.append((to, SEL_NEW_MULTIPLIER))
            targets.append((to, SEL_ACTIVATION))
            rest = first + 2 + k
            plans.append(
                Plan(
                    first,
                    first + 1,
                    tuple(range(first + 2, rest)),
                    rest,
                    rest + 1,
                    rest + 2,
                    rest + 3,
                )
            )
        feed_plans = {
            address: (call(address, SEL_LATEST_ROUND_DATA), call(address, SEL_DECIMALS))
            for address in self.feeds
        }
        if not self.chain.batches_deployless:
            return Planned(targets, plans, feed_plans, [], [], {})
        caps = [160 if data[:4] == SEL_LATEST_ROUND_DATA else br.WORD for _to, data in targets]
        chunks = transport.deployless_chunks(self.chain, targets, caps)
        encoded = {(a, b): br.encode(targets[a:b], caps[a:b]).hex() for a, b, _ in chunks}
        return Planned(targets, plans, feed_plans, caps, chunks, encoded)

    async def _values(
        self,
        ep: Endpoint,
        deps: Sequence[EvmDeployment],
        ident: _Ident,
        planned: Planned | None = None,
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
            batch = await transport.deployless_calls(ep, self.chain, planned, number)
            if batch is not None:
                results, ran_at = batch
                timestamp = timestamp if timestamp is not None else ran_at
            else:  # the node runs no creation calls: Multicall3 if it is there, else eth_calls
                has_multicall = True
        if results is None and has_multicall and self.chain.multicall:
            clock = -1
            if timestamp is None:
                clock = call(self.chain.multicall, mc.GET_CURRENT_BLOCK_TIMESTAMP)
            results = await transport.aggregate3_calls(
                ep, self.chain, self.chain.multicall, targets, hex(number)
            )
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
                raise missing_state(exc, number, ep) or exc from None
            if not isinstance(block, dict):
                raise RpcError(f"{ep.shown}: block {number} not found")
            timestamp = _quantity(block.get("timestamp"))
        if plain:
            results = await transport.plain_calls(ep, targets, hex(number))
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
