"""Sentences about the audit's data: written once, used by every report format.

Readers and reconcile return data (typed notes, schedules); this module turns them into the
words and dates people read (dates through `timefmt`). A chain's one-line failure reason is
made here too, from the notes that explain it.
"""

from __future__ import annotations

from collections.abc import Iterable

from .amounts import fmt_short
from .chains.interface import (
    AheadOfClock,
    DeploymentSupply,
    EndpointFailed,
    Lagging,
    Note,
    QuorumRead,
    StaleHead,
)
from .reconcile import Status, TokenResult
from .timefmt import age, iso, setting


def note(n: Note) -> str:
    match n:
        case EndpointFailed(message):
            return message
        case Lagging(host, unit, head, median, max_lag):
            return (
                f"{host}: skipped: its {unit} {head} is {median - head} behind the other "
                f"endpoints' median {median} (max_lag {max_lag})"
            )
        case StaleHead(host, unit, number, time, elapsed, limit):
            return (
                f"{host}: head is {age(elapsed)} old ({unit} {number} at {iso(time)}; "
                f"max_head_age {setting(limit)}): the node is stuck or syncing"
            )
        case AheadOfClock(host, unit, number, time, ahead, skew):
            return (
                f"{host}: {unit} {number} is dated {iso(time)}, {age(ahead)} ahead of this "
                f"machine's clock (clock_skew {setting(skew)}): the node's clock or this "
                "machine's is wrong"
            )
        case QuorumRead(hosts, unit, numbers):
            where = (
                f"at the same {unit}"
                if len(set(numbers)) == 1
                else f"at {', '.join(str(u) for u in sorted(set(numbers)))}"
            )
            return f"quorum: {len(hosts)} endpoints read {where}: {', '.join(hosts)}"
    raise TypeError(f"not a note: {n!r}")  # pragma: no cover


def notes(ns: Iterable[Note]) -> list[str]:
    return [note(n) for n in ns]


def joined(ns: Iterable[Note | str]) -> str:
    """One line for several reasons (a chain that could not be read)."""
    return "; ".join(n if isinstance(n, str) else note(n) for n in ns)


def schedule(s: DeploymentSupply) -> str | None:
    if s.schedule is None:
        return None
    return (
        f"{s.chain}: multiplier change scheduled: {fmt_short(s.schedule.current)} -> "
        f"{fmt_short(s.schedule.new)} at {iso(s.schedule.at)}"
    )


def token_messages(t: TokenResult) -> list[str]:
    """Every sentence the reports say about a token, in the order they print them."""
    out = [m for d in t.deployments if (m := schedule(d.supply)) is not None]
    out.extend(t.messages)
    read_any = any(d.circulating is not None for d in t.deployments)
    if (
        t.onchain is None
        and t.onchain_read is not None
        and read_any
        and t.status is not Status.UNDER
    ):
        out.append(
            f"on-chain supply unknown: the deployments that were read hold "
            f"{fmt_short(t.onchain_read)} shares (a lower bound)"
        )
    return out
