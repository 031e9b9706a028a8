"""SWIFT MT535 (Statement of Holdings), ISO 15022.

A file holds one or more messages, each ``{1:...}{2:O535...}...{4:`` then its fields, one per
line (``:TAG:value``, continuation lines for descriptions and narratives), up to ``-}``.
Sequences are opened by ``:16R:NAME`` and closed by ``:16S:NAME``: GENL, then SUBSAFE
(sub-safekeeping account) holding FIN (financial instrument) sequences, or FIN directly.

What is read:

- GENL: ``:28E:`` page (``n/MORE``, ``n/LAST``, ``1/ONLY``); ``:23G:NEWM`` (a cancellation
  is refused); ``:98C::STAT//YYYYMMDDHHMMSS`` (in the custodian's `timezone`),
  ``:98E::STAT//YYYYMMDDHHMMSS[,d][/[N]HHMM]`` (with its offset), or ``:98A::STAT//YYYYMMDD``
  (the end of that day, 23:59:59, in the custodian's `timezone`); ``:22F::CODE//COMP``
  required (``DELT``, a delta statement, is refused); ``:97A::SAFE//`` the account.
- SUBSAFE: its own ``:97A::SAFE//`` (a consolidated statement) names the account of the
  positions it holds; without one they are the statement's account.
- FIN: ``:35B:ISIN XX...``; ``:93B::AGGR//UNIT/[N]1234,5`` the aggregate (decimal comma, ``N``
  negative: short); ``:93B::AVAI//`` and ``:93B::NAVL//`` the available and not-available
  parts; without them, the SUBBAL sub-balances marked ``NAVL`` (``:93C::PLED//UNIT/NAVL/20,``)
  are the not-available part. ``FAMT``/``AMOR`` quantities and digital-token balances
  (``:93E:``, ``:93F:``) are not a number of shares and are refused.

Inside FIN and SUBBAL every field is checked against the MT535 layout (SR 2020 and later):
a field or line that is not part of it is an error naming the line, never skipped. The
financial-instrument attributes (FIA), quantity breakdowns (BREAK), linkages (LINK) and
additional information (ADDINFO) hold no balance and are passed over.

Pages: every page of a statement must be in the same file, in order. The pages of one
statement (same account, statement date and ``:13A::STAT//`` number) run 1/MORE, 2/MORE, ...
n/LAST (or a single 1/ONLY); a missing, repeated or out-of-order page is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from ..errors import InputError
from . import balances, fields
from .interface import CustodyFormat, Holding, ParseOptions, Statement

_HEADER = re.compile(r"^\{1:[^{}]*\}\{2:([^{}]*)\}(?:\{3:(?:\{[^{}]*\})*\})?\{4:\s*$")
_TRAILER = re.compile(r"^-\}(?:\{5:(?:\{[^{}]*\})*\})?\s*$")
_FIELD = re.compile(r"^:(\d\d[A-Z]?):(.*)$")
_QTY = re.compile(r"^(N?)(\d{1,15},\d*)$")
#: fields that may run over several lines
_MULTILINE = {"35B", "70C", "70D", "70E", "70H"}
#: sequences that hold no balance: their fields are not read
_SKIPPED = {"LINK", "FIA", "BREAK", "ADDINFO"}
#: fields of GENL besides the ones read
_GENL_OTHER = {"13J", "20C", "95P", "95R", "95L", "17B"}
#: fields of FIN and SUBBAL besides the quantities (prices, places, dates, values, narratives)
_BALANCE_OTHER = {
    *("22F", "22H", "90A", "90B", "90E", "94B", "94C", "94F", "94L", "94S", "94T"),
    *("98A", "98C", "98E", "99A", "19A", "92B", "70C", "70D", "70E"),
}
_DIGITAL = {"93E", "93F"}


@dataclass
class _Field:
    tag: str
    value: str
    line: int


@dataclass
class _Page:
    """One message: a page of a statement."""

    line: int
    number: int = 0
    indicator: str = ""
    page_line: int = 0
    function: str = ""
    as_of: datetime | None = None
    code: str = ""
    code_line: int = 0
    statement_no: str = ""
    account: str | None = None
    #: account -> holdings
    holdings: dict[str, list[Holding]] = field(default_factory=dict)


def _quantity(text: str, display: str, line: int, what: str) -> Decimal:
    """``UNIT/[N]123,45`` -> Decimal; anything but units is refused."""
    kind, _, amount = text.partition("/")
    if kind in ("FAMT", "AMOR"):
        raise InputError(
            f"{what} is a {'face amount' if kind == 'FAMT' else 'amortised value'} ({kind}), "
            "not a number of shares; only UNIT quantities are read",
            file=display,
            line=line,
        )
    if kind != "UNIT":
        raise InputError(f"{what}: quantity type {kind!r} is not UNIT", file=display, line=line)
    m = _QTY.match(amount)
    if not m:
        raise InputError(
            f"{what}: {amount!r} is not a SWIFT quantity such as 1523, or N12,5",
            file=display,
            line=line,
        )
    value = fields.quantity(m.group(2).replace(",", ".").rstrip("."))
    return -value if m.group(1) else value


def _stat_date(f: _Field, options: ParseOptions, display: str) -> datetime:
    value = f.value[len(":STAT//") :]
    try:
        if f.tag == "98A":
            if len(value) != 8:
                raise ValueError
            day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
            return balances.end_of_day(day, options.timezone).astimezone(UTC)
        stamp, _, offset = value.partition("/")
        stamp = stamp.partition(",")[0]
        if len(stamp) != 14 or not stamp.isdigit():
            raise ValueError
        dt = datetime.strptime(stamp, "%Y%m%d%H%M%S")
        if f.tag == "98C":
            return dt.replace(tzinfo=options.timezone).astimezone(UTC)
        if not re.fullmatch(r"N?\d{4}", offset):
            raise ValueError
        minutes = int(offset[-4:-2]) * 60 + int(offset[-2:])
        zone = timezone(timedelta(minutes=-minutes if offset.startswith("N") else minutes))
        return dt.replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        raise InputError(
            f":{f.tag}::STAT// {value!r} is not a valid statement date"
            + (" (YYYYMMDD)" if f.tag == "98A" else " (YYYYMMDDHHMMSS)"),
            file=display,
            line=f.line,
        ) from None


class _Reader:
    """The fields of one message's block 4, sequence by sequence."""

    def __init__(self, fields_: list[_Field], display: str, options: ParseOptions) -> None:
        self.fields = fields_
        self.display = display
        self.options = options

    def err(self, f: _Field, message: str) -> InputError:
        return InputError(message, file=self.display, line=f.line)

    def read(self, page: _Page) -> None:
        stack: list[str] = []
        fin: dict[str, list[_Field]] | None = None
        fin_start: _Field | None = None
        sub_account: str | None = None
        subbal: list[_Field] | None = None
        subbals: list[list[_Field]] = []
        seen_genl = False
        for f in self.fields:
            if f.tag in ("16R", "16S"):
                name = f.value.strip()
                if f.tag == "16R":
                    parent = stack[-1] if stack else ""
                    allowed = {
                        "": {"GENL", "SUBSAFE", "FIN", "ADDINFO"},
                        "GENL": {"LINK"},
                        "SUBSAFE": {"FIN"},
                        "FIN": {"FIA", "SUBBAL", "BREAK"},
                        "SUBBAL": {"BREAK"},
                    }.get(parent, set())
                    if any(s in _SKIPPED for s in stack):
                        allowed = set(allowed) | {name}
                    if name not in allowed:
                        raise self.err(
                            f,
                            f"sequence {name} cannot start here (inside {parent or 'the message'})",
                        )
                    if name == "GENL":
                        seen_genl = True
                    elif not seen_genl and not stack:
                        raise self.err(f, f"sequence {name} before GENL")
                    stack.append(name)
                    if name == "FIN":
                        fin, fin_start, subbals = {}, f, []
                    elif name == "SUBBAL":
                        subbal = []
                    elif name == "SUBSAFE":
                        sub_account = None
                    continue
                if not stack or stack[-1] != name:
                    raise self.err(
                        f,
                        f":16S:{name} does not close the open sequence "
                        f"{stack[-1] if stack else '(none)'}",
                    )
                stack.pop()
                if name == "GENL":
                    self.check_genl(page, f)
                elif name == "SUBBAL" and subbal is not None:
                    subbals.append(subbal)
                    subbal = None
                elif name == "FIN" and fin is not None and fin_start is not None:
                    account = sub_account or page.account
                    assert account is not None
                    page.holdings.setdefault(account, []).append(
                        self.holding(fin, subbals, fin_start)
                    )
                    fin = None
                continue
            where = stack[-1] if stack else ""
            if any(s in _SKIPPED for s in stack):
                continue
            if where == "GENL":
                self.genl_field(page, f)
            elif where == "SUBSAFE":
                if f.tag == "97A":
                    sub_account = self.account(f)
                elif f.tag not in {"95P", "95R", "95L", "94B", "94C", "94F", "94L", "94T", "17B"}:
                    raise self.err(f, f"field :{f.tag}: is not understood in SUBSAFE")
            elif where == "FIN" and fin is not None:
                if f.tag in _DIGITAL:
                    raise self.err(f, f":{f.tag}: is a balance of digital tokens, not shares")
                if f.tag not in {"35B", "93B", *_BALANCE_OTHER}:
                    raise self.err(f, f"field :{f.tag}: is not understood inside a balance (FIN)")
                fin.setdefault(f.tag, []).append(f)
            elif where == "SUBBAL" and subbal is not None:
                if f.tag in _DIGITAL:
                    raise self.err(f, f":{f.tag}: is a balance of digital tokens, not shares")
                if f.tag not in {"93B", "93C", *_BALANCE_OTHER}:
                    raise self.err(
                        f, f"field :{f.tag}: is not understood inside a sub-balance (SUBBAL)"
                    )
                subbal.append(f)
            else:
                raise self.err(f, f"field :{f.tag}: outside any sequence")
        if stack:
            last = self.fields[-1] if self.fields else None
            raise InputError(
                f"sequence {stack[-1]} is not closed (no :16S:{stack[-1]})",
                file=self.display,
                line=last.line if last else page.line,
            )
        if not seen_genl:
            raise InputError("no GENL sequence", file=self.display, line=page.line)

    def account(self, f: _Field) -> str:
        if not f.value.startswith(":SAFE//"):
            raise self.err(f, f"expected :97A::SAFE//ACCOUNT, found :97A:{f.value}")
        try:
            return fields.account(f.value[len(":SAFE//") :])
        except ValueError as exc:
            raise self.err(f, str(exc)) from None

    def genl_field(self, page: _Page, f: _Field) -> None:
        v = f.value
        if f.tag == "28E":
            m = re.fullmatch(r"(\d{1,5})/(MORE|LAST|ONLY)", v.strip())
            if not m:
                raise self.err(f, f":28E:{v} is not a page such as 1/ONLY, 2/MORE or 3/LAST")
            page.number, page.indicator, page.page_line = int(m.group(1)), m.group(2), f.line
        elif f.tag == "23G":
            page.function = v.strip()
        elif f.tag in ("98A", "98C", "98E"):
            if v.startswith(":STAT//"):
                page.as_of = _stat_date(f, self.options, self.display)
        elif f.tag == "22F":
            if v.startswith(":CODE/"):
                page.code, page.code_line = v.rpartition("/")[2].strip(), f.line
        elif f.tag == "13A":
            if v.startswith(":STAT//"):
                page.statement_no = v[len(":STAT//") :].strip()
        elif f.tag == "97A":
            page.account = self.account(f)
        elif f.tag in ("97B", "97D"):
            raise self.err(f, f":{f.tag}: account: only :97A::SAFE// is read")
        elif f.tag not in _GENL_OTHER:
            raise self.err(f, f"field :{f.tag}: is not understood in GENL")

    def check_genl(self, page: _Page, end: _Field) -> None:
        def missing(what: str) -> InputError:
            return InputError(f"GENL has no {what}", file=self.display, line=end.line, field="GENL")

        if not page.number:
            raise missing(":28E: page number")
        if not page.function.startswith("NEWM"):
            raise (
                missing(":23G:NEWM")
                if not page.function
                else InputError(
                    f"function {page.function}: only new statements (NEWM) are read, not "
                    "cancellations or copies",
                    file=self.display,
                    line=end.line,
                )
            )
        if page.as_of is None:
            raise missing("statement date (:98A::STAT//, :98C::STAT// or :98E::STAT//)")
        if not page.code:
            raise missing(":22F::CODE//COMP (a complete statement)")
        if page.code != "COMP":
            raise InputError(
                f"statement code {page.code}: only complete statements (COMP) are read; a "
                "delta statement (DELT) lists changes, not holdings",
                file=self.display,
                line=page.code_line,
            )
        if page.account is None:
            raise missing("account (:97A::SAFE//)")

    def holding(
        self, fin: dict[str, list[_Field]], subbals: list[list[_Field]], start: _Field
    ) -> Holding:
        ids = fin.get("35B")
        if not ids:
            raise self.err(start, "FIN has no :35B: security")
        first = ids[0].value.split("\n", 1)[0]
        if not first.startswith("ISIN "):
            raise self.err(ids[0], f":35B:{first} has no ISIN")
        try:
            isin = fields.isin(first[5:].strip())
        except ValueError as exc:
            raise self.err(ids[0], str(exc)) from None
        qty: dict[str, tuple[Decimal, _Field]] = {}
        for f in fin.get("93B", []):
            qual, sep, rest = f.value[1:].partition("//")
            if not f.value.startswith(":") or not sep or qual not in ("AGGR", "AVAI", "NAVL"):
                raise self.err(f, f":93B:{f.value} is not an AGGR, AVAI or NAVL balance")
            if qual in qty:
                raise self.err(f, f":93B::{qual}// appears twice in this FIN")
            qty[qual] = (_quantity(rest, self.display, f.line, f":93B::{qual}//"), f)
        if "AGGR" not in qty:
            raise self.err(start, "FIN has no aggregate balance :93B::AGGR//")
        broken_down = Decimal(0)
        for sub in subbals:
            for f in sub:
                if f.tag != "93C":
                    continue
                m = re.fullmatch(r":(\w{4})//(\w{4})/(AVAI|NAVL)/(.*)", f.value.strip())
                if not m:
                    raise self.err(
                        f, f":93C:{f.value} is not a sub-balance such as :93C::PLED//UNIT/NAVL/20,"
                    )
                amount = _quantity(
                    f"{m.group(2)}/{m.group(4)}", self.display, f.line, f":93C::{m.group(1)}//"
                )
                if m.group(3) == "NAVL":
                    broken_down += amount
        aggregate = qty["AGGR"][0]
        try:
            quantity, unavailable = balances.split(
                aggregate,
                qty["AVAI"][0] if "AVAI" in qty else None,
                qty["NAVL"][0] if "NAVL" in qty else None,
                broken_down,
            )
        except ValueError as exc:
            raise self.err(qty["AGGR"][1], str(exc)) from None
        return Holding(isin, quantity, ids[0].line, self.display, unavailable)


