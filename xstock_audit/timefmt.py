"""Dates and durations as the reports print them: one formatter for every module.

- `iso`: an instant as ISO 8601 in UTC with a `Z` (`2026-11-20T23:59:59Z`).
- `age`: an elapsed time for people, its two largest units (`2 d 4 h`, `3 h`, `12 min`).
- `setting`: a configured duration as the registry writes it (`36h`, `30m`, `2d`).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

_AGE_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
_SETTING_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@functools.lru_cache(maxsize=4096)  # a report repeats a statement's as-of on every token
def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with `Z`; naive datetimes are taken as UTC. (Equal instants give the
    same text, whatever their zones: a cached answer for one serves the other.)"""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def age(delta: timedelta | float) -> str:
    """`2 d 4 h`, `3 h`, `3 h 5 min`, `12 min`, `40 s`: the two largest non-zero units,
    truncated (an age is never rounded up past a limit it has not reached)."""
    seconds = int(delta.total_seconds() if isinstance(delta, timedelta) else delta)
    seconds = abs(seconds)
    parts: list[str] = []
    for unit, size in _AGE_UNITS:
        n, seconds = divmod(seconds, size)
        if n and len(parts) < 2:
            parts.append(f"{n} {unit}")
        elif parts:
            break
    return " ".join(parts) or "0 s"


def setting(delta: timedelta) -> str:
    """A duration in the registry's own notation, in its largest exact unit (`36h`, `5m`)."""
    seconds = int(delta.total_seconds())
    for unit, size in _SETTING_UNITS:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
