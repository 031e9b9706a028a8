"""Identifiers checked the same way wherever they appear (registry and custody files)."""

from __future__ import annotations


def isin(value: object) -> str:
    """An ISO 6166 ISIN with a valid check digit, normalised; ValueError otherwise."""
    from stdnum import isin as stdisin
    from stdnum.exceptions import ValidationError

    if not isinstance(value, str):
        raise ValueError("ISIN must be a string")
    try:
        return str(stdisin.validate(value))
    except ValidationError as exc:
        raise ValueError(
            f"{value!r} is not a valid ISIN ({str(exc).lower().rstrip('.')})"
        ) from None
