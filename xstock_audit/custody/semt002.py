"""ISO 20022 semt.002 (SecuritiesBalanceCustodyReport), versions 001.05 to 001.12.

What is read, per `Document` (namespace ``urn:iso:std:iso:20022:tech:xsd:semt.002.001.NN``)
and its `SctiesBalCtdyRpt`:

- `StmtGnlDtls/UpdTp/Cd`: only `COMP` (a complete statement); a `DELT` (delta) statement
  lists changes, not holdings, and is refused.
- `StmtGnlDtls/StmtDtTm`: the as-of. `DtTm` with a zone is that instant; without one it is in
  the custodian's `timezone`; `Dt` alone is the end of that day (23:59:59) there.
- `SfkpgAcct/Id` the account (from 001.11 a `BlckChainAdrOrWllt/Id` may stand in for it);
  each `SubAcctDtls` is an account of its own (its `SfkpgAcct/Id`, `BalForSubAcct`). A
  report with both account-level balances and sub-account details is refused: nothing says
  whether they overlap.
- per `BalForAcct`: `FinInstrmId/ISIN`, and the aggregate balance `AggtBal` with
  `ShrtLngInd` (`SHOR`: negative) and the quantity at `AggtBal/Qty/Qty/Qty/Unit` (all
  versions). A face amount, amortised value, digital-token units or a proprietary quantity is
  not a number of shares and is refused. The not-available part is `NotAvlblBal/Qty/Unit`,
  or the aggregate minus `AvlblBal` (`AvlblBal/Qty/Unit` up to 001.08, `AvlblBal/Qty/Qty/Unit`
  from 001.09), or else the `BalBrkdwn` sub-balances that are not available (`QtyAndAvlbty/
  AvlbtyInd` false, or without it a type such as `PEND`, `PLED`, `TRAN`: see `balances`);
  their quantity is at `BalBrkdwn/Qty/Qty/Unit` up to 001.08 and `BalBrkdwn/Qty/Qty/Qty/Unit`
  from 001.09.

Pages: a semt.002 message is one page (`Pgntn/PgNb`, `Pgntn/LastPgInd`), and every page of a
statement must be in the same file: a file is one `Document`, or any wrapper element holding
several (a custodian's batch file, or the pages saved under one root). The pages of one
statement (same account, statement id and date-time) must run 1, 2, ... up to the one marked
last, each once; a statement whose last page is not in the file is refused. Pages are not
joined across files (two files with half a statement each are two errors, never half a
position).

The XML is parsed by the standard library's expat through `defusedxml`: a DOCTYPE (hence
any entity, external or not, and entity expansion bombs) is refused, and nothing is fetched.
Every element's line is kept for the errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..errors import InputError
from . import balances, fields
from .interface import CustodyFormat, Holding, ParseOptions, Statement

NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:semt.002.001."
#: the versions whose layout this reader knows (checked against the published schemas)
VERSIONS = range(5, 13)
#: the choices under a quantity that are not a number of units
NOT_UNITS = {
    "FaceAmt": "a face amount",
    "AmtsdVal": "an amortised value",
    "DgtlTknUnit": "a number of digital-token units",
    "OrgnlAndCurFace": "an original and current face amount",
    "Prtry": "a proprietary quantity",
}
_DETECT = re.compile(r"semt\.002\.001\.\d\d")


@dataclass
class _Node:
    """An element: its namespace, local name, first line, text and children."""

    ns: str
    tag: str
    line: int
    text: str = ""
    children: list[_Node] = field(default_factory=list)

    def first(self, tag: str) -> _Node | None:
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def every(self, tag: str) -> list[_Node]:
        return [c for c in self.children if c.tag == tag]


class _Builder:
    """An ElementTree parser target that keeps each element's line (expat's position when
    the start tag is reported)."""

    def __init__(self) -> None:
        self.expat: Any = None
        self.stack: list[_Node] = []
        self.root: _Node | None = None
        self.text: list[str] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        node = _Node(ns, local, int(self.expat.CurrentLineNumber))
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)
        self.text = []

    def data(self, text: str) -> None:
        self.text.append(text)

    def end(self, tag: str) -> None:
        node = self.stack.pop()
        if not node.children:
            node.text = "".join(self.text).strip()
        self.text = []

    def close(self) -> _Node | None:
        return self.root


def parse_xml(text: str, display: str) -> _Node:
    """The element tree of `text`, with lines; InputError on anything unsafe or broken."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import DefusedXMLParser, ParseError

    builder = _Builder()
    parser = DefusedXMLParser(
        target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    builder.expat = parser.parser
    try:
        parser.feed(text)
        root = parser.close()
    except DefusedXmlException as exc:
        raise InputError(
            f"refused: {type(exc).__name__} ({exc}); a statement may not carry a DOCTYPE, "
            "entities or external references",
            file=display,
            line=int(parser.parser.CurrentLineNumber),
        ) from None
    except ParseError as exc:
        line, _col = exc.position
        raise InputError(f"not well-formed XML: {exc}", file=display, line=line) from None
    if not isinstance(root, _Node):
        raise InputError("no XML element in file", file=display, line=1)
    return root


def _err(display: str, node: _Node, message: str, path: str) -> InputError:
    return InputError(message, file=display, line=node.line, field=path)


def _need(node: _Node, tag: str, display: str, path: str) -> _Node:
    found = node.first(tag)
    if found is None:
        raise _err(display, node, f"required element {tag} is missing", path)
    return found


def _documents(root: _Node) -> Iterator[_Node]:
    """The semt.002 `Document`s: the root, or those anywhere under a wrapper."""
    if root.tag == "Document" and root.ns.startswith(NS_PREFIX):
        yield root
        return
    for child in root.children:
        yield from _documents(child)


def _units(node: _Node, steps: tuple[str, ...], display: str, path: str) -> Decimal:
    """The number of units at `node/steps.../Unit`; InputError for any other quantity."""
    here = node
    for step in (*steps, "Unit"):
        nxt = here.first(step)
        if nxt is None:
            other = next((c for c in here.children if c.tag in NOT_UNITS), None)
            if other is not None:
                raise _err(
                    display,
                    other,
                    f"{other.tag} is {NOT_UNITS[other.tag]}, not a number of shares; only "
                    "unit quantities are read",
                    f"{path}/{other.tag}",
                )
            found = ", ".join(c.tag for c in here.children) or "nothing"
            raise _err(display, here, f"expected {step} here, found {found}", path)
        here = nxt
        path = f"{path}/{step}"
    try:
        return fields.quantity(here.text)
    except ValueError as exc:
        raise _err(display, here, str(exc), path) from None


def _sign(node: _Node, display: str, path: str, required: bool) -> int:
    ind = node.first("ShrtLngInd")
    if ind is None:
        if required:
            raise _err(display, node, "required element ShrtLngInd is missing", path)
        return 1
    if ind.text not in ("SHOR", "LONG"):
        raise _err(display, ind, f"ShrtLngInd {ind.text!r} is neither SHOR nor LONG", path)
    return -1 if ind.text == "SHOR" else 1


def _holding(bal: _Node, version: int, display: str, path: str) -> Holding:
    fin = _need(bal, "FinInstrmId", display, path)
    isin_node = fin.first("ISIN")
    if isin_node is None:
        raise _err(display, fin, "no ISIN for this security", f"{path}/FinInstrmId")
    try:
        isin = fields.isin(isin_node.text)
    except ValueError as exc:
        raise _err(display, isin_node, str(exc), f"{path}/FinInstrmId/ISIN") from None
    aggt = _need(bal, "AggtBal", display, path)
    aggregate = _sign(aggt, display, f"{path}/AggtBal", True) * _units(
        aggt, ("Qty", "Qty", "Qty"), display, f"{path}/AggtBal"
    )
    available = not_available = None
    avl = bal.first("AvlblBal")
    if avl is not None:
        steps = ("Qty",) if version <= 8 else ("Qty", "Qty")
        sign = 1 if version <= 8 else _sign(avl, display, f"{path}/AvlblBal", False)
        available = sign * _units(avl, steps, display, f"{path}/AvlblBal")
    navl = bal.first("NotAvlblBal")
    if navl is not None:
        not_available = _units(navl, ("Qty",), display, f"{path}/NotAvlblBal")
    broken_down = Decimal(0)
    for brk in bal.every("BalBrkdwn"):
        p = f"{path}/BalBrkdwn"
        code_node = _need(brk, "SubBalTp", display, p).first("Cd")
        qty = _need(brk, "Qty", display, p)
        if version >= 9:
            qty = _need(qty, "Qty", display, f"{p}/Qty")
        with_ind = qty.first("QtyAndAvlbty")
        if with_ind is not None:
            amount = _units(with_ind, ("Qty",), display, f"{p}/Qty/QtyAndAvlbty")
            ind = with_ind.first("AvlbtyInd")
            if ind is not None:
                if ind.text.lower() in ("false", "0"):
                    broken_down += amount
                continue
        else:
            amount = _units(qty, ("Qty",), display, f"{p}/Qty")
        if code_node is not None and code_node.text in balances.NOT_AVAILABLE_TYPES:
            broken_down += amount
    try:
        quantity, unavailable = balances.split(aggregate, available, not_available, broken_down)
    except ValueError as exc:
        raise _err(display, bal, str(exc), path) from None
    return Holding(isin, quantity, bal.line, display, unavailable)


def _as_of(general: _Node, options: ParseOptions, display: str) -> datetime:
    node = _need(general, "StmtDtTm", display, "StmtGnlDtls")
    path = "StmtGnlDtls/StmtDtTm"
    dt_node, d_node = node.first("DtTm"), node.first("Dt")
    try:
        if dt_node is not None:
            text = dt_node.text
            dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=options.timezone)
            return dt.astimezone(UTC)
        if d_node is not None:
            day = date.fromisoformat(d_node.text)
            return balances.end_of_day(day, options.timezone).astimezone(UTC)
    except ValueError:
        bad = dt_node or d_node
        assert bad is not None
        raise _err(
            display, bad, f"{bad.text!r} is not an ISO 8601 date or date-time", path
        ) from None
    raise _err(display, node, "expected Dt or DtTm", path)


