"""Reconciliation: pure, exact, no I/O.

For each token, `onchain` is the sum over its deployments of circulating tokens x
`shares_per_token`; `custody` is the sum over the custodian's accounts of each account's
newest statement's quantity of the token's ISIN. The status follows ../shared/SPEC.md:

- STALE when an account's newest statement holding the ISIN is older than `max_age`, or the
  custodian has no fresh statement at all;
- ERROR when a deployment could not be read -- unless custody is fresh and already short of
  the part that *was* read (supply is never negative), which is UNDER;
- otherwise BACKED / OVER / UNDER by comparing with the tolerance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from . import amounts
from .chains import ChainRead, DeploymentSupply
from .custody import CustodyBook
from .registry import Registry, Token


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
    onchain: Decimal
    custody: Decimal
    difference: Decimal
    tolerance: Decimal
    deployments: tuple[DeploymentResult, ...]
    attestations: tuple[AttestationUsed, ...]
    messages: tuple[str, ...] = ()


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


def _custody(
    token: Token, book: CustodyBook | None, max_age_s: float, now: datetime
) -> tuple[Decimal, tuple[AttestationUsed, ...], list[str], bool]:
    """(custody shares, attestations used, messages, stale?)."""
    if book is None or not book.latest:
        return Decimal(0), (), [f"no attestation found for custodian {token.custodian!r}"], True
    used: list[AttestationUsed] = []
    messages: list[str] = []
    total = Decimal(0)
    stale = False
    any_fresh = False
    for statement, holding in book.positions(token.isin):
        age = (now - statement.as_of).total_seconds()
        is_stale = age > max_age_s
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
            stale = True
            messages.append(
                f"attestation for account {statement.account} is as of "
                f"{statement.as_of.isoformat().replace('+00:00', 'Z')}, older than max_age"
            )
        if age < -300:
            messages.append(
                f"attestation for account {statement.account} is dated in the future "
                f"({statement.as_of.isoformat().replace('+00:00', 'Z')})"
            )
    if not any_fresh:
        stale = True
        if not used:
            messages.append(
                f"every statement of custodian {token.custodian!r} is older than max_age"
            )
    return total, tuple(used), messages, stale


def reconcile_token(
    token: Token,
    reads: Mapping[str, ChainRead],
    book: CustodyBook | None,
    max_age_s: float,
    now: datetime,
) -> TokenResult:
    deployments: list[DeploymentResult] = []
    messages: list[str] = []
    onchain = Decimal(0)
    errors: list[str] = []
    for dep in token.deployments:
        read = reads.get(dep.chain)
        supply = read.supplies.get(dep.key) if read is not None else None
        if supply is None:
            supply = DeploymentSupply(dep.chain, dep.address, error="chain was not read")
        circulating: Decimal | None = None
        if supply.error is None and supply.circulating is not None:
            circulating = amounts.mul(supply.circulating, token.shares_per_token)
            onchain = amounts.add(onchain, circulating)
        elif read is not None and read.error is not None and supply.error == read.error:
            errors.append(f"{dep.chain}: the chain could not be read (see the chain's error)")
        else:
            errors.append(f"{dep.chain} {dep.address}: {supply.error}")
        messages.extend(supply.messages)
        deployments.append(DeploymentResult(supply, token.shares_per_token, circulating))

    custody, used, custody_messages, stale = _custody(token, book, max_age_s, now)
    messages.extend(custody_messages)
    tolerance = token.tolerance.for_onchain(onchain)
    difference = amounts.sub(custody, onchain)
    short = difference < -tolerance

    if errors:
        messages.extend(errors)
        if short and not stale:
            status = Status.UNDER
            messages.append(
                "custody is short even of the deployments that could be read; the real "
                "shortfall is at least the difference shown"
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
        onchain=onchain,
        custody=custody,
        difference=difference,
        tolerance=tolerance,
        deployments=tuple(deployments),
        attestations=used,
        messages=tuple(messages),
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
        custodian = registry.custodians[token.custodian]
        tokens.append(
            reconcile_token(
                token, reads, books.get(token.custodian), custodian.max_age.total_seconds(), now
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
