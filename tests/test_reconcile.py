"""Reconciliation is pure: statuses, tolerance, staleness and exit codes from plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from xstock_audit.chains import ChainRead, DeploymentSupply, Pin
from xstock_audit.custody import CustodyBook, Holding, Statement
from xstock_audit.reconcile import Status, exit_code, reconcile_token
from xstock_audit.registry import Token

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ISIN = "US88160R1014"
ADDR = "0x8aD3c73F833d3F9A523aB01476625F269aEB7Cf0"
MINT = "XsDoVfqeBukxuZHWhdvWHBhgEHjGNst4MLodqsJHzoB"
DAY = 86400.0


def token(**kw: object) -> Token:
    return Token.model_validate(
        {
            "symbol": "TSLAx",
            "isin": ISIN,
            "custodian": "acme",
            "deployments": [
                {"chain": "ethereum", "address": ADDR},
                {"chain": "solana", "mint": MINT},
            ],
            **kw,
        }
    )


def supply(
    chain: str, address: str, circulating: str | None, error: str | None = None
) -> ChainRead:
    c = None if circulating is None else Decimal(circulating)
    s = DeploymentSupply(chain, address, decimals=6, circulating=c, error=error)
    pin = Pin(chain, "evm", 1, NOW, "http://x") if error is None else None
    return ChainRead(chain, pin, {address: s})


def reads(eth: str | None, sol: str | None, error: str = "boom") -> dict[str, ChainRead]:
    return {
        "ethereum": supply("ethereum", ADDR, eth, None if eth is not None else error),
        "solana": supply("solana", MINT, sol, None if sol is not None else error),
    }


def book(*accounts: tuple[str, str, timedelta]) -> CustodyBook:
    latest = {
        acct: Statement(acct, NOW - age, (Holding(ISIN, Decimal(q), 1, "f.json"),), "f.json", 1)
        for acct, q, age in accounts
    }
    return CustodyBook("acme", ("f.json",), latest)


FRESH = timedelta(hours=1)


@pytest.mark.parametrize(
    ("custody", "tolerance", "status"),
    [
        ("150", None, Status.BACKED),
        ("150.000001", None, Status.OVER),
        ("149.999999", None, Status.UNDER),
        ("149.999999", "0.000001", Status.BACKED),
        ("149.999998", "0.000001", Status.UNDER),
        ("150.000001", "0.000001", Status.BACKED),
        ("149.985", "1bps", Status.BACKED),  # 1 bps of 150 = 0.015
        ("149.98499", "1bps", Status.UNDER),
        ("149.98", {"units": "0.02", "bps": 1}, Status.BACKED),  # larger wins: 0.02
        ("149.97", {"units": "0.02", "bps": 1}, Status.UNDER),
    ],
)
def test_status_and_tolerance(custody: str, tolerance: object, status: Status) -> None:
    kw = {} if tolerance is None else {"tolerance": tolerance}
    r = reconcile_token(token(**kw), reads("100", "50"), book(("A", custody, FRESH)), DAY, NOW)
    assert r.status is status
    assert r.onchain == Decimal(150)
    assert r.difference == Decimal(custody) - 150


def test_accounts_are_summed_and_shares_per_token_applies() -> None:
    b = book(("A", "100", FRESH), ("B", "200", FRESH))
    r = reconcile_token(token(shares_per_token="2"), reads("100", "50"), b, DAY, NOW)
    assert (r.onchain, r.custody, r.status) == (Decimal(300), Decimal(300), Status.BACKED)
    assert [a.account for a in r.attestations] == ["A", "B"]


def test_stale_account_makes_token_stale() -> None:
    b = book(("A", "100", FRESH), ("B", "50", timedelta(days=2)))
    r = reconcile_token(token(), reads("100", "50"), b, DAY, NOW)
    assert r.status is Status.STALE
    assert any("older than max_age" in m for m in r.messages)


def test_no_attestation_is_stale_not_zero() -> None:
    r = reconcile_token(token(), reads("1", "0"), None, DAY, NOW)
    assert r.status is Status.STALE


def test_fresh_statement_without_the_isin_means_zero_custody() -> None:
    other = Statement("A", NOW, (Holding("US0378331005", Decimal(5), 1, "f"),), "f", 1)
    b = CustodyBook("acme", ("f",), {"A": other})
    r = reconcile_token(token(), reads("1", "0"), b, DAY, NOW)
    assert (r.status, r.custody) == (Status.UNDER, Decimal(0))


def test_read_error_is_error_unless_already_short() -> None:
    b = book(("A", "150", FRESH))
    assert reconcile_token(token(), reads("100", None), b, DAY, NOW).status is Status.ERROR
    short = reconcile_token(token(), reads("200", None), b, DAY, NOW)
    assert short.status is Status.UNDER
    assert any("at least" in m for m in short.messages)
    # a stale custody never turns a partial read into a verdict
    stale = book(("A", "150", timedelta(days=3)))
    assert reconcile_token(token(), reads("200", None), stale, DAY, NOW).status is Status.ERROR


def test_exit_codes() -> None:
    assert exit_code([Status.BACKED, Status.OVER]) == 0
    assert exit_code([Status.BACKED, Status.UNDER, Status.ERROR]) == 1
    assert exit_code([Status.BACKED, Status.STALE]) == 3
    assert exit_code([Status.UNVERIFIED]) == 3
    assert exit_code([Status.ERROR, Status.OVER]) == 3
