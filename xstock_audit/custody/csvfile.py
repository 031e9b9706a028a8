"""CSV attestations with a header: ``isin,quantity,as_of,account`` (extra columns ignored,
except an optional ``custodian`` column, which is checked against the registry).

Each distinct (account, as_of) in a file is one statement.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from ..errors import InputError
from . import fields
from .interface import CustodyFormat, Holding, Statement

REQUIRED = ("isin", "quantity", "as_of", "account")
T = TypeVar("T")


def _cell(parse: Callable[[str], T], value: str, col: str, display: str, line: int) -> T:
    try:
        return parse(value)
    except ValueError as exc:
        raise InputError(str(exc), file=display, line=line, field=col) from None


class CsvFormat(CustodyFormat):
    name = "csv"
    suffixes = (".csv",)

    def detect(self, text: str) -> bool:
        first = text[:4096].lstrip("\ufeff").partition("\n")[0]
        cols = {c.strip().strip('"').lower() for c in first.split(",")}
        return all(c in cols for c in REQUIRED)

    def parse(self, text: str, display: str) -> list[Statement]:
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(
                "file is empty (expected a header line)", file=display, line=1
            ) from None
        except csv.Error as exc:
            raise InputError(f"invalid CSV: {exc}", file=display, line=1) from None
        cols = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in cols]
        if missing:
            raise InputError(
                f"header lacks column(s) {', '.join(missing)}; expected {','.join(REQUIRED)}",
                file=display,
                line=1,
            )
        if len(set(cols)) != len(cols):
            raise InputError("header names a column twice", file=display, line=1)
        at = {c: cols.index(c) for c in (*REQUIRED, "custodian") if c in cols}
        groups: dict[tuple[str, datetime], list[Holding]] = {}
        first: dict[tuple[str, datetime], tuple[int, str | None]] = {}
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(cols):
                    raise InputError(
                        f"row has {len(row)} fields, the header {len(cols)}",
                        file=display,
                        line=line,
                    )
                cell = {c: row[i].strip() for c, i in at.items()}
                key = (
                    _cell(fields.account, cell["account"], "account", display, line),
                    _cell(fields.timestamp, cell["as_of"], "as_of", display, line),
                )
                groups.setdefault(key, []).append(
                    Holding(
                        isin=_cell(fields.isin, cell["isin"], "isin", display, line),
                        quantity=_cell(
                            fields.quantity, cell["quantity"], "quantity", display, line
                        ),
                        line=line,
                        file=display,
                    )
                )
                custodian = cell.get("custodian") or None
                first.setdefault(key, (line, custodian))
                if first[key][1] != custodian:
                    raise InputError(
                        f"custodian {custodian!r} differs from {first[key][1]!r} on line "
                        f"{first[key][0]} for the same account and as_of",
                        file=display,
                        line=line,
                        field="custodian",
                    )
        except csv.Error as exc:
            raise InputError(f"invalid CSV: {exc}", file=display, line=reader.line_num) from None
        if not groups:
            raise InputError("no data rows after the header", file=display, line=2)
        return [
            Statement(
                account=account,
                as_of=as_of,
                holdings=tuple(holdings),
                file=display,
                line=first[(account, as_of)][0],
                custodian=first[(account, as_of)][1],
            )
            for (account, as_of), holdings in groups.items()
        ]


FORMAT = CsvFormat()
