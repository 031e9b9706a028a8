"""Reconciliation: pure, exact, no I/O.

For each token, `onchain` is the sum over its deployments of circulating tokens x
`shares_per_token`; `custody` is the sum over the custodian's accounts of each account's
newest statement's quantity of the token's ISIN. The status follows the product contract
(README: "Statuses" and "Trusting the verdict"), in this precedence:

- ERROR when custody cannot be trusted (a statement dated in the future), when the
  arithmetic fails (an extreme value), or when a deployment could not be read -- unless
  custody is fresh and already short of the part that *was* read (`onchain_read`, a lower
  bound: supply is never negative), which is UNDER;
- STALE when an account's newest statement holding the ISIN is older than `max_age`, or the
  custodian has no fresh statement at all; its message says what the stale figure shows;
- otherwise UNDER / OVER / BACKED by comparing with the tolerance.

An amount that is not known is `None` (shown as null / `—`), never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from . import amounts
from .chains.interface import ChainRead, DeploymentModel, DeploymentSupply
from .custody import CustodyBook, Statement
from .registry import Registry, Token
from .timefmt import age, iso, setting


class Status(StrEnum):
    BACKED = "BACKED"
    OVER = "OVER"
    UNDER = "UNDER"
    STALE = "STALE"
    UNVERIFIED = "UNVERIFIED"
    ERROR = "ERROR"


INCOMPLETE = (Status.STALE, Status.UNVERIFIED, Status.ERROR)


@dataclass(frozen=True)
class DeploymentResult:
    supply: DeploymentSupply
    shares_per_token: Decimal
    circulating: Decimal | None  # in shares of the underlying

    @property
    def error(self) -> str | None:
        return self.supply.error


@dataclass(frozen=True)
class AttestationUsed:
    file: str
    account: str
    as_of: datetime
    quantity: Decimal
    stale: bool


@dataclass(frozen=True)
class TokenResult:
    symbol: str
    isin: str
    status: Status
    #: None when a deployment could not be read or the arithmetic failed: unknown, never 0
    onchain: Decimal | None
    #: None when custody cannot be trusted (a future-dated statement) or the arithmetic failed
    custody: Decimal | None
    #: custody - onchain; None when either is unknown
    difference: Decimal | None
    tolerance: Decimal
    deployments: tuple[DeploymentResult, ...]
    attestations: tuple[AttestationUsed, ...]
    messages: tuple[str, ...] = ()
    #: the sum over the deployments that were read: a lower bound of `onchain`
    onchain_read: Decimal | None = None


@dataclass(frozen=True)
class AuditResult:
    generated_at: datetime
    #: each chain's read: where it was pinned (or its error), requests, messages
    chains: Mapping[str, ChainRead]
    tokens: tuple[TokenResult, ...]
    summary: Mapping[Status, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return exit_code(t.status for t in self.tokens)


def exit_code(statuses: Iterable[Status]) -> int:
    """0 all BACKED/OVER, 1 any UNDER, 3 otherwise incomplete (see the SPEC)."""
    seen = set(statuses)
    if Status.UNDER in seen:
        return 1
    if seen & set(INCOMPLETE):
        return 3
    return 0


@dataclass(frozen=True)
class _Custody:
    total: Decimal
    used: tuple[AttestationUsed, ...]
    #: the statements older than max_age among those that count (oldest first)
    stale: tuple[Statement, ...]
    #: no fresh statement at all
    none_fresh: bool
    #: why custody cannot be trusted (future-dated statements), one message each
    untrusted: tuple[str, ...]


def _custody(
    token: Token, book: CustodyBook, max_age: timedelta, now: datetime, clock_skew: timedelta
) -> _Custody:
    used: list[AttestationUsed] = []
    stale: list[Statement] = []
    total = Decimal(0)
    any_fresh = False
    for statement, holding in book.positions(token.isin):
        is_stale = now - statement.as_of > max_age
        any_fresh = any_fresh or not is_stale
        if holding is None:
            continue
        used.append(
            AttestationUsed(
                file=holding.file or statement.file,
                account=statement.account,
                as_of=statement.as_of,
                quantity=holding.quantity,
                stale=is_stale,
            )
        )
        total = amounts.add(total, holding.quantity)
        if is_stale:
            stale.append(statement)
    untrusted = tuple(
        f"attestation {st.file} for account {st.account} is dated {iso(st.as_of)}, later "
        f"than this run's start plus clock_skew {setting(clock_skew)}: not used; custody of "
        f"{token.custodians[0]!r} is unknown until the statement is corrected"
        for account in sorted(book.future)
        for st in book.future[account]
    )
    return _Custody(
        total=total,
        used=tuple(used),
        stale=tuple(sorted(stale, key=lambda st: st.as_of)),
        none_fresh=not any_fresh,
        untrusted=untrusted,
    )


def _against(difference: Decimal, tolerance: Decimal) -> str:
    """What a figure says when it cannot give the verdict (a stale one)."""
    if difference < -tolerance:
        return f"short by {amounts.fmt_short(-difference)}"
    if difference > tolerance:
        return f"over by {amounts.fmt_short(difference)}"
    return "backed"


def _stale_message(
    token: Token, c: _Custody, max_age: timedelta, now: datetime, verdict: str
) -> str:
    if not c.stale:  # no fresh statement, and none of them holds the ISIN
        return (
            f"every statement of custodian {token.custodians[0]!r} is older than max_age "
            f"{setting(max_age)}; against them (no holding of {token.isin}) the token is "
            f"{verdict}"
        )
    oldest = c.stale[0]
    accounts = (
        f"account {oldest.account}"
        if len(c.stale) == 1
        else f"oldest of {len(c.stale)} accounts: {', '.join(st.account for st in c.stale)}"
    )
    return (
        f"custody as of {iso(oldest.as_of)} ({accounts}) is {age(now - oldest.as_of)} old, "
        f"older than max_age {setting(max_age)}; against it the token is {verdict}"
    )


def _deployment(
    token: Token, dep: DeploymentModel, reads: Mapping[str, ChainRead]
) -> tuple[DeploymentResult, str | None]:
    """The deployment's result, and an error message when it was not read."""
    read = reads.get(dep.chain)
    supply = read.supplies.get(dep.key) if read is not None else None
    if supply is None:
        supply = DeploymentSupply(dep.chain, dep.label, error="chain was not read")
    if supply.error is None and supply.circulating is not None:
        try:
            circulating = amounts.mul(supply.circulating, token.shares_per_token)
        except ArithmeticError as exc:
            error = f"arithmetic: {amounts.failure(exc)}"
            supply = DeploymentSupply(supply.chain, supply.address, error=error)
        else:
            return DeploymentResult(supply, token.shares_per_token, circulating), None
    if read is not None and read.error is not None and supply.error == read.error:
        problem = f"{dep.chain}: the chain could not be read (see the chain's error)"
    else:
        problem = f"{dep.chain} {dep.label}: {supply.error}"
    return DeploymentResult(supply, token.shares_per_token, None), problem


