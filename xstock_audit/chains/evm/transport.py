"""How the EVM reader's view calls go over the wire, all at one block: as deployless batch
calls (`batchread`, the default), through Multicall3 `aggregate3`, or as plain `eth_call`s in
JSON-RPC batches. Each turns a list of (target, calldata) into one `CallResult` per call,
chunked within its limits and grouped into HTTP requests as the endpoint sends them; a chunk
that fails as too large, out of gas or for a transient reason is split in two and asked
again. A node without the state of the block asked for is a `MissingState` error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import RpcError
from ...rpc import Call, Endpoint
from .. import multicall as mc
from . import batchread as br
from .models import EvmChain
from .values import CallResult, Failure, Plan

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


class MissingState(RpcError):
    """The endpoint has no state at the block asked for (not an archive node)."""


def missing_state(exc: RpcError, block: int, ep: Endpoint) -> MissingState | None:
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


def hex_bytes(result: Any) -> bytes:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError("eth_call reply is not hex data")
    return bytes.fromhex(result[2:])


def is_split_error(exc: RpcError) -> bool:
    text = exc.message.lower()
    return any(h in text for h in SPLIT_HINTS)


@dataclass(frozen=True)
class Planned:
    """A read's calls, built by `EvmReader._plan`."""

    targets: list[tuple[str, bytes]]
    plans: list[Plan]
    #: aggregator -> where its latestRoundData() and decimals() sit
    feeds: dict[str, tuple[int, int]]
    #: deployless batches: each call's result cap, the [start, end) ranges with their init
    #: code's size, and each range's init code in hex
    caps: list[int]
    chunks: list[tuple[int, int, int]]
    encoded: dict[tuple[int, int], str]


def deployless_chunks(
    chain: EvmChain, targets: Sequence[tuple[str, bytes]], caps: Sequence[int]
) -> list[tuple[int, int, int]]:
    """[start, end) ranges for deployless batch calls: at most `multicall_chunk` calls,
    the init code within EIP-3860 and the results, at their caps, within EIP-170; with
    the size of each range's init code in bytes."""
    code = len(br.bytecode()) + 32
    room_in = min(br.MAX_INITCODE, chain.multicall_bytes) - code
    room_out = br.MAX_RETURNED - br.HEADER
    out: list[tuple[int, int, int]] = []
    start, size, returned, previous, run = 0, 0, 0, "", 0
    for i, (to, data) in enumerate(targets):
        run = run + 1 if to == previous and run < 255 else 1
        item = 2 + len(data) + (21 if run == 1 else 0)
        back = 3 + caps[i]
        if i > start and (
            i - start >= chain.multicall_chunk
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


async def deployless_calls(
    ep: Endpoint, chain: EvmChain, planned: Planned, number: int
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
    slots = asyncio.Semaphore(chain.max_concurrency)
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
                    missing = missing_state(reply, number, ep)
                    if missing:
                        raise missing
                    starved = reply.is_revert
                    if b - a > 1 and (is_split_error(reply) or reply.transient or starved):
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
                    at, stamp, decoded = br.decode(hex_bytes(reply), caps[a:b])
                except ValueError as exc:
                    raise RpcError(f"{ep.shown}: malformed batch call reply: {exc}") from None
                stamps.add((at, stamp))
                for i, (ok, ret) in zip(range(a, b), decoded, strict=True):
                    results[i] = ret if ok else REVERTED
        return retry

    pending = list(planned.chunks)
    while pending:
        done = await asyncio.gather(
            *(send(g) for g in http_groups(ep, pending)), return_exceptions=True
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


def aggregate3_chunks(
    chain: EvmChain, targets: Sequence[tuple[str, bytes]]
) -> list[tuple[int, int, int]]:
    """[start, end) ranges within the call-count and calldata-size limits, with the
    size of each range's aggregate3 calldata in bytes."""
    out: list[tuple[int, int, int]] = []
    start, size = 0, 0
    for i, (_to, data) in enumerate(targets):
        item = mc.encoded_size(len(data))
        if i > start and (
            i - start >= chain.multicall_chunk or size + item > chain.multicall_bytes
        ):
            out.append((start, i, size))
            start, size = i, 0
        size += item
    if start < len(targets):
        out.append((start, len(targets), size))
    return out


def http_groups(
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


async def aggregate3_calls(
    ep: Endpoint, chain: EvmChain, address: str, targets: Sequence[tuple[str, bytes]], block: str
) -> list[CallResult] | None:
    """Run calls through aggregate3; None when Multicall3 has no code at `block`."""
    results: list[CallResult] = [Failure("not run")] * len(targets)
    no_code = False
    slots = asyncio.Semaphore(chain.max_concurrency)

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
                    missing = missing_state(reply, int(block, 16), ep)
                    if missing:
                        raise missing
                    if b - a > 1 and (is_split_error(reply) or reply.transient):
                        mid = (a + b) // 2
                        retry += [(a, mid, size // 2), (mid, b, size - size // 2)]
                        continue
                    for i in range(a, b):
                        results[i] = Failure(f"aggregate3: {reply.message}")
                    continue
                try:
                    data = hex_bytes(reply)
                    if not data:
                        no_code = True  # no contract at the Multicall3 address
                        continue
                    decoded = mc.decode_aggregate3(data, b - a)
                except ValueError as exc:
                    raise RpcError(f"{ep.shown}: malformed aggregate3 reply: {exc}") from None
                for i, (ok, ret) in zip(range(a, b), decoded, strict=True):
                    results[i] = ret if ok else REVERTED
        return retry

    pending = aggregate3_chunks(chain, targets)
    while pending:
        done = await asyncio.gather(
            *(send(g) for g in http_groups(ep, pending)), return_exceptions=True
        )
        for d in done:
            if isinstance(d, BaseException):
                raise d
        if no_code:
            return None
        pending = [chunk for retry in done if isinstance(retry, list) for chunk in retry]
    return results


async def plain_calls(
    ep: Endpoint, targets: Sequence[tuple[str, bytes]], block: str
) -> list[CallResult]:
    replies = await ep.batch(
        [Call("eth_call", [{"to": to, "data": "0x" + data.hex()}, block]) for to, data in targets]
    )
    out: list[CallResult] = []
    for r in replies:
        if isinstance(r, RpcError):
            missing = missing_state(r, int(block, 16), ep)
            if missing:
                raise missing
            out.append(Failure(r.message, revert=r.is_revert))
            continue
        try:
            out.append(hex_bytes(r))
        except ValueError as exc:
            out.append(Failure(str(exc)))
    return out
