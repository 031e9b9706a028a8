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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from . import amounts
from .chains.interface import ChainRead, DeploymentModel, DeploymentSupply, Movement
from .custody import CustodyBook, Statement
from .policy import Gate, Ignore
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
    custodian: str = ""
    #: the file's verified signature(s) (None: the custodian declares no key)
    signature: str | None = None
    #: held but not available (pending, in transit, pledged): not in `quantity`, because the
    #: custodian does not say `count_unavailable: true`
    unavailable: Decimal = Decimal(0)


@dataclass(frozen=True)
class PlannedMint:
    """A mint a pipeline is about to make (`check --mint`), counted as if it had happened."""

    chain: str
    #: in tokens of that deployment (what the mint call is given, scaled by its decimals)
    amount: Decimal
    #: the shares it adds (x the multiplier applied to balances, x shares_per_token); None
    #: when the deployment was not read
    shares: Decimal | None = None


@dataclass(frozen=True)
class CustodySource:
    """One custodian of a token: its name, its book (None: nothing read) and `max_age`."""

    name: str
    book: CustodyBook | None
    max_age: timedelta


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
    #: mints counted as if made (`check --mint`), included in `onchain`
    planned_mints: tuple[PlannedMint, ...] = ()
    #: `check --movements`: what moved on chain since the custody as-of (None: not asked)
    movements: Movements | None = None


@dataclass(frozen=True)
class Movements:
    """A token's movements (`check --movements`) after `since`, the oldest as-of of the
    custody statements it uses, up to the read: oldest first, amounts in shares. `items`
    is None when they are unknown (a chain not read or not listed; the token's messages say
    why)."""

    since: datetime | None
    items: tuple[Movement, ...] | None


@dataclass(frozen=True)
class AuditResult:
    generated_at: datetime
    #: each chain's read: where it was pinned (or its error), requests, messages
    chains: Mapping[str, ChainRead]
    tokens: tuple[TokenResult, ...]
    summary: Mapping[Status, int] = field(default_factory=dict)
    #: what the gate decided (`policy.fail_on`, ignores); None: the default gate
    gate: Gate | None = None
    #: `check --at`: the instant the chains were read as of (None: their heads)
    at: datetime | None = None
    #: `check --at attestation`: each token's instant (a token not listed: the head)
    token_at: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.gate is not None:
            return self.gate.exit_code
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
    #: the statements older than their custodian's max_age among those that count (oldest
    #: first), with that max_age
    stale: tuple[tuple[Statement, timedelta], ...]
    #: the custodians with no fresh statement at all, with their max_age
    none_fresh: tuple[tuple[str, timedelta], ...]
    #: why custody cannot be trusted (future-dated statements, a source that failed), one
    #: message each: ERROR
    untrusted: tuple[str, ...]
    #: files not read because of their signature: UNVERIFIED
    unverified: tuple[str, ...] = ()


def _named(custodian: str, message: str) -> str:
    """The message, saying which custodian it is about (once: a source's error, such as an
    http-json API's, names its custodian already)."""
    prefix = f"custodian {custodian!r}: "
    return message if message.startswith(prefix) else prefix + message


def _custody(
    token: Token, sources: Sequence[CustodySource], now: datetime, clock_skew: timedelta
) -> _Custody:
    used: list[AttestationUsed] = []
    stale: list[tuple[Statement, timedelta]] = []
    none_fresh: list[tuple[str, timedelta]] = []
    untrusted: list[str] = []
    unverified: list[str] = []
    total = Decimal(0)
    for source in sources:
        book = source.book
        if book is None:
            none_fresh.append((source.name, source.max_age))
            continue
        any_fresh = False
        for statement, holding in book.positions(token.isin):
            is_stale = now - statement.as_of > source.max_age
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
                    custodian=source.name,
                    signature=statement.signature,
                    unavailable=holding.unavailable,
                )
            )
            total = amounts.add(total, holding.quantity)
            if is_stale:
                stale.append((statement, source.max_age))
        # a custodian whose figures can't be had (its source failed, its files were refused
        # or dated in the future) is ERROR or UNVERIFIED for that reason: not "stale"
        explained = bool(book.errors) or token.isin in book.isin_errors
        explained = explained or (not book.latest and bool(book.future or book.unverified))
        if not any_fresh and not explained:
            none_fresh.append((source.name, source.max_age))
        # (each `if` saves building a generator per token when, as usual, there is nothing)
        if book.future:
            untrusted.extend(
                f"attestation {st.file} for account {st.account} is dated {iso(st.as_of)}, "
                f"later than this run's start plus clock_skew {setting(clock_skew)}: not "
                f"used; custody of {source.name!r} is unknown until the statement is corrected"
                for account in sorted(book.future)
                for st in book.future[account]
            )
        if book.errors:
            untrusted.extend(_named(source.name, e) for e in book.errors)
        if token.isin in book.isin_errors:
            untrusted.append(f"custodian {source.name!r}: {book.isin_errors[token.isin]}")
        if book.unverified:
            unverified.extend(f"custodian {source.name!r}: {m}" for m in book.unverified)
    return _Custody(
        total=total,
        used=tuple(used),
        stale=tuple(sorted(stale, key=lambda sm: sm[0].as_of)) if stale else (),
        none_fresh=tuple(none_fresh),
        untrusted=tuple(untrusted),
        unverified=tuple(unverified),
    )