def reconcile_token(
    token: Token,
    reads: Mapping[str, ChainRead],
    book: CustodyBook | None,
    max_age: timedelta | float,
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=5),
) -> TokenResult:
    if not isinstance(max_age, timedelta):
        max_age = timedelta(seconds=max_age)
    deployments: list[DeploymentResult] = []
    errors: list[str] = []
    for dep in token.deployments:
        result, problem = _deployment(token, dep, reads)
        deployments.append(result)
        if problem:
            errors.append(problem)
    messages = [m for d in deployments for m in d.supply.messages]

    def unknown(reason: str, used: tuple[AttestationUsed, ...] = ()) -> TokenResult:
        return TokenResult(
            symbol=token.symbol,
            isin=token.isin,
            status=Status.ERROR,
            onchain=None,
            custody=None,
            difference=None,
            tolerance=Decimal(0),
            deployments=tuple(deployments),
            attestations=used,
            messages=(*messages, *errors, reason),
        )

    if book is None or not (book.latest or book.future):
        messages.append(f"no attestation found for custodian {token.custodians[0]!r}")
    if book is None:
        c = _Custody(Decimal(0), (), (), True, ())
    else:
        try:
            c = _custody(token, book, max_age, now, clock_skew)
        except ArithmeticError as exc:
            return unknown(f"arithmetic on the custody figures: {amounts.failure(exc)}")
    try:
        onchain_read = amounts.add(
            *(d.circulating for d in deployments if d.circulating is not None)
        )
        tolerance = token.tolerance.for_onchain(onchain_read)
        difference = amounts.sub(c.total, onchain_read)
    except ArithmeticError as exc:
        return unknown(f"arithmetic: {amounts.failure(exc)}", c.used)

    stale = bool(c.stale) or c.none_fresh
    short = difference < -tolerance
    complete = not errors and not c.untrusted
    if stale:
        verdict = _against(difference, tolerance)
        if errors:
            verdict = (
                f"{verdict} of the deployments that could be read"
                if short
                else "unknown (a deployment was not read)"
            )
        if book is not None and book.latest:
            messages.append(_stale_message(token, c, max_age, now, verdict))
    messages.extend(errors)
    messages.extend(c.untrusted)
    if c.untrusted:
        status = Status.ERROR
    elif errors:
        if short and not stale:
            status = Status.UNDER
            messages.append(
                f"custody {amounts.fmt_short(c.total)} is short even of the deployments that "
                f"could be read ({amounts.fmt_short(onchain_read)}): the shortfall is at least "
                f"{amounts.fmt_short(-difference)}"
            )
        else:
            status = Status.ERROR
    elif stale:
        status = Status.STALE
    elif short:
        status = Status.UNDER
    elif difference > tolerance:
        status = Status.OVER
    else:
        status = Status.BACKED
    return TokenResult(
        symbol=token.symbol,
        isin=token.isin,
        status=status,
        onchain=onchain_read if not errors else None,
        custody=None if c.untrusted else c.total,
        difference=difference if complete else None,
        tolerance=tolerance,
        deployments=tuple(deployments),
        attestations=c.used,
        messages=tuple(messages),
        onchain_read=onchain_read,
    )


def reconcile(
    registry: Registry,
    reads: Mapping[str, ChainRead],
    books: Mapping[str, CustodyBook],
    now: datetime,
    symbols: Sequence[str] | None = None,
) -> AuditResult:
    tokens = []
    for token in registry.tokens:
        if symbols and token.symbol not in symbols:
            continue
        custodian = registry.custodians[token.custodians[0]]
        tokens.append(
            reconcile_token(
                token,
                reads,
                books.get(token.custodians[0]),
                custodian.max_age,
                now,
                registry.policy.clock_skew,
            )
        )
    summary = {s: 0 for s in Status}
    for t in tokens:
        summary[t.status] += 1
    return AuditResult(
        generated_at=now,
        chains=dict(reads),
        tokens=tuple(tokens),
        summary=summary,
    )
