"""Choosing endpoints and cross-checking them: shared by the chain readers (pure).

- `select`: drop endpoints that failed their probe (wrong chain, unreachable) and those
  whose head lags the others' median by more than `max_lag`, saying why.
- `merge`: the same reads from several endpoints must agree value for value; a deployment
  on which they differ becomes an error that names both values and both (redacted) hosts,
  so a lying or broken node can't turn UNDER into BACKED.
- `freshness`: a read whose block or slot is older than the chain's `max_head_age` (a stuck
  or syncing node) or dated ahead of this machine's clock by more than `clock_skew` is not
  used; the reader fails over to the next endpoint.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from .interface import (
    AheadOfClock,
    ChainRead,
    DeploymentSupply,
    EndpointFailed,
    Lagging,
    Note,
    QuorumRead,
    StaleHead,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Probe(Generic[T]):
    """An endpoint's answer to the health probe: its head, or why it is out."""

    host: str
    head: int | None
    state: T | None = None
    error: str | None = None


def select(
    probes: Sequence[Probe[T]], max_lag: int, unit: str
) -> tuple[list[Probe[T]], list[Note]]:
    """The usable probes, in registry order, and a note for each one left out."""
    messages: list[Note] = [EndpointFailed(p.error) for p in probes if p.error is not None]
    ok = [p for p in probes if p.error is None]
    heads = [p.head for p in ok if p.head is not None]
    if len(heads) < 2:
        return ok, messages
    median = statistics.median_low(heads)
    kept = []
    for p in ok:
        if p.head is not None and median - p.head > max_lag:
            messages.append(Lagging(p.host, unit, p.head, median, max_lag))
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
    feeds = {
        address: (
            feed
            if all(r.feeds.get(address) == feed for r in reads[1:])
            else replace(feed, error=f"the endpoints disagree on feed {address}'s latest round")
        )
        for address, feed in first.feeds.items()
    }
    quorum = QuorumRead(
        hosts=tuple(hosts),
        unit=first.pin.unit,
        numbers=tuple(r.pin.number for r in reads if r.pin),
    )
    return replace(
        first,
        supplies=supplies,
        feeds=feeds,
        notes=(*first.notes, quorum),
        requests=sum(r.requests for r in reads),
        retries=sum(r.retries for r in reads),
    )


@dataclass(frozen=True)
class Clock:
    """The run's reference time and the limits a chain's clock is held to."""

    now: datetime
    max_head_age: timedelta
    clock_skew: timedelta


def freshness(read: ChainRead, clock: Clock | None, *, pinned: bool = False) -> Note | None:
    """Why the block or slot read cannot be trusted as the chain's present, or None (also
    when there is no clock to hold it to).

    `pinned` reads (an explicit block or slot asked for) are meant to be in the past: only a
    time ahead of the clock is refused then."""
    pin = read.pin
    if clock is None or pin is None:
        return None
    lead = pin.time - clock.now
    if lead > clock.clock_skew:
        return AheadOfClock(pin.rpc, pin.unit, pin.number, pin.time, lead, clock.clock_skew)
    behind = clock.now - pin.time
    if not pinned and behind > clock.max_head_age:
        return StaleHead(pin.rpc, pin.unit, pin.number, pin.time, behind, clock.max_head_age)
    return None
