"""Exact amount arithmetic: scaling, f64 multipliers, strict quantity parsing, tolerances."""

from __future__ import annotations

import decimal
import struct
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xstock_audit import amounts
from xstock_audit.amounts import Tolerance, parse_quantity, parse_tolerance, scale

U256_MAX = 2**256 - 1

# ------------------------------------------------------------------------------ scale


def test_scale_u256_max_18_decimals() -> None:
    assert (
        U256_MAX == 115792089237316195423570985008687907853269984665640564039457584007913129639935
    )
    got = scale(U256_MAX, 18)
    assert got == Decimal(
        "115792089237316195423570985008687907853269984665640564039457.584007913129639935"
    )
    assert amounts.fmt(got) == (
        "115792089237316195423570985008687907853269984665640564039457.584007913129639935"
    )
    assert got.as_tuple().exponent == -18


def test_scale_zero_decimals_and_zero_raw() -> None:
    assert scale(U256_MAX, 0) == Decimal(U256_MAX)
    assert amounts.fmt(scale(U256_MAX, 0)) == str(U256_MAX)
    assert scale(0, 0) == 0
    assert amounts.fmt(scale(0, 18)) == "0.000000000000000000"
    assert amounts.fmt(scale(1, 8)) == "0.00000001"
    assert amounts.fmt(scale(1, 77)) == "0." + "0" * 76 + "1"


def test_scale_keeps_places() -> None:
    assert str(scale(1523 * 10**6, 6)) == "1523.000000"


def test_scale_rejects_negative_decimals() -> None:
    with pytest.raises(ValueError):
        scale(1, -1)


@given(st.integers(min_value=0, max_value=U256_MAX), st.integers(min_value=0, max_value=255))
def test_scale_roundtrip_exact(raw: int, d: int) -> None:
    s = scale(raw, d)
    with amounts.exact():
        assert s * (Decimal(10) ** d) == raw
    assert Fraction(s) == Fraction(raw, 10**d)


# ---------------------------------------------------------------------------- floats


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (1.0000000000000002, "1.0000000000000002"),
        (1.05, "1.05"),
        (1.0, "1.0"),
        (0.0, "0.0"),
        (123456.789, "123456.789"),
        (1e16, "1E+16"),
        (5e-324, "5E-324"),
    ],
)
def test_f64_to_decimal_uses_repr(value: float, text: str) -> None:
    got = amounts.f64_to_decimal(value)
    assert got == Decimal(text)
    assert str(got) == text
    # and the LE-bytes decoder gives the very same decimal
    assert amounts.f64_from_le_bytes(struct.pack("<d", value)) == got
    # the shortest round-trip, not the binary expansion
    assert len(got.as_tuple().digits) <= 17


def test_f64_from_le_bytes_is_little_endian() -> None:
    assert amounts.f64_from_le_bytes(bytes.fromhex("9a9999999999b93f")) == Decimal("0.1")
    assert amounts.f64_from_le_bytes(bytes.fromhex("000000000000f03f")) == Decimal(1)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_f64_non_finite_rejected(value: float) -> None:
    with pytest.raises(ValueError):
        amounts.f64_to_decimal(value)
    with pytest.raises(ValueError):
        amounts.f64_from_le_bytes(struct.pack("<d", value))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_f64_to_decimal_round_trips(value: float) -> None:
    got = amounts.f64_to_decimal(value)
    assert float(got) == value
    assert got == Decimal(repr(value))


# -------------------------------------------------------------------- parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1523.000000", "1523.000000"),
        ("0", "0"),
        (" 42 ", "42"),
        ("0.5", "0.5"),
        (".5", "0.5"),
        ("7.", "7"),
        ("1" * 38, "1" * 38),
        ("0." + "1" * 38, "0." + "1" * 38),
    ],
)
def test_parse_quantity_accepts(text: str, value: str) -> None:
    got = parse_quantity(text)
    assert got == Decimal(value)
    assert type(got) is Decimal


def test_parse_quantity_keeps_places() -> None:
    assert str(parse_quantity("1523.000000")) == "1523.000000"


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "1E3",
        "1.5e-3",
        "1e+3",
        "inf",
        "Infinity",
        "nan",
        "NaN",
        "sNaN",
        "0x10",
        "1_000",
        "1,5",
        "1 000",
        "--1",
        "1.2.3",
        "",
        "   ",
        ".",
        "abc",
        "1" * 39,
        "1" * 40,
        "1" + "0" * 39,
        "0." + "1" * 39,
        "-1",
        "-0.000001",
    ],
)
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_parse_quantity_negative_when_allowed() -> None:
    assert parse_quantity("-1.5", allow_negative=True) == Decimal("-1.5")
    with pytest.raises(ValueError):
        parse_quantity("-1e3", allow_negative=True)


def test_parse_quantity_too_many_digits_message() -> None:
    with pytest.raises(ValueError, match="40 significant digits"):
        parse_quantity("1" * 40)


# ------------------------------------------------------------------------ tolerance