def _messages(text: str, display: str) -> list[tuple[int, list[_Field]]]:
    """Each message's first line and block-4 fields."""
    out: list[tuple[int, list[_Field]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i].strip().lstrip("\ufeff")
        n = i + 1
        i += 1
        if not raw:
            continue
        m = _HEADER.match(raw)
        if not m:
            raise InputError(
                "expected a message header {1:...}{2:...}{4: on a line of its own",
                file=display,
                line=n,
            )
        mt = m.group(1)
        if not re.match(r"^(I|O)535", mt):
            raise InputError(f"block 2 {{2:{mt}}} is not an MT535 message", file=display, line=n)
        body: list[_Field] = []
        while True:
            if i >= len(lines):
                raise InputError(
                    "message has no end (-}): the file is truncated", file=display, line=n
                )
            line = lines[i].rstrip()
            ln = i + 1
            i += 1
            if _TRAILER.match(line.strip()):
                break
            fm = _FIELD.match(line)
            if fm:
                body.append(_Field(fm.group(1), fm.group(2), ln))
            elif body and body[-1].tag in _MULTILINE:
                body[-1].value += "\n" + line
            else:
                raise InputError(
                    f"line not understood: {line.strip()[:60]!r}", file=display, line=ln
                )
        out.append((n, body))
    if not out:
        raise InputError("no MT535 message in file", file=display, line=1)
    return out


class Mt535Format(CustodyFormat):
    name = "mt535"
    suffixes = (".mt535", ".fin")

    def detect(self, text: str) -> bool:
        head = text[:512].lstrip("\ufeff \t\r\n")
        return head.startswith("{1:") and re.search(r"\{2:(I|O)535", head) is not None

    def parse(self, text: str, display: str) -> list[Statement]:
        return self.parse_with(text, display, ParseOptions())

    def parse_with(self, text: str, display: str, options: ParseOptions) -> list[Statement]:
        open_: dict[tuple[str, datetime, str], list[_Page]] = {}
        done: dict[tuple[str, datetime, str], list[_Page]] = {}
        for line, body in _messages(text, display):
            page = _Page(line)
            _Reader(body, display, options).read(page)
            assert page.account is not None and page.as_of is not None
            key = (page.account, page.as_of, page.statement_no)
            pages = open_.get(key, [])
            where = f"page {page.number}/{page.indicator}"
            if key in done:
                raise InputError(
                    f"{where} comes after the last page of the same statement (line "
                    f"{done[key][-1].page_line})",
                    file=display,
                    line=page.page_line,
                    field=":28E:",
                )
            expected = len(pages) + 1
            if page.number != expected or (page.indicator == "ONLY" and pages):
                raise InputError(
                    f"{where}: expected page {expected} of this statement (pages must be in "
                    "order, all in one file)",
                    file=display,
                    line=page.page_line,
                    field=":28E:",
                )
            pages.append(page)
            if page.indicator == "MORE":
                open_[key] = pages
            else:
                open_.pop(key, None)
                done[key] = pages
        for pages in open_.values():
            last = pages[-1]
            raise InputError(
                f"statement incomplete: page {last.number} says MORE, and page "
                f"{last.number + 1} is not in this file (all pages of a statement must be in "
                "one file)",
                file=display,
                line=last.page_line,
                field=":28E:",
            )
        statements: list[Statement] = []
        for (_account, as_of, _no), pages in done.items():
            merged: dict[str, list[Holding]] = {pages[0].account or "": []}
            for page in pages:
                for account, hs in page.holdings.items():
                    merged.setdefault(account, []).extend(hs)
            statements.extend(
                Statement(account, as_of, tuple(hs), display, pages[0].line)
                for account, hs in merged.items()
                if hs or account == pages[0].account
            )
        return statements


FORMAT = Mt535Format()
