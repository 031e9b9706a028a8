"""Custody from Chainlink Proof of Reserve feeds (`format: chainlink-por`).

Each ISIN of the custodian names an aggregator on an EVM chain. The chain's reader reads
`latestRoundData()` and `decimals()` in the same pinned block as the tokens (through
Multicall3 with the rest, see `chains.evm.reader`); here a round becomes a statement:

- the quantity is `answer / 10^decimals` shares, exactly;
- the as-of is the round's `updatedAt`, so the custodian's `max_age` applies as to a file
  (and an `updatedAt` later than the run's start plus `clock_skew` is not used);
- a non-positive answer, an incomplete round (`answeredInRound < roundId`), a round never
  updated, or a feed that could not be read makes the tokens of that ISIN ERROR, never zero
  custody.

Each feed is its own account (`feed 0x… on CHAIN`), so feeds of several ISINs add up as
accounts do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from .. import amounts
from ..chains.interface import ChainRead
from ..timefmt import from_unix
from .interface import CustodyBook, Holding, Statement

#: an updatedAt past this (year 36812) is not a time
MAX_TIME = 1 << 40


def feeds_by_chain(custodians: Mapping[str, object]) -> dict[str, tuple[str, ...]]:
    """chain -> the aggregator addresses to read on it, for the custodians given."""
    out: dict[str, dict[str, None]] = {}
    for c in custodians.values():
        for feed in (getattr(c, "feeds", None) or {}).values():
            out.setdefault(feed.chain, {})[feed.address] = None
    return {chain: tuple(addresses) for chain, addresses in out.items()}


def book(
    name: str,
    feeds: Mapping[str, object],
    reads: Mapping[str, ChainRead],
    not_after: datetime | None = None,
) -> CustodyBook:
    """The custodian's book from the feeds' rounds in `reads` (ISIN -> feed settings)."""
    from . import build_book

    statements: list[Statement] = []
    problems: dict[str, str] = {}
    for isin, feed in feeds.items():
        chain, address = feed.chain, feed.address  # type: ignore[attr-defined]
        where = f"Proof of Reserve feed {address} on {chain}"
        read = reads.get(chain)
        if read is None or read.pin is None:
            problems[isin] = f"{where}: the chain could not be read"
            continue
        r = read.feeds.get(address)
        if r is None:
            problems[isin] = f"{where}: not read"
            continue
        if r.error is not None:
            problems[isin] = f"{where}: {r.error}"
            continue
        if r.answer <= 0:
            problems[isin] = (
                f"{where} answers {r.answer} in round {r.round_id}: a reserve that is not "
                "positive is not custody (a fault of the feed, never counted as zero)"
            )
            continue
        if r.answered_in_round < r.round_id:
            problems[isin] = (
                f"{where}: round {r.round_id} is incomplete (answeredInRound "
                f"{r.answered_in_round}): its answer is not used"
            )
            continue
        if r.updated_at == 0 or r.updated_at > MAX_TIME:
            problems[isin] = f"{where}: round {r.round_id} has updatedAt {r.updated_at}"
            continue
        label = f"chainlink-por {chain} {address} round {r.round_id} (block {read.pin.number})"
        statements.append(
            Statement(
                # the chain too: one address on two chains is two feeds (same deployer and
                # nonce), whose rounds must not displace each other as one account's would
                account=f"feed {address} on {chain}",
                as_of=from_unix(r.updated_at),
                holdings=(Holding(isin, amounts.scale(r.answer, r.decimals), file=label),),
                file=label,
            )
        )
    result = build_book(name, statements, [s.file for s in statements], not_after)
    return replace(result, isin_errors=problems) if problems else result