def test_tolerance_units_only() -> None:
    t = Tolerance(units=Decimal("0.000001"))
    assert t.for_onchain(Decimal("1523")) == Decimal("0.000001")
    assert t.for_onchain(Decimal(0)) == Decimal("0.000001")


def test_tolerance_bps_only_is_exact() -> None:
    t = Tolerance(bps=Decimal(5))
    assert t.for_onchain(Decimal("1523")) == Decimal("0.7615")
    assert t.for_onchain(Decimal("-1523")) == Decimal("0.7615")
    assert Tolerance(bps=Decimal(1)).for_onchain(Decimal("0.000003")) == Decimal("3E-10")
    assert Tolerance(bps=Decimal("0.5")).for_onchain(scale(U256_MAX, 18)) == Fraction(
        U256_MAX, 10**18
    ) * Fraction(1, 20000)


def test_tolerance_both_larger_wins() -> None:
    t = Tolerance(units=Decimal("0.5"), bps=Decimal(5))
    assert t.for_onchain(Decimal("100")) == Decimal("0.5")  # bps gives 0.05
    assert t.for_onchain(Decimal("10000")) == Decimal("5")  # bps gives 5 > 0.5
    assert t.for_onchain(Decimal("1000")) == Decimal("0.5")  # tie: 0.5 either way


def test_tolerance_default_is_zero() -> None:
    assert Tolerance().for_onchain(Decimal("1e30")) == 0
    assert Tolerance().describe() == "0"


@pytest.mark.parametrize(
    ("value", "units", "bps"),
    [
        ("0.000001", "0.000001", "0"),
        ("5bps", "0", "5"),
        (" 5 bps ", "0", "5"),
        ("0.5bps", "0", "0.5"),
        (3, "3", "0"),
        (0, "0", "0"),
        ({"units": "0.000001", "bps": 5}, "0.000001", "5"),
        ({"units": "0.000001", "bps": "5bps"}, "0.000001", "5"),
        ({"bps": 2}, "0", "2"),
        ({"units": "1"}, "1", "0"),
        ({}, "0", "0"),
    ],
)
def test_parse_tolerance_forms(value: object, units: str, bps: str) -> None:
    t = parse_tolerance(value)
    assert t.units == Decimal(units)
    assert t.bps == Decimal(bps)


@pytest.mark.parametrize(
    "value",
    [
        0.5,
        True,
        None,
        [1],
        "abc",
        "-1",
        "-5bps",
        "5 basis points",
        "1e-6",
        {"unit": "1"},
        {"units": "1", "bsp": 5},
        {"units": 0.1},
        {"bps": 1.5},
        {"bps": True},
        {"bps": "x"},
    ],
)
def test_parse_tolerance_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_tolerance(value)


def test_tolerance_describe() -> None:
    assert Tolerance(units=Decimal("0.000001"), bps=Decimal(5)).describe() == "0.000001 or 5bps"


# -------------------------------------------------------------- exact context, add/sub


def test_exact_context_traps_inexact() -> None:
    with amounts.exact(), pytest.raises(decimal.Inexact):
        Decimal(1) / Decimal(3)
    with amounts.exact():
        assert Decimal(1) / Decimal(4) == Decimal("0.25")
    with amounts.exact(), pytest.raises(decimal.DivisionByZero):
        Decimal(1) / Decimal(0)


def test_exact_context_does_not_leak() -> None:
    with amounts.exact():
        pass
    assert Decimal(1) / Decimal(3) == Decimal("0.3333333333333333333333333333")


def test_sub_raises_instead_of_rounding() -> None:
    with pytest.raises(decimal.Inexact):
        amounts.sub(Decimal("1E+150"), Decimal("1E-150"))
    with pytest.raises(decimal.Inexact):
        amounts.add(Decimal("1E+150"), Decimal("1E-150"))


def test_mul_exact() -> None:
    assert amounts.mul(Decimal("1.05"), scale(10**20, 18)) == Decimal("105.00")
    assert amounts.mul() == 1


def test_fmt() -> None:
    assert amounts.fmt(Decimal("1E+3")) == "1000"
    assert amounts.fmt(Decimal("-0.50")) == "-0.50"
    assert amounts.fmt_short(Decimal("1.500000")) == "1.5"
    assert amounts.fmt_short(Decimal("-0.000")) == "0"
    assert amounts.fmt_short(Decimal("100")) == "100"


exact_decimals = st.builds(
    lambda n, k: Decimal(n).scaleb(-k),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.integers(min_value=0, max_value=60),
)


@given(exact_decimals, exact_decimals)
def test_sub_then_add_roundtrips(a: Decimal, b: Decimal) -> None:
    diff = amounts.sub(a, b)
    assert Fraction(diff) == Fraction(a) - Fraction(b)
    assert amounts.add(diff, b) == a
    assert Fraction(amounts.add(a, b)) == Fraction(a) + Fraction(b)


@given(st.lists(exact_decimals, max_size=20))
def test_add_many_exact(values: list[Decimal]) -> None:
    assert Fraction(amounts.add(*values)) == sum((Fraction(v) for v in values), Fraction(0))
