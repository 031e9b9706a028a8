"""Plug-ins: chain families, custody formats and report formats, found through entry points.

Each kind is an entry-point group (the packaging convention; see `pyproject.toml`):

- `xstock_audit.chains`: a `chains.interface.ChainFamily`, named by the registry's `type`;
- `xstock_audit.custody_formats`: a `custody.interface.CustodyFormat`;
- `xstock_audit.report_formats`: a `report.interface.ReportFormat`, named by `--format`.

This package registers its own the same way, so a plug-in from another distribution is a peer
of the built-in ones. Names are read from the installed metadata on first use, and an
entry point is imported only when that plug-in is used: `--help` loads none of them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

CHAINS = "xstock_audit.chains"
CUSTODY_FORMATS = "xstock_audit.custody_formats"
REPORT_FORMATS = "xstock_audit.report_formats"

T = TypeVar("T")


class UnknownPlugin(LookupError):
    def __init__(self, group: str, name: str, known: list[str]) -> None:
        self.group, self.name, self.known = group, name, known
        super().__init__(f"unknown {group} plug-in {name!r}; installed: {', '.join(known)}")


@functools.cache
def _entry_points(group: str) -> Mapping[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)  # the first distribution to claim a name keeps it
    return found


def names(group: str) -> list[str]:
    """The installed plug-ins of a group, sorted (nothing is imported)."""
    return sorted(_entry_points(group))


@functools.cache
def load(group: str, name: str) -> object:
    """The plug-in object registered as `name` in `group` (imported on first use)."""
    ep = _entry_points(group).get(name)
    if ep is None:
        raise UnknownPlugin(group, name, names(group))
    return ep.load()


def load_as(group: str, name: str, kind: type[T]) -> T:
    """`load`, checked to be an instance of `kind` (a plug-in of the wrong kind is a bug)."""
    obj = load(group, name)
    if not isinstance(obj, kind):
        raise TypeError(f"entry point {name!r} of {group} is {obj!r}, not a {kind.__name__}")
    return obj


def load_all(group: str, kind: type[T]) -> dict[str, T]:
    return {name: load_as(group, name, kind) for name in names(group)}
