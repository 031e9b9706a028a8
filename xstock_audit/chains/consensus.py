"""Choosing endpoints and cross-checking them: shared by the chain readers (pure).

- `select`: drop endpoints that failed their probe (wrong chain, unreachable) and those
  whose head lags the others' median by more than `max_lag`, saying why.
- `merge`: the same reads from several endpoints must agree value for value; a deployment
  on which they differ becomes an error that names both values and both (redacted) hosts,
  so a lying or broken node can't turn UNDER into BACKED.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from . import ChainRead, DeploymentSupply

T = TypeVar("T")


@dataclass(frozen=True)
class Probe(Generic[T]):
    """An endpoint's answer to the health probe: its head, or why it is out."""

    host: str
    head: int | None
    state: T | None = None
    error: str | None = None


def select(probes: Sequence[Probe[T]], max_lag: int, unit: str) -> tuple[list[Probe[T]], list[str]]:
    """The usable probes, in registry order, and a message for each one left out."""
    messages = [p.error for p in probes if p.error is not None]
    ok = [p for p in probes if p.error is None]
    heads = [p.head for p in ok if p.head is not None]
    if len(heads) < 2:
        return ok, messages
    median = statistics.median_low(heads)
    kept = []
    for p in ok:
        if p.head is not None and median - p.head > max_lag:
            messages.append(
                f"{p.host}: skipped: its {unit} {p.head} is {median - p.head} behind the "
                f"other endpoints' median {median} (max_lag {max_lag})"
            )
        else:
            kept.append(p)
    return kept, messages


FIELDS = ("decimals", "total_supply", "excluded", "multiplier", "circulating")


def _disagreement(a: DeploymentSupply, b: DeploymentSupply, host_a: str, host_b: str) -> str | None:
    for name in FIELDS:
        va, vb = getattr(a, name), getattr(b, name)
        if va != vb:
            return f"endpoints disagree on {name}: {host_a} says {va}, {host_b} says {vb}"
    return None


def merge(reads: Sequence[ChainRead]) -> ChainRead:
    """Combine reads of the same deployments from several endpoints (first one wins when
    all agree)."""
    first = reads[0]
    assert first.pin is not None
    hosts = [r.pin.rpc if r.pin else "?" for r in reads]
    supplies: dict[str, DeploymentSupply] = {}
    for key, supply in first.supplies.items():
        merged = supply
        for host, other_read in zip(hosts[1:], reads[1:], strict=True):
            other = other_read.supplies.get(key)
            if other is None:
                merged = replace(supply, error=f"{host}: no value read")
                break
            if supply.error or other.error:
                if not supply.error:
                    merged = replace(supply, error=f"{host}: {other.error}")
                break
            problem = _disagreement(supply, other, hosts[0], host)
            if problem:
                merged = replace(supply, error=problem)
                break
        supplies[key] = merged
    units = {r.pin.number for r in reads if r.pin}
    where = (
        f"at the same {'block' if first.pin.kind == 'evm' else 'slot'}"
        if len(units) == 1
        else f"at {', '.join(str(u) for u in sorted(units))}"
    )
    return replace(
        first,
        supplies=supplies,
        messages=(
            *first.messages,
            f"quorum: {len(reads)} endpoints read {where}: {', '.join(hosts)}",
        ),
        requests=sum(r.requests for r in reads),
    )