def _against(difference: Decimal, tolerance: Decimal) -> str:
    """What a figure says when it cannot give the verdict (a stale one)."""
    if difference < -tolerance:
        return f"short by {amounts.fmt_short(-difference)}"
    if difference > tolerance:
        return f"over by {amounts.fmt_short(difference)}"
    return "backed"


def _stale_message(token: Token, c: _Custody, now: datetime, verdict: str) -> str:
    if not c.stale:  # no fresh statement, and none of them holds the ISIN
        names = " and ".join(
            f"custodian {n!r} is older than max_age {setting(m)}" for n, m in c.none_fresh
        )
        return (
            f"every statement of {names}; against them (no holding of {token.isin}) the "
            f"token is {verdict}"
        )
    oldest, max_age = c.stale[0]
    accounts = (
        f"account {oldest.account}"
        if len(c.stale) == 1
        else f"oldest of {len(c.stale)} accounts: {', '.join(st.account for st, _ in c.stale)}"
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
    *,
    sources: Sequence[CustodySource] | None = None,
    mints: Sequence[PlannedMint] = (),
    custody: PrecomputedCustody | None = None,
) -> TokenResult:
    """One token's verdict. Its custody is `book` (its one custodian's), or the sum over
    `sources` when the token has several custodians; `custody` is that sum worked out
    already (`custody_of`), used when it was made from these very books."""
    if not isinstance(max_age, timedelta):
        max_age = timedelta(seconds=max_age)
    if sources is None:
        sources = (CustodySource(token.custodians[0], book, max_age),)
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

    for source in sources:
        b = source.book
        if b is None or not (
            b.latest or b.future or b.unverified or b.errors or token.isin in b.isin_errors
        ):
            messages.append(f"no attestation found for custodian {source.name!r}")
    try:
        c = (
            custody[1]
            if custody is not None and _made_from(custody[0], sources)
            else _custody(token, sources, now, clock_skew)
        )
    except ArithmeticError as exc:
        return unknown(f"arithmetic on the custody figures: {amounts.failure(exc)}")
    for a in c.used:
        if a.unavailable:
            messages.append(
                f"account {a.account} ({a.custodian}) also holds {amounts.fmt_short(a.unavailable)}"
                " that is not available (pending, in transit or pledged): not counted "
                "(count_unavailable: false)"
            )
    planned: list[PlannedMint] = []
    try:
        for mint in mints:
            d = next((d for d in deployments if d.supply.chain == mint.chain), None)
            shares = None
            if d is not None and d.circulating is not None:
                s = d.supply
                scale = s.multiplier if s.multiplier_applied else Decimal(1)
                shares = amounts.mul(mint.amount, scale, token.shares_per_token)
            planned.append(replace(mint, shares=shares))
            if shares is not None:
                messages.append(
                    f"planned mint of {amounts.fmt_short(mint.amount)} on {mint.chain} "
                    f"({amounts.fmt_short(shares)} shares) counted as made"
                )
        onchain_read = amounts.add(
            *(d.circulating for d in deployments if d.circulating is not None),
            *(m.shares for m in planned if m.shares is not None),
        )
        tolerance = token.tolerance.for_onchain(onchain_read)
        difference = amounts.sub(c.total, onchain_read)
    except ArithmeticError as exc:
        return unknown(f"arithmetic: {amounts.failure(exc)}", c.used)

    stale = bool(c.stale) or bool(c.none_fresh)
    short = difference < -tolerance
    complete = not errors and not c.untrusted and not c.unverified
    if stale:
        verdict = _against(difference, tolerance)
        if errors:
            verdict = (
                f"{verdict} of the deployments that could be read"
                if short
                else "unknown (a deployment was not read)"
            )
        if any(s.book is not None and s.book.latest for s in sources):
            messages.append(_stale_message(token, c, now, verdict))
    messages.extend(errors)
    messages.extend(c.untrusted)
    messages.extend(c.unverified)
    # precedence: ERROR, UNVERIFIED, UNDER (when proven), STALE, OVER, BACKED
    proven_short = short and not stale and not c.unverified
    if c.untrusted or (errors and not proven_short):
        status = Status.ERROR
    elif c.unverified:
        status = Status.UNVERIFIED
    elif errors:
        status = Status.UNDER
        messages.append(
            f"custody {amounts.fmt_short(c.total)} is short even of the deployments that "
            f"could be read ({amounts.fmt_short(onchain_read)}): the shortfall is at least "
            f"{amounts.fmt_short(-difference)}"
        )
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
        custody=None if c.untrusted or c.unverified else c.total,
        difference=difference if complete else None,
        tolerance=tolerance,
        deployments=tuple(deployments),
        attestations=c.used,
        messages=tuple(messages),
        onchain_read=onchain_read,
        planned_mints=tuple(planned),
    )