@dataclass
class _Page:
    number: int
    last: bool
    line: int
    holdings: dict[str, list[Holding]]  # account -> holdings


def _page(doc: _Node, options: ParseOptions, display: str) -> tuple[tuple[str, datetime], _Page]:
    tail = doc.ns[len(NS_PREFIX) :]
    version = int(tail) if re.fullmatch(r"\d\d", tail) else 0
    if version not in VERSIONS:
        raise _err(
            display,
            doc,
            f"semt.002 version 001.{tail} is not supported (001.05 to 001.12)",
            "Document",
        )
    rpt = _need(doc, "SctiesBalCtdyRpt", display, "Document")
    general = _need(rpt, "StmtGnlDtls", display, "SctiesBalCtdyRpt")
    upd = _need(general, "UpdTp", display, "StmtGnlDtls")
    code = upd.first("Cd")
    if code is None or code.text != "COMP":
        what = code.text if code is not None else "proprietary"
        raise _err(
            display,
            code or upd,
            f"update type {what}: only complete statements (COMP) are read; a delta "
            "statement (DELT) lists changes, not holdings",
            "StmtGnlDtls/UpdTp",
        )
    as_of = _as_of(general, options, display)
    stmt_id = general.first("StmtId")
    pgntn = _need(rpt, "Pgntn", display, "SctiesBalCtdyRpt")
    nb = _need(pgntn, "PgNb", display, "Pgntn")
    last = _need(pgntn, "LastPgInd", display, "Pgntn")
    if not nb.text.isdigit() or int(nb.text) < 1:
        raise _err(display, nb, f"page number {nb.text!r} is not a positive number", "Pgntn")
    if last.text.lower() not in ("true", "false", "1", "0"):
        raise _err(display, last, f"LastPgInd {last.text!r} is not true or false", "Pgntn")
    acct = rpt.first("SfkpgAcct") or rpt.first("BlckChainAdrOrWllt")
    if acct is None:
        raise _err(display, rpt, "required element SfkpgAcct is missing", "SctiesBalCtdyRpt")
    account = _account(acct, display)
    own = rpt.every("BalForAcct")
    subs = rpt.every("SubAcctDtls")
    if own and subs:
        raise _err(
            display,
            subs[0],
            "the report has both account balances (BalForAcct) and sub-account details "
            "(SubAcctDtls); ask for one statement per safekeeping account",
            "SctiesBalCtdyRpt/SubAcctDtls",
        )
    holdings: dict[str, list[Holding]] = {}
    if not subs:
        holdings[account] = [_holding(b, version, display, "BalForAcct") for b in own]
    for sub in subs:
        sub_account = _account(_need(sub, "SfkpgAcct", display, "SubAcctDtls"), display)
        holdings.setdefault(sub_account, []).extend(
            _holding(b, version, display, "SubAcctDtls/BalForSubAcct")
            for b in sub.every("BalForSubAcct")
        )
    key = (f"{account}\0{stmt_id.text if stmt_id is not None else ''}", as_of)
    page = _Page(int(nb.text), last.text.lower() in ("true", "1"), doc.line, holdings)
    return key, page


