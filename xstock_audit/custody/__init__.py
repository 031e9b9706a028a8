"""Custody readers: attestation files in, statements out.

Each format is one module exposing `FORMAT`, an `AttestationFormat`: a name, the file
suffixes it claims and a `parse(text, display)` that returns `Statement`s or raises
`InputError` naming the file, line and field. `read_custodian` expands a custodian's globs,
parses every file and keeps, for each account, the newest statement that is not dated in the
future (after the run's start plus `policy.clock_skew`); future-dated ones are set aside and
reported, never used.
"""

from __future__ import annotations

import glob
import importlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from ..errors import InputError, InputErrors


@dataclass(frozen=True)
class Holding:
    isin: str
    quantity: Decimal
    line: int | None = None
    file: str = ""


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


class AttestationFormat(Protocol):
    name: str
    suffixes: tuple[str, ...]

    def parse(self, text: str, display: str) -> list[Statement]: ...


#: suffix -> module defining FORMAT; imported only when a file of that kind is read.
FORMAT_MODULES: Mapping[str, str] = {
    ".json": "xstock_audit.custody.native",
    ".yaml": "xstock_audit.custody.native",
    ".yml": "xstock_audit.custody.native",
    ".csv": "xstock_audit.custody.csvfile",
}


def format_for(path: Path, display: str) -> AttestationFormat:
    module = FORMAT_MODULES.get(path.suffix.lower())
    if module is None:
        raise InputError(
            f"unknown attestation format {path.suffix or '(no suffix)'!r}; "
            f"known: {', '.join(sorted(FORMAT_MODULES))}",
            file=display,
        )
    fmt: AttestationFormat = importlib.import_module(module).FORMAT
    return fmt


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
        """Each account's newest statement and its holding of `isin` (None: holds none)."""
        out = []
        for account in sorted(self.latest):
            st = self.latest[account]
            holding = next((h for h in st.holdings if h.isin == isin), None)
            out.append((st, holding))
        return out


def _display(path: Path, base: Path) -> str:
    """Files are named relative to the registry's folder (as the registry's globs are)."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def expand(patterns: Sequence[str], base_dir: Path) -> list[Path]:
    files: dict[str, Path] = {}
    for pattern in patterns:
        full = (
            pattern
            if Path(pattern).is_absolute()
            else os.path.join(glob.escape(str(base_dir)), pattern)
        )
        for match in sorted(glob.glob(full, recursive=True)):
            p = Path(match)
            if p.is_file():
                files.setdefault(str(p.resolve()), p)
    return list(files.values())


def read_files(paths: Sequence[Path], base_dir: Path) -> list[Statement]:
    from ..yamlsrc import read_text

    statements: list[Statement] = []
    for path in paths:
        display = _display(path, base_dir)
        fmt = format_for(path, display)
        statements.extend(fmt.parse(read_text(path, display), display))
    return statements


def build_book(
    custodian: str,
    statements: Sequence[Statement],
    files: Sequence[str],
    not_after: datetime | None = None,
) -> CustodyBook:
    """The newest statement per account dated at or before `not_after` (None: any date)."""
    errors: list[InputError] = []
    by_key: dict[tuple[str, datetime], list[Statement]] = {}
    for st in statements:
        if st.custodian is not None and st.custodian != custodian:
            errors.append(
                InputError(
                    f"file says custodian {st.custodian!r}, but the registry reads it for "
                    f"{custodian!r}",
                    file=st.file,
                    line=st.custodian_line or st.line,
                    field=st.custodian_field,
                )
            )
            continue
        by_key.setdefault((st.account, st.as_of), []).append(st)
    merged: dict[str, Statement] = {}
    future: dict[str, list[Statement]] = {}
    for (account, as_of), parts in sorted(by_key.items(), key=lambda kv: kv[0][1]):
        seen: dict[str, Holding] = {}
        for st in parts:
            for h in st.holdings:
                if h.isin in seen:
                    prev = seen[h.isin]
                    errors.append(
                        InputError(
                            f"{h.isin} is stated twice for account {account!r} as of "
                            f"{as_of.isoformat()} (also line {prev.line}); a statement lists "
                            "each security once",
                            file=st.file,
                            line=h.line,
                            field="isin",
                        )
                    )
                seen[h.isin] = h
        statement = Statement(
            account=account,
            as_of=as_of,
            holdings=tuple(seen.values()),
            file=parts[0].file,
            line=parts[0].line,
            custodian=custodian,
        )
        if not_after is not None and as_of > not_after:
            future.setdefault(account, []).append(statement)
        else:
            merged[account] = statement
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)
    return CustodyBook(
        custodian=custodian,
        files=tuple(files),
        latest=merged,
        future={a: tuple(s) for a, s in future.items()},
    )


def read_custodian(
    custodian: str, patterns: Sequence[str], base_dir: Path, not_after: datetime | None = None
) -> CustodyBook:
    paths = expand(patterns, base_dir)
    statements = read_files(paths, base_dir)
    return build_book(custodian, statements, [_display(p, base_dir) for p in paths], not_after)