def _made_from(books: tuple[CustodyBook | None, ...], sources: Sequence[CustodySource]) -> bool:
    """Whether a precomputed custody sum was made from these very books."""
    return len(books) == len(sources) and all(
        book is source.book for book, source in zip(books, sources, strict=True)
    )


#: a token's custody sum (`_custody`) and the books it was made from
PrecomputedCustody = tuple[tuple[CustodyBook | None, ...], _Custody]


def custody_of(
    registry: Registry, books: Mapping[str, CustodyBook], now: datetime
) -> dict[str, PrecomputedCustody]:
    """Each token's custody sum, for the tokens whose custodians all have a book in `books`
    (the custody side of `reconcile`, which depends on no chain: the audit works it out in
    the custody worker thread while the chains are still being read). A token whose sum
    fails is left out: `reconcile` then reports why."""
    out: dict[str, PrecomputedCustody] = {}
    clock_skew = registry.policy.clock_skew
    #: custodian names -> their sources and books, made once for the tokens that share them
    made: dict[tuple[str, ...], tuple[list[CustodySource], tuple[CustodyBook, ...]]] = {}
    for token in registry.tokens:
        names = token.custodians
        both = made.get(names)
        if both is None:
            if not all(n in books for n in names):
                continue
            sources = [CustodySource(n, books[n], registry.custodians[n].max_age) for n in names]
            both = made[names] = (sources, tuple(books[n] for n in names))
        try:
            summed = _custody(token, both[0], now, clock_skew)
        except ArithmeticError:
            continue
        out[token.symbol] = (both[1], summed)
    return out


def reconcile(
    registry: Registry,
    reads: Mapping[str, ChainRead],
    books: Mapping[str, CustodyBook],
    now: datetime,
    symbols: Sequence[str] | None = None,
    *,
    fail_on: Sequence[str] | None = None,
    ignores: Sequence[Ignore] = (),
    mints: Mapping[str, Sequence[PlannedMint]] | None = None,
    custody: Mapping[str, PrecomputedCustody] | None = None,
) -> AuditResult:
    """Every token's verdict and the gate: `fail_on` (default the registry's
    `policy.fail_on`) and the ignores (the registry's `policy.ignore` and `ignores`, the
    command line's, which win for the same symbol). `custody` holds tokens' custody sums
    worked out already (`custody_of`)."""
    custody = custody or {}
    mints = mints or {}
    wanted = set(symbols) if symbols else None
    clock_skew = registry.policy.clock_skew
    #: custodian names -> their sources, made once for the tokens that share them
    made: dict[tuple[str, ...], list[CustodySource]] = {}
    tokens = []
    for token in registry.tokens:
        if wanted is not None and token.symbol not in wanted:
            continue
        names = token.custodians
        sources = made.get(names)
        if sources is None:
            sources = made[names] = [
                CustodySource(name, books.get(name), registry.custodians[name].max_age)
                for name in names
            ]
        tokens.append(
            reconcile_token(
                token,
                reads,
                sources[0].book,
                sources[0].max_age,
                now,
                clock_skew,
                sources=sources,
                mints=mints.get(token.symbol, ()),
                custody=custody.get(token.symbol),
            )
        )
    return conclude(registry, reads, tokens, now, fail_on=fail_on, ignores=ignores)


def conclude(
    registry: Registry,
    chains: Mapping[str, ChainRead],
    tokens: Sequence[TokenResult],
    now: datetime,
    *,
    fail_on: Sequence[str] | None = None,
    ignores: Sequence[Ignore] = (),
) -> AuditResult:
    """The result of a run from its tokens' verdicts: the summary and the gate (`fail_on`,
    default the registry's `policy.fail_on`; the registry's `policy.ignore` and `ignores`,
    the command line's, which win for the same symbol)."""
    from .policy import decide

    summary = {s: 0 for s in Status}
    for t in tokens:
        summary[t.status] += 1
    by_symbol = {
        ig.symbol: Ignore(ig.symbol, ig.reason, ig.until, "registry")
        for ig in registry.policy.ignore
    }
    by_symbol.update({ig.symbol: ig for ig in ignores})
    gate = decide(
        ((t.symbol, t.status.value) for t in tokens),
        registry.policy.fail_on if fail_on is None else fail_on,
        list(by_symbol.values()),
    )
    return AuditResult(
        generated_at=now,
        chains=dict(chains),
        tokens=tuple(tokens),
        summary=summary,
        gate=gate,
    )
