"""The gate: which tokens fail a run, given `policy.fail_on` and the ignores.

A CI gate or a cron job decides by the exit code, which keeps its meaning (SPEC "Exit
codes"): 1 when a failing token is UNDER, 3 when another failing status is left, else 0. A
token fails when its status is in `fail_on` and it is not ignored; an ignored token never
fails, but it is shown (with its reason) in every report. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

#: the statuses that fail a run unless the registry or the command line says otherwise
DEFAULT_FAIL_ON = ("UNDER", "STALE", "UNVERIFIED", "ERROR")
STATUSES = ("BACKED", "OVER", "UNDER", "STALE", "UNVERIFIED", "ERROR")


@dataclass(frozen=True)
class Ignore:
    """A token the gate does not fail on: why, until when, and who said so."""

    symbol: str
    reason: str
    until: date | None = None
    #: "registry" or "--ignore"
    source: str = "registry"

    def describe(self) -> str:
        until = f" until {self.until.isoformat()}" if self.until else ""
        return f"ignored{until} ({self.source}): {self.reason}"


@dataclass(frozen=True)
class Gate:
    """What the gate decided about one run."""

    fail_on: tuple[str, ...]
    #: the symbols that fail the gate, in report order
    failed: tuple[str, ...]
    #: the ignores that applied to a token of the run
    ignored: tuple[Ignore, ...]
    exit_code: int

    @property
    def passed(self) -> bool:
        return not self.failed

    def ignore_of(self, symbol: str) -> Ignore | None:
        for ig in self.ignored:
            if ig.symbol == symbol:
                return ig
        return None


def decide(
    statuses: Iterable[tuple[str, str]],
    fail_on: Sequence[str] = DEFAULT_FAIL_ON,
    ignores: Sequence[Ignore] = (),
) -> Gate:
    """The gate over (symbol, status) pairs. Exit code: 1 if a failing token is UNDER, 3 if
    another failing token is left, 0 otherwise."""
    wanted = tuple(s.upper() for s in fail_on)
    by_symbol = {ig.symbol: ig for ig in ignores}
    failed: list[str] = []
    applied: list[Ignore] = []
    under = False
    for symbol, status in statuses:
        ig = by_symbol.get(symbol)
        if ig is not None:
            applied.append(ig)
            continue
        if status in wanted:
            failed.append(symbol)
            under = under or status == "UNDER"
    code = 1 if under else 3 if failed else 0
    return Gate(fail_on=wanted, failed=tuple(failed), ignored=tuple(applied), exit_code=code)


def parse_fail_on(text: str) -> tuple[str, ...]:
    """`under,stale` -> ("UNDER", "STALE"); ValueError naming an unknown status."""
    out: list[str] = []
    for part in text.split(","):
        name = part.strip().upper()
        if not name:
            continue
        if name not in STATUSES:
            known = ", ".join(s.lower() for s in STATUSES)
            raise ValueError(f"unknown status {part.strip()!r}; use some of {known}")
        if name not in out:
            out.append(name)
    return tuple(out)


def parse_ignore(text: str, today: date) -> Ignore:
    """`SYMBOL:REASON[:UNTIL]` (UNTIL an ISO date) -> an Ignore; ValueError when malformed or
    expired (an ignore past its date is an input error: the exception must be renewed or
    removed on purpose)."""
    symbol, sep, rest = text.partition(":")
    if not sep or not symbol.strip() or not rest.strip():
        raise ValueError(
            f"{text!r}: write SYMBOL:REASON[:UNTIL], e.g. NVDAx:ticket OPS-42:2026-12-01"
        )
    reason, until = rest, None
    head, sep2, tail = rest.rpartition(":")
    if sep2 and _is_date(tail.strip()):
        reason, until = head, date.fromisoformat(tail.strip())
    if not reason.strip():
        raise ValueError(f"{text!r}: an ignore needs a reason")
    ig = Ignore(symbol.strip(), reason.strip(), until, source="--ignore")
    check_not_expired(ig, today)
    return ig


def check_not_expired(ig: Ignore, today: date) -> None:
    if ig.until is not None and ig.until < today:
        raise ValueError(
            f"the ignore of {ig.symbol} expired on {ig.until.isoformat()} ({ig.reason}); "
            "renew it with a new date or remove it"
        )


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def parse_mint(text: str, chains_of: dict[str, list[str]]) -> tuple[str, str, Decimal]:
    """`SYMBOL:AMOUNT[@CHAIN]` -> (symbol, chain, amount). `chains_of` maps each symbol to the
    chains of its deployments; `@CHAIN` is needed when there are several. ValueError with a
    sentence for the user otherwise."""
    from .amounts import parse_quantity

    symbol, sep, rest = text.partition(":")
    symbol = symbol.strip()
    if not sep or not symbol or not rest.strip():
        raise ValueError(f"{text!r}: write SYMBOL:AMOUNT or SYMBOL:AMOUNT@CHAIN, e.g. TSLAx:100")
    amount_text, at, chain = rest.partition("@")
    if symbol not in chains_of:
        raise ValueError(f"{text!r}: no token has symbol {symbol!r}")
    chains = chains_of[symbol]
    chain = chain.strip()
    if not at:
        if len(chains) != 1:
            raise ValueError(
                f"{text!r}: {symbol} is on {', '.join(chains)}; name one: "
                f"{symbol}:{amount_text.strip()}@{chains[0]}"
            )
        chain = chains[0]
    elif chain not in chains:
        raise ValueError(f"{text!r}: {symbol} has no deployment on {chain!r} ({', '.join(chains)})")
    try:
        amount = parse_quantity(amount_text)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    if amount <= 0:
        raise ValueError(f"{text!r}: a planned mint is a positive amount")
    return symbol, chain, amount
