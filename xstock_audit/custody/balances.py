"""What the bank-statement formats (semt.002, MT535) share: splitting a position into its
available and not-available parts, and the dates they write without a zone.

A statement states the aggregate balance of a security (negative: short) and, optionally,
how much of it is available and how much is not (pending delivery, in transit, pledged,
blocked...). `Holding.quantity` is the available part and `Holding.unavailable` the rest.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo
from decimal import Decimal

#: sub-balance types (ISO 20022 SecuritiesBalanceType12Code, the MT535 :93C: qualifiers) that
#: are held but not available, when the statement gives no availability indicator of its own;
#: pending receipts (PENR) and borrowed securities are not part of what is held and not here
NOT_AVAILABLE_TYPES = frozenset(
    {
        "BLOK",  # blocked
        "BLCA",  # blocked, corporate action
        "BLOT",  # blocked, trading
        "BLOV",  # blocked, voting
        "BTRA",  # blocked, trading (registrar)
        "COLO",  # collateral out
        "LOAN",  # on loan
        "MARG",  # margin
        "PECA",  # pending corporate action delivery
        "PEDA",  # pending delivery, awaiting documents
        "PEND",  # pending delivery
        "PLED",  # pledged
        "REGO",  # out for registration
        "RSTR",  # restricted
        "TRAN",  # in transit
    }
)


def split(
    aggregate: Decimal,
    available: Decimal | None,
    not_available: Decimal | None,
    broken_down: Decimal,
) -> tuple[Decimal, Decimal]:
    """(available part, not-available part) of an aggregate balance.

    The statement's own not-available balance wins, else its available balance (the rest is
    not available), else the sum of its not-available sub-balances (`broken_down`). Raises
    ValueError when the parts contradict the aggregate."""
    if not_available is not None:
        unavailable = not_available
        if available is not None and available + not_available != aggregate:
            raise ValueError(
                f"available {available} plus not available {not_available} is not the "
                f"aggregate balance {aggregate}"
            )
    elif available is not None:
        unavailable = aggregate - available
    else:
        unavailable = broken_down
    if unavailable and (aggregate < 0 or unavailable < 0 or unavailable > aggregate):
        raise ValueError(
            f"a not-available part of {unavailable} does not fit the aggregate balance {aggregate}"
        )
    return aggregate - unavailable, unavailable


def end_of_day(day: date, zone: tzinfo) -> datetime:
    """The last second of `day` in `zone` (a statement dated by day only)."""
    return datetime.combine(day, time(23, 59, 59), zone)
