"""`check --movements`: per token, what moved on chain between its custody as-of and the read.

After the reconciliation, each token's `since` is the oldest as-of among the custody
statements it uses. The deployments are grouped by chain and `since`, and each chain's
reader lists their movements (`ChainReader.movements`: mints, burns, excluded-holder
transfers) after `since` up to the block or slot the chain was read at (with `check --at`,
its instant). Amounts become shares as the reconciliation makes them: tokens x the
multiplier applied to balances x `shares_per_token`. A plain `check` never gets here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from . import amounts
from .chains.interface import (
    ChainRead,
    ChainReader,
    DeploymentModel,
    Movement,
    MovementsRead,
    Pin,
    family,
)
from .reconcile import AuditResult, Movements, TokenResult
from .registry import Registry, Token
from .timefmt import iso


def since_of(t: TokenResult) -> datetime | None:
    """The oldest custody as-of among the statements the token uses."""
    return min((a.as_of for a in t.attestations), default=None)


async def read_movements(
    registry: Registry,
    reads: Mapping[str, ChainRead],
    since: Mapping[str, datetime],
    *,
    now: datetime | None = None,
    deadline_s: float | None = None,
) -> dict[tuple[str, str], MovementsRead]:
    """(chain, since ISO) -> what the chain's reader listed for the tokens of that `since`."""
    from .rpc import make_client

    groups: dict[str, dict[datetime, list[DeploymentModel]]] = {}
    for token in registry.tokens:
        when = since.get(token.symbol)
        if when is None:
            continue
        for dep in token.deployments:
            read = reads.get(dep.chain)
            if read is None or read.pin is None:
                continue
            groups.setdefault(dep.chain, {}).setdefault(when, []).append(dep)

    async with make_client() as client:

        async def one_chain(name: str) -> list[tuple[tuple[str, str], MovementsRead]]:
            chain = registry.chains[name]
            reader = family(chain.type).reader(
                name, chain, client, now=now, clock_skew=registry.policy.clock_skew
            )
            pin = reads[name].pin
            assert pin is not None
            out = []
            # one `since` after the other: they share the reader's caches (EVM headers)
            for when, deps in sorted(groups[name].items()):
                out.append(((name, iso(when)), await _one(reader, deps, when, pin)))
            return out

        try:
            done = await asyncio.wait_for(
                asyncio.gather(*(one_chain(n) for n in groups)), deadline_s
            )
        except TimeoutError:
            text = f"no complete answer within the run's deadline of {deadline_s:g} s"
            return {
                (n, iso(w)): MovementsRead(n, errors={d.key: text for d in deps})
                for n, by in groups.items()
                for w, deps in by.items()
            }
    return {key: value for part in done for key, value in part}


async def _one(
    reader: ChainReader, deps: Sequence[DeploymentModel], when: datetime, pin: Pin
) -> MovementsRead:
    if when >= pin.time:  # nothing happened between the as-of and the block or slot read
        return MovementsRead(pin.chain, movements={d.key: () for d in deps})
    return await reader.movements(deps, when, pin)


def _token_movements(
    token: Token,
    t: TokenResult,
    when: datetime | None,
    reads: Mapping[str, ChainRead],
    found: Mapping[tuple[str, str], MovementsRead],
) -> TokenResult:
    if when is None:
        return replace(
            t,
            movements=Movements(None, None),
            messages=(*t.messages, "movements: no custody as-of to list them from"),
        )
    items: list[Movement] = []
    problems: list[str] = []
    for dep, result in zip(token.deployments, t.deployments, strict=True):
        read = reads.get(dep.chain)
        if read is None or read.pin is None:
            problems.append(f"movements on {dep.chain}: the chain was not read")
            continue
        listed = found.get((dep.chain, iso(when)))
        if listed is None:
            problems.append(f"movements on {dep.chain}: not listed")
            continue
        if dep.key in listed.errors:
            problems.append(f"movements of {dep.label} on {dep.chain}: {listed.errors[dep.key]}")
            continue
        s = result.supply
        if s.decimals is None:
            problems.append(f"movements of {dep.label} on {dep.chain}: its decimals are unknown")
            continue
        scale = s.multiplier if s.multiplier_applied else Decimal(1)
        for m in listed.movements.get(dep.key, ()):
            shares = amounts.mul(amounts.scale(m.raw, s.decimals), scale, token.shares_per_token)
            items.append(replace(m, amount=shares))
    if problems:
        return replace(t, movements=Movements(when, None), messages=(*t.messages, *problems))
    items.sort(key=lambda m: (m.time, m.chain, m.number))
    return replace(t, movements=Movements(when, tuple(items)))


def attach(
    registry: Registry,
    result: AuditResult,
    *,
    now: datetime | None = None,
    deadline_s: float | None = None,
) -> AuditResult:
    """The result with each token's movements (`TokenResult.movements`)."""
    tokens = {t.symbol: t for t in registry.tokens}
    since = {t.symbol: w for t in result.tokens if (w := since_of(t)) is not None}
    from .audit import run_async

    found = run_async(
        read_movements(registry, result.chains, since, now=now, deadline_s=deadline_s)
    )
    return replace(
        result,
        tokens=tuple(
            _token_movements(tokens[t.symbol], t, since.get(t.symbol), result.chains, found)
            for t in result.tokens
        ),
    )
