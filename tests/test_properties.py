"""Property-based tests (hypothesis) on the parsers and the reconciliation."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from xstock_audit import amounts
from xstock_audit.chains import ChainRead, DeploymentSupply, Pin
from xstock_audit.chains import spl_layout as L
from xstock_audit.custody import CustodyBook, Holding, Statement, build_book
from xstock_audit.custody.csvfile import FORMAT as CSV
from xstock_audit.reconcile import Status, reconcile_token
from xstock_audit.registry import Token

NOW = datetime(2026, 11, 21, tzinfo=UTC)
ISIN = "US88160R1014"
ADDR = "0x8aD3c73F833d3F9A523aB01476625F269aEB7Cf0"

quantities = st.decimals(min_value=0, max_value=10**12, places=6, allow_nan=False)
RANK = {Status.UNDER: 0, Status.BACKED: 1, Status.OVER: 2}


def verdict(onchain: Decimal, custody: Decimal, tolerance: object) -> Status:
    token = Token.model_validate(
        {
            "symbol": "T",
            "isin": ISIN,
            "custodian": "c",
            "tolerance": tolerance,
            "deployments": [{"chain": "e", "address": ADDR}],
        }
    )
    supply = DeploymentSupply("e", ADDR, decimals=6, circulating=onchain)
    reads = {"e": ChainRead("e", Pin("e", "evm", 1, NOW, "h"), {ADDR: supply})}
    book = CustodyBook(
        "c", ("f",), {"A": Statement("A", NOW, (Holding(ISIN, custody, 1, "f"),), "f", 1)}
    )
    return reconcile_token(token, reads, book, 86400, NOW).status


tolerances = st.sampled_from(["0", "0.000001", "5bps", {"units": "0.5", "bps": 1}, "0.25"])


@given(quantities, quantities, quantities, tolerances)
def test_reconcile_is_monotone_in_custody(
    onchain: Decimal, c1: Decimal, c2: Decimal, tolerance: object
) -> None:
    lo, hi = min(c1, c2), max(c1, c2)
    assert RANK[verdict(onchain, lo, tolerance)] <= RANK[verdict(onchain, hi, tolerance)]


@given(quantities, tolerances)
def test_equal_custody_is_backed(onchain: Decimal, tolerance: object) -> None:
    assert verdict(onchain, onchain, tolerance) is Status.BACKED


@given(quantities, st.integers(min_value=1, max_value=10**6))
def test_any_shortfall_beyond_tolerance_is_under(onchain: Decimal, units: int) -> None:
    short = onchain - Decimal(units).scaleb(-6) - Decimal("0.000001")
    assert verdict(onchain, short, "0.000001") is Status.UNDER


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=0, max_value=10**20, places=12))
def test_quantity_text_round_trips(d: Decimal) -> None:
    assert amounts.parse_quantity(amounts.fmt(d)) == d


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=65535), st.binary(max_size=80)), max_size=8
    )
)
def test_tlv_walk_returns_every_entry(entries: list[tuple[int, bytes]]) -> None:
    data = bytes(166) + b"".join(struct.pack("<HH", t, len(v)) + v for t, v in entries)
    assert list(L.parse_tlv(data, 166)) == entries


@given(
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.integers(min_value=-(2**40), max_value=2**40),
)
def test_scaled_ui_amount_chooses_by_clock(old: float, new: float, ts: int, now: int) -> None:
    cfg = L.parse_scaled_ui_amount(bytes(32) + struct.pack("<dqd", old, ts, new))
    want = new if now >= ts else old
    assert cfg.effective(now) == Decimal(repr(want))


@settings(max_examples=50)
@given(st.lists(st.tuples(st.sampled_from(["A1", "B2", "C3"]), quantities), min_size=1, max_size=6))
def test_csv_rows_parse_exactly(rows: list[tuple[str, Decimal]]) -> None:
    isins = [
        "US88160R1014",
        "US0378331005",
        "US67066G1040",
        "US78462F1030",
        "US5949181045",
        "US02079K3059",
    ]
    lines = ["isin,quantity,as_of,account"]
    for i, (account, q) in enumerate(rows):
        lines.append(f"{isins[i]},{amounts.fmt(q)},2026-11-20T00:00:00Z,{account}")
    statements = CSV.parse("\n".join(lines) + "\n", "f.csv")
    parsed = {(st_.account, h.isin): h.quantity for st_ in statements for h in st_.holdings}
    assert parsed == {(a, isins[i]): q for i, (a, q) in enumerate(rows)}


SKEW = timedelta(minutes=5)
#: (account, quantity, seconds before NOW); up to 3 days back, a little into the future
statements = st.lists(
    st.tuples(
        st.sampled_from(["A", "B"]),
        quantities,
        st.integers(min_value=-int(SKEW.total_seconds()), max_value=3 * 86400),
    ),
    max_size=5,
    unique_by=lambda s: (s[0], s[2]),
)


def status_with(onchain: Decimal, items: list[tuple[str, Decimal, int]]) -> Status:
    token = Token.model_validate(
        {
            "symbol": "T",
            "isin": ISIN,
            "custodian": "c",
            "deployments": [{"chain": "e", "address": ADDR}],
        }
    )
    supply = DeploymentSupply("e", ADDR, decimals=6, circulating=onchain)
    reads = {"e": ChainRead("e", Pin("e", "evm", 1, NOW, "h"), {ADDR: supply})}
    sts = [
        Statement(acct, NOW - timedelta(seconds=back), (Holding(ISIN, q, 1, "f"),), "f", 1)
        for acct, q, back in items
    ]
    book = build_book("c", sts, ["f"], not_after=NOW + SKEW)
    return reconcile_token(token, reads, book, 86400, NOW, SKEW).status


@given(
    quantities,
    statements,
    st.sampled_from(["A", "B"]),
    quantities,
    st.integers(min_value=1, max_value=100 * 365 * 86400),
)
def test_a_future_statement_never_turns_a_token_backed(
    onchain: Decimal,
    items: list[tuple[str, Decimal, int]],
    account: str,
    quantity: Decimal,
    ahead: int,
) -> None:
    before = status_with(onchain, items)
    future = (account, quantity, -int(SKEW.total_seconds()) - ahead)
    after = status_with(onchain, [*items, future])
    assert after is Status.ERROR  # custody of that account is unknown: never a verdict
    if before is not Status.BACKED:
        assert after is not Status.BACKED


_ISIN_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@settings(max_examples=2000, deadline=None)
@given(
    st.sampled_from(["US", "XS", "DE", "CH", "GB", "ZZ", "QQ", "us"]),
    st.text(alphabet=_ISIN_CHARS, min_size=9, max_size=9),
    st.integers(min_value=0, max_value=9),
)
def test_isin_fast_path_agrees_with_stdnum(country: str, body: str, check: int) -> None:
    """identifiers.isin decides most ISINs itself; it must agree with python-stdnum on
    every 12-character candidate (about one in ten has the right check digit)."""
    from stdnum import isin as stdisin

    from xstock_audit import identifiers

    code = f"{country}{body}{check}"
    for _ in range(2):  # the second call may take the fast path (prefix and code now known)
        try:
            ours: str | None = identifiers.isin(code)
        except ValueError:
            ours = None
        theirs = stdisin.validate(code) if stdisin.is_valid(code) else None
        assert ours == theirs