def _account(node: _Node, display: str) -> str:
    ident = _need(node, "Id", display, node.tag)
    try:
        return fields.account(ident.text)
    except ValueError as exc:
        raise _err(display, ident, str(exc), f"{node.tag}/Id") from None


class Semt002Format(CustodyFormat):
    name = "semt002"
    suffixes = (".xml",)

    def detect(self, text: str) -> bool:
        head = text[:4096].lstrip("\ufeff \t\r\n")
        return head.startswith("<") and _DETECT.search(head) is not None

    def parse(self, text: str, display: str) -> list[Statement]:
        return self.parse_with(text, display, ParseOptions())

    def parse_with(self, text: str, display: str, options: ParseOptions) -> list[Statement]:
        root = parse_xml(text, display)
        docs = list(_documents(root))
        if not docs:
            raise InputError(
                f"no semt.002 Document here (the root element is {root.tag}"
                f"{' in ' + root.ns if root.ns else ''})",
                file=display,
                line=root.line,
            )
        groups: dict[tuple[str, datetime], list[_Page]] = {}
        for doc in docs:
            key, page = _page(doc, options, display)
            groups.setdefault(key, []).append(page)
        statements: list[Statement] = []
        for (_key, as_of), pages in groups.items():
            _check_pages(pages, display)
            merged: dict[str, list[Holding]] = {}
            for page in sorted(pages, key=lambda p: p.number):
                for account, hs in page.holdings.items():
                    merged.setdefault(account, []).extend(hs)
            line = min(p.line for p in pages)
            statements.extend(
                Statement(account, as_of, tuple(hs), display, line)
                for account, hs in merged.items()
            )
        return statements


