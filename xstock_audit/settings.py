"""Building blocks of the registry's models, shared by the registry and every plug-in.

`Model` is the strict base (unknown keys are errors, values frozen); `Duration` parses the
registry's durations (`36h`, `1d12h`, `90m`, `3600s`, or seconds as an integer).
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


_DURATION_RE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, *, allow_zero: bool = False) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration like '36h', '2d', '90m'")
    if isinstance(value, int):
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError("duration must be positive")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration like '36h', '2d', '90m'")
    text = value.strip().lower()
    pos = 0
    seconds = 0
    for m in _DURATION_RE.finditer(text):
        if text[pos : m.start()].strip():
            break
        seconds += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or text[pos:].strip() or (seconds <= 0 and not (allow_zero and pos)):
        raise ValueError(f"not a duration: {value!r} (use e.g. '36h', '1d12h', '90m', '3600s')")
    return timedelta(seconds=seconds)


#: a positive duration
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
#: a duration that may be zero
DurationOrZero = Annotated[timedelta, BeforeValidator(lambda v: parse_duration(v, allow_zero=True))]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Build a large acyclic tree (a registry, a book of statements) without the cyclic
    garbage collector: its full collections rescan every object built so far, which made a
    10,000-token registry's load grow twice as fast as its size (no cycles are made here)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
