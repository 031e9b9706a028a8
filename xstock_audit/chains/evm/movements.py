"""EVM `check --movements`: the ERC-20 `Transfer` logs between an instant and the read.

1. the last block at or before the instant (`since`) is found as `check --at` finds it
   (`EvmReader._find_block`, sharing the run's header cache); the movements are the logs of
   the blocks after it, up to the read's pinned block;
2. `eth_getLogs` for the `Transfer(address,address,uint256)` topic over that range, the
   token addresses in the filter (at most `ADDRESSES` a filter), all filters in one
   JSON-RPC batch a round; a range the node refuses as too large (too many results, range
   too wide, ...) is split in two and asked again in the next round;
3. the blocks' times come from the logs (`blockTimestamp`, geth >= 1.14, anvil, reth) or
   else from the headers (cached), one batch;
4. per log: from 0x0 is a mint (+), to 0x0 a burn (-), from an excluded holder a transfer
   (+ for the circulating supply), to one a transfer (-); a mint to an excluded holder is
   a mint and a transfer into it (they cancel, as in the circulating supply); a transfer
   between two excluded holders, or between two others, changes nothing and is not listed.

Backed multiplier tokens log `Transfer` amounts in balance units, which already include the
multiplier, as `balanceOf` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import RpcError
from ...rpc import Call, Endpoint
from ...timefmt import from_unix
from ..interface import DeploymentModel, Movement, MovementsRead, Pin
from . import blocksearch
from .models import EvmDeployment

if TYPE_CHECKING:
    from datetime import datetime

    from .reader import EvmReader

#: keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
ZERO = "0x" + "0" * 40
#: token addresses in one log filter
ADDRESSES = 500
#: a node refusing a query as too large: geth ("query returned more than 10000 results"),
#: erigon/alchemy/infura ("block range is too wide", "exceed maximum block range", "Log
#: response size exceeded"), nethermind/besu ("limit exceeded", "too many")
TOO_LARGE = re.compile(
    r"more than \d+ results|block range|range (is )?too|too (wide|large|many|big)"
    r"|limit exceeded|exceed|response size|query timeout|timed out|max.*range",
    re.IGNORECASE,
)


def _address(topic: Any) -> str:
    if not isinstance(topic, str) or len(topic) != 66:
        raise ValueError(f"not an address topic: {topic!r}")
    return "0x" + topic[-40:].lower()


def _q(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"not a hex quantity: {value!r}")
    return int(value, 16)


async def movements(
    reader: EvmReader, deployments: Sequence[DeploymentModel], since: datetime, pin: Pin
) -> MovementsRead:
    deps = [d for d in deployments if isinstance(d, EvmDeployment)]
    if not deps:
        return MovementsRead(reader.name)
    errors: list[str] = []
    for ep in [*reader.archive, *reader.endpoints]:
        try:
            try:
                found, _how = await reader._find_block(ep, since)
                start = found.number + 1
            except blocksearch.BeforeGenesis:
                start = 0
            logs = await _logs(ep, [d.address for d in deps], start, pin.number)
            times = await _times(ep, logs, reader.headers)
            return _classify(reader.name, deps, logs, times)
        except RpcError as exc:
            errors.append(exc.message)
        except (ValueError, KeyError, TypeError) as exc:
            errors.append(f"{ep.shown}: malformed eth_getLogs reply: {exc}")
    text = "; ".join(errors) or "no endpoint"
    return MovementsRead(reader.name, errors={d.key: text for d in deps})


async def _logs(ep: Endpoint, addresses: list[str], start: int, end: int) -> list[dict[str, Any]]:
    """Every Transfer log of `addresses` in blocks start..end, ranges split as refused."""
    if start > end:
        return []
    pending = [
        (addresses[i : i + ADDRESSES], start, end) for i in range(0, len(addresses), ADDRESSES)
    ]
    out: list[dict[str, Any]] = []
    while pending:
        calls = [
            Call(
                "eth_getLogs",
                [
                    {
                        "address": chunk,
                        "topics": [TRANSFER_TOPIC],
                        "fromBlock": hex(lo),
                        "toBlock": hex(hi),
                    }
                ],
            )
            for chunk, lo, hi in pending
        ]
        replies = await ep.batch(calls)
        retry: list[tuple[list[str], int, int]] = []
        for (chunk, lo, hi), reply in zip(pending, replies, strict=True):
            if isinstance(reply, RpcError):
                if TOO_LARGE.search(reply.message) or reply.transient:
                    if hi > lo:
                        mid = (lo + hi) // 2
                        retry += [(chunk, lo, mid), (chunk, mid + 1, hi)]
                        continue
                    if len(chunk) > 1:
                        half = len(chunk) // 2
                        retry += [(chunk[:half], lo, hi), (chunk[half:], lo, hi)]
                        continue
                raise RpcError(
                    f"{ep.shown}: eth_getLogs of blocks {lo}..{hi}: {reply.message}"
                ) from None
            if not isinstance(reply, list):
                raise RpcError(f"{ep.shown}: eth_getLogs did not return a list")
            out.extend(log for log in reply if isinstance(log, dict) and not log.get("removed"))
        pending = retry
    return out


async def _times(ep: Endpoint, logs: list[dict[str, Any]], cache: dict[int, int]) -> dict[int, int]:
    """Block number -> timestamp of every log's block."""
    times: dict[int, int] = {}
    missing: set[int] = set()
    for log in logs:
        number = _q(log["blockNumber"])
        stamp = log.get("blockTimestamp")
        if stamp is not None:
            times[number] = cache[number] = _q(stamp)
        elif number in cache:
            times[number] = cache[number]
        else:
            missing.add(number)
    missing -= times.keys()
    if missing:
        numbers = sorted(missing)
        replies = await ep.batch([Call("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        for n, r in zip(numbers, replies, strict=True):
            if isinstance(r, RpcError):
                raise r
            if not isinstance(r, dict):
                raise RpcError(f"{ep.shown}: block {n} not found")
            times[n] = cache[n] = _q(r.get("timestamp"))
    return times


def _classify(
    chain: str, deps: list[EvmDeployment], logs: list[dict[str, Any]], times: dict[int, int]
) -> MovementsRead:
    by_address = {d.address.lower(): d for d in deps}
    excluded = {d.key: {x.lower() for x in d.exclude} for d in deps}
    found: dict[str, list[tuple[int, int, Movement]]] = {d.key: [] for d in deps}
    for log in logs:
        topics = log.get("topics") or []
        if len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
            continue  # an ERC-721 Transfer has 4 topics
        d = by_address.get(str(log["address"]).lower())
        if d is None:
            continue
        src, dst = _address(topics[1]), _address(topics[2])
        data = log.get("data") or "0x"
        value = int(data[2:66] or "0", 16)
        number = _q(log["blockNumber"])
        index = _q(log.get("logIndex") or "0x0")
        ex = excluded[d.key]
        kinds: list[tuple[str, int]] = []
        if value == 0 or (src == ZERO and dst == ZERO):
            pass
        elif src == ZERO:
            kinds.append(("mint", value))
            if dst in ex:
                kinds.append(("transfer", -value))
        elif dst == ZERO:
            kinds.append(("burn", -value))
            if src in ex:
                kinds.append(("transfer", value))
        elif (src in ex) != (dst in ex):
            kinds.append(("transfer", value if src in ex else -value))
        for kind, raw in kinds:
            movement = Movement(
                chain=chain,
                address=d.key,
                time=from_unix(times[number]),
                tx=str(log["transactionHash"]),
                kind=kind,
                raw=raw,
                number=number,
            )
            found[d.key].append((number, index, movement))
    return MovementsRead(
        chain,
        movements={
            key: tuple(m for _n, _i, m in sorted(items, key=lambda x: (x[0], x[1])))
            for key, items in found.items()
        },
    )
