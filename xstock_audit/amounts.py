"""Exact amount arithmetic.

Every amount is a `decimal.Decimal` computed in a context that traps `Inexact`: an
operation that would round raises instead. Integers from chain are scaled by powers of
ten (exact), Solana's ScaledUiAmount f64 is converted through its shortest round-trip
decimal (`repr`), and basis points divide by 10^4 (exact). A float never holds an amount.
"""

from __future__ import annotations

import decimal
import re
import struct
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal

#: Enough digits for any u256 scaled by any decimals times any multiplier.
PRECISION = 200

EXACT = decimal.Context(
    prec=PRECISION,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
    Emin=-999999,
    Emax=999999,
)


def exact() -> AbstractContextManager[decimal.Context]:
    """Run a block of arithmetic in the exact context."""
    return decimal.localcontext(EXACT)


def failure(exc: ArithmeticError) -> str:
    """What an arithmetic failure in the exact context means, for the report."""
    if isinstance(exc, decimal.Inexact):
        return (
            f"the exact result needs more than {PRECISION} significant digits (an extreme "
            "multiplier, decimals or quantity?)"
        )
    if isinstance(exc, decimal.Overflow):
        return "a value is past the range of exact arithmetic (an extreme multiplier?)"
    if isinstance(exc, decimal.DivisionByZero):
        return "division by zero"
    return f"{type(exc).__name__}: {exc}"


def scale(raw: int, decimals: int) -> Decimal:
    """``raw / 10**decimals`` exactly, keeping ``decimals`` places."""
    if decimals < 0:
        raise ValueError("decimals must be >= 0")
    return Decimal(raw).scaleb(-decimals, EXACT)


def f64_to_decimal(value: float) -> Decimal:
    """The shortest decimal that round-trips to this f64 (what `repr` prints)."""
    text = repr(value)
    if text in ("nan", "inf", "-inf"):
        raise ValueError(f"not a finite multiplier: {text}")
    return Decimal(text)


def f64_from_le_bytes(data: bytes) -> Decimal:
    """Decode a little-endian f64 and convert it exactly as `f64_to_decimal`."""
    (value,) = struct.unpack("<d", data)
    return f64_to_decimal(value)


# The operations below call the exact context's methods directly (the same traps as a
# `with exact():` block, without entering one per operation: 10,000 tokens do 10^5 of them).


def mul(*values: Decimal) -> Decimal:
    result = Decimal(1)
    for v in values:
        result = EXACT.multiply(result, v)
    return result


def add(*values: Decimal) -> Decimal:
    result = Decimal(0)
    for v in values:
        result = EXACT.add(result, v)
    return result


def sub(a: Decimal, b: Decimal) -> Decimal:
    return EXACT.subtract(a, b)


_TEN_THOUSAND = Decimal(10000)
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
MAX_DIGITS = 38


def parse_quantity(text: str, *, allow_negative: bool = False) -> Decimal:
    """Parse a decimal string strictly: digits, an optional point, no exponent, no float.

    Raises ValueError with a user-facing message.
    """
    s = text.strip()
    if not _DECIMAL_RE.match(s):
        raise ValueError(f"not a decimal number: {text!r}")
    d = Decimal(s)
    digits = len(d.as_tuple().digits)
    if digits > MAX_DIGITS:
        raise ValueError(f"{digits} significant digits is more than the {MAX_DIGITS} allowed")
    if d < 0 and not allow_negative:
        raise ValueError(f"must not be negative: {text!r}")
    return d


def fmt(value: Decimal) -> str:
    """Plain decimal notation (never an exponent), keeping the value's places."""
    return format(value, "f")


def fmt_short(value: Decimal) -> str:
    """For humans: plain notation with trailing fractional zeros removed."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Tolerance:
    """Allowed |custody - onchain|, in shares: the larger of `units` and `bps` of onchain."""

    units: Decimal = Decimal(0)
    bps: Decimal = Decimal(0)

    def for_onchain(self, onchain: Decimal) -> Decimal:
        if not self.bps:  # the usual case: a bps share of 0 is never the larger
            return max(self.units, Decimal(0))
        from_bps = EXACT.divide(EXACT.multiply(EXACT.abs(onchain), self.bps), _TEN_THOUSAND)
        return max(self.units, from_bps)

    def describe(self) -> str:
        parts = []
        if self.units:
            parts.append(fmt(self.units))
        if self.bps:
            parts.append(f"{fmt_short(self.bps)}bps")
        return " or ".join(parts) if parts else "0"


_BPS_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*bps\s*$")


def parse_tolerance(value: object) -> Tolerance:
    """`"0.000001"`, `"5bps"`, `"0.5%"`, `{units: "0.000001", bps: 5}`, or a plain int.
    ValueError if bad."""
    if isinstance(value, bool | float):
        raise ValueError("write the tolerance as a quoted decimal string (floats are inexact)")
    if isinstance(value, int):
        return Tolerance(units=parse_quantity(str(value)))
    if isinstance(value, str):
        m = _BPS_RE.match(value)
        if m:
            return Tolerance(bps=Decimal(m.group(1)))
        if value.strip().endswith("%"):  # "0.5%" = 50 bps
            return Tolerance(bps=EXACT.multiply(parse_quantity(value.strip()[:-1]), Decimal(100)))
        return Tolerance(units=parse_quantity(value))
    if isinstance(value, dict):
        unknown = set(value) - {"units", "bps"}
        if unknown:
            raise ValueError(f"unknown tolerance key(s): {', '.join(sorted(map(str, unknown)))}")
        units = value.get("units", "0")
        bps = value.get("bps", 0)
        if isinstance(units, float) or isinstance(bps, bool | float):
            raise ValueError("write tolerance values as quoted decimal strings or integers")
        bps_text = str(bps).strip()
        if bps_text.endswith("bps"):
            bps_text = bps_text[:-3]
        return Tolerance(units=parse_quantity(str(units)), bps=parse_quantity(bps_text))
    raise ValueError("expected a decimal string, 'Nbps', or {units, bps}")
