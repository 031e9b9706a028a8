"""The custody-format interface, and the data custody readers hand to reconcile.

A custody format is one `CustodyFormat` registered in the `xstock_audit.custody_formats`
entry-point group: a name, the file suffixes it claims, and `parse(text, display)`, which
returns `Statement`s or raises `InputError` naming the file, line and field. A format that
needs the custodian's settings (its `timezone`) overrides `parse_with`; one that can tell
its files by their content overrides `detect` (the custodian's `format: auto`). Quantities are
converted to `Decimal` once, at this edge. A `CustodyBook` is what one custodian's files
say: the newest statement per account (and the future-dated ones set aside).

A custody *source* that is not a file (the http-json reserve API) raises `SourceError` when
the remote side fails or answers something unusable: that is not the user's input (no exit
code 2), it makes every token drawing on that custodian ERROR.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import ClassVar

from ..errors import XstockAuditError


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
    #: the file's verified signature(s), as the report shows them (None: not signed)
    signature: str | None = None


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
    #: files not read because their signature is missing or does not verify, one message
    #: each: every token of this custodian is UNVERIFIED
    unverified: tuple[str, ...] = ()
    #: why the source could not be read at all (an API's answer): every token is ERROR
    errors: tuple[str, ...] = ()
    #: per ISIN, why that ISIN's custody is unknown (a Proof of Reserve round that can't be
    #: trusted): the tokens of that ISIN are ERROR
    isin_errors: Mapping[str, str] = field(default_factory=dict)

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


class SourceError(XstockAuditError):
    """A custody source (not a file) could not be read, or answered something that does not
    match its settings: the remote side's fault, not the user's input.

    The audit turns it into ERROR for every token drawing on `custodian` (never exit code 2);
    `str(err)` is the message for those tokens. `source` names the source with its secrets
    redacted (``https://host/…``); `page` (from 1), `record` (index in the page's `items`,
    from 0) and `field` say where, when known. `transient`: a network failure or an HTTP
    429/5xx that outlasted the retries (another run may succeed), rather than a bad answer.
    The text never holds a raw URL or a header value: it is scrubbed by `redact.scrub`.
    """

    def __init__(
        self,
        message: str,
        *,
        custodian: str,
        source: str,
        page: int | None = None,
        record: int | None = None,
        field: str | None = None,
        transient: bool = False,
    ) -> None:
        from .. import redact

        self.message = redact.scrub(message)
        self.custodian = custodian
        self.source = source
        self.page = page
        self.record = record
        self.field = field
        self.transient = transient
        super().__init__(self.render())

    def render(self) -> str:
        where = [f"custodian {self.custodian!r}", self.source]
        if self.page is not None:
            where[-1] += f" page {self.page}"
        if self.record is not None:
            where.append(f"record [{self.record}]")
        if self.field is not None:
            where.append(self.field)
        return ": ".join([*where, self.message])
