"""The custody-format interface, and the data custody readers hand to reconcile.

A custody format is one `CustodyFormat` registered in the `xstock_audit.custody_formats`
entry-point group: a name, the file suffixes it claims, and `parse(text, display)`, which
returns `Statement`s or raises `InputError` naming the file, line and field. A format that
needs the custodian's settings (its `timezone`) overrides `parse_with`; one that can tell
its files by their content overrides `detect` (the custodian's `format: auto`). Quantities are
converted to `Decimal` once, at this edge. A `CustodyBook` is what one custodian's files
say: the newest statement per account (and the future-dated ones set aside).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import ClassVar


@dataclass(frozen=True)
class Holding:
    isin: str
    #: the available part of the position: always counted (negative: a short position)
    quantity: Decimal
    line: int | None = None
    file: str = ""
    #: the part that is held but not available (pending delivery, in transit, pledged,
    #: blocked...): counted only for a custodian with `count_unavailable: true`
    unavailable: Decimal = Decimal(0)
    #: finds `line` when it was not recorded (a format that computes lines only for errors)
    locate: Callable[[], int | None] | None = field(default=None, compare=False, repr=False)

    def where(self) -> int | None:
        """The holding's line in its file, computed now if it was left for later."""
        if self.line is None and self.locate is not None:
            return self.locate()
        return self.line


@dataclass(frozen=True)
class Statement:
    """One account's holdings as of one moment, from one file."""

    account: str
    as_of: datetime
    holdings: tuple[Holding, ...]
    file: str
    line: int | None = None
    custodian: str | None = None
    custodian_line: int | None = None
    custodian_field: str = "custodian"


@dataclass(frozen=True)
class ParseOptions:
    """What a format may need to know about the custodian whose file it reads."""

    #: the zone of statement dates and date-times written without one
    timezone: tzinfo = UTC


class CustodyFormat(ABC):
    """One kind of attestation file, registered in `xstock_audit.custody_formats`."""

    #: the format's name
    name: ClassVar[str]
    #: the file suffixes it claims (lower case, with the dot)
    suffixes: ClassVar[tuple[str, ...]]

    @abstractmethod
    def parse(self, text: str, display: str) -> list[Statement]:
        """The statements in a file's text; `display` names the file in errors."""

    def parse_with(self, text: str, display: str, options: ParseOptions) -> list[Statement]:
        """`parse`, knowing the custodian's settings; the default ignores them."""
        return self.parse(text, display)

    def detect(self, text: str) -> bool:
        """Whether the text looks like this format (a cheap look at its start); the default
        claims nothing, leaving the file to the suffix rule."""
        return False


@dataclass(frozen=True)
class CustodyBook:
    """What one custodian's files say: the newest statement per account."""

    custodian: str
    files: tuple[str, ...]
    latest: Mapping[str, Statement]
    #: per account, statements dated after the run's start plus clock_skew: not used, and
    #: they make every token of this custodian ERROR (see reconcile)
    future: Mapping[str, tuple[Statement, ...]] = field(default_factory=dict)

    def positions(self, isin: str) -> list[tuple[Statement, Holding | None]]:
        """Each account's newest statement and its holding of `isin` (None: holds none).

        Linear in accounts: holdings are looked up in an index built once per book, not
        scanned per token (10,000 tokens x 10,000 holdings would be 10^8 comparisons)."""
        index = self._index
        return [(st, index[account].get(isin)) for account, st in self._accounts]

    @functools.cached_property
    def _accounts(self) -> list[tuple[str, Statement]]:
        return sorted(self.latest.items())

    @functools.cached_property
    def _index(self) -> dict[str, dict[str, Holding]]:
        """account -> ISIN -> its first holding (`build_book` refuses an ISIN listed twice)."""
        index: dict[str, dict[str, Holding]] = {}
        for account, st in self.latest.items():
            by_isin = index[account] = {}
            for h in st.holdings:
                by_isin.setdefault(h.isin, h)
        return index