def _check_pages(pages: list[_Page], display: str) -> None:
    """Pages 1..n, each once, n marked last and no other."""
    seen: dict[int, _Page] = {}
    for p in pages:
        if p.number in seen:
            raise InputError(
                f"page {p.number} of this statement appears twice (also line "
                f"{seen[p.number].line})",
                file=display,
                line=p.line,
                field="Pgntn/PgNb",
            )
        seen[p.number] = p
    lasts = [p for p in pages if p.last]
    if not lasts:
        top = max(pages, key=lambda p: p.number)
        raise InputError(
            f"statement incomplete: page {top.number} is not the last page and no later page "
            "is in this file (all pages of a statement must be in one file)",
            file=display,
            line=top.line,
            field="Pgntn/LastPgInd",
        )
    if len(lasts) > 1:
        raise InputError(
            f"pages {', '.join(str(p.number) for p in lasts)} are each marked as the last page",
            file=display,
            line=lasts[1].line,
            field="Pgntn/LastPgInd",
        )
    last = lasts[0]
    missing = [n for n in range(1, last.number) if n not in seen]
    if missing:
        raise InputError(
            f"statement incomplete: page(s) {', '.join(map(str, missing))} of {last.number} "
            "are missing from this file (all pages of a statement must be in one file)",
            file=display,
            line=last.line,
            field="Pgntn/PgNb",
        )
    beyond = [p for p in pages if p.number > last.number]
    if beyond:
        raise InputError(
            f"page {beyond[0].number} comes after page {last.number}, which is marked last",
            file=display,
            line=beyond[0].line,
            field="Pgntn/PgNb",
        )


FORMAT = Semt002Format()
