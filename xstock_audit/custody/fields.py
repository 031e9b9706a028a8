"""Field parsers shared by the attestation formats: ISIN, quantity, timestamp, account."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from .. import amounts
from ..identifiers import isin

__all__ = ["account", "isin", "quantity", "timestamp"]


def quantity(value: object) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError(
            f"quantity {value!r} is a floating-point number; write it as a quoted decimal string"
        )
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("quantity must be a decimal string")
    return amounts.parse_quantity(value)


def timestamp(value: object) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an ISO 8601 timestamp (e.g. 2026-11-20T23:59:59Z)"
            ) from None
        if "T" not in text.upper() and " " not in text:
            raise ValueError(f"{value!r} has no time of day; write e.g. 2026-11-20T23:59:59Z")
    else:
        raise ValueError("as_of must be an ISO 8601 timestamp string")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{value!s} has no timezone; add Z or an offset such as +01:00")
    return dt.astimezone(UTC)


def account(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("account must be a non-empty string")
    return value.strip()
