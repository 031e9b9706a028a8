"""Custody readers: attestation files in, statements out.

Each format is one module exposing `FORMAT`, a `custody.interface.CustodyFormat` registered
in the `xstock_audit.custody_formats` entry-point group. With the custodian's `format: auto`
(the default) a file goes to the one format whose `detect` recognises its content, else to
the format that claims its suffix; two formats recognising it is an error (the registry's
`format:` settles it). A named format reads every file. `read_custodian` expands a
custodian's globs,
parses every file and keeps, for each account, the newest statement that is not dated in the
future (after the run's start plus `policy.clock_skew`); future-dated ones are set aside and
reported, never used.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ..errors import InputError, InputErrors
from .interface import CustodyBook, CustodyFormat, Holding, ParseOptions, SourceError, Statement

__all__ = [
    "AUTO",
    "CustodyBook",
    "CustodyFormat",
    "Holding",
    "ParseOptions",
    "SourceError",
    "Statement",
    "build_book",
    "choose_format",
    "expand",
    "format_for",
    "read_custodian",
    "read_files",
]


def format_for(path: Path, display: str) -> CustodyFormat:
    """The installed custody format claiming the file's suffix."""
    from .. import plugins

    by_suffix = {
        suffix: fmt
        for fmt in plugins.load_all(plugins.CUSTODY_FORMATS, CustodyFormat).values()
        for suffix in fmt.suffixes
    }
    fmt = by_suffix.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"unknown attestation format {path.suffix or '(no suffix)'!r}; "
            f"known: {', '.join(sorted(by_suffix))}",
            file=display,
        )
    return fmt


#: the custodian's `format:` that picks each file's format by its content
AUTO = "auto"


def choose_format(path: Path, text: str, display: str, name: str = AUTO) -> CustodyFormat:
    """The format named `name`; with `auto`, the one whose `detect` recognises `text`, or
    else the one claiming the file's suffix (`format_for`)."""
    from .. import plugins

    formats = plugins.load_all(plugins.CUSTODY_FORMATS, CustodyFormat)
    if name != AUTO:
        fmt = formats.get(name)
        if fmt is None:
            raise InputError(
                f"unknown custody format {name!r}; installed: {', '.join(sorted(formats))}",
                file=display,
            )
        return fmt
    hits = [formats[n] for n in sorted(formats) if formats[n].detect(text)]
    if len(hits) > 1:
        raise InputError(
            f"ambiguous: looks like {', '.join(f.name for f in hits[:-1])} and {hits[-1].name}; "
            "set format: in the registry",
            file=display,
        )
    return hits[0] if hits else format_for(path, display)


def _display(path: Path, base: Path) -> str:
    """Files are named relative to the registry's folder (as the registry's globs are)."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


#: a signature beside an attestation file (`FILE.minisig`, `FILE.sig`): never an attestation
SIGNATURE_SUFFIXES = (".minisig", ".sig")


def expand(patterns: Sequence[str], base_dir: Path) -> list[Path]:
    """The files the globs match (relative to `base_dir`), in order, each once; signature
    files are left out (a custodian's `statements/*` also matches `a.xml.minisig`)."""
    files: dict[str, Path] = {}
    for pattern in patterns:
        full = (
            pattern
            if Path(pattern).is_absolute()
            else os.path.join(glob.escape(str(base_dir)), pattern)
        )
        for match in sorted(glob.glob(full, recursive=True)):
            p = Path(match)
            if p.is_file() and not p.name.endswith(SIGNATURE_SUFFIXES):
                files.setdefault(str(p.resolve()), p)
    return list(files.values())


def read_files(
    paths: Sequence[Path],
    base_dir: Path,
    format: str = AUTO,
    options: ParseOptions | None = None,
) -> list[Statement]:
    """Every file's statements; `format` is the custodian's (`auto`: by content, then
    suffix), `options` its settings (default: UTC)."""
    return _read_signed(paths, base_dir, format, options, None, None)[0]


def _read_signed(
    paths: Sequence[Path],
    base_dir: Path,
    format: str,
    options: ParseOptions | None,
    public_key: str | None,
    signer: str | None,
) -> tuple[list[Statement], list[str]]:
    """The statements of the files whose signatures verify (every file, when no key is
    declared), and one message per file that was not read because of its signature."""
    from ..yamlsrc import decode_text, read_text

    opts = options or ParseOptions()
    statements: list[Statement] = []
    refused: list[str] = []
    for path in paths:
        display = _display(path, base_dir)
        signature: str | None = None
        if public_key is None and signer is None:
            text = read_text(path, display)
        else:
            from .signatures import verify

            data, checks = verify(path, display, public_key, signer)
            failed = [c for c in checks if not c.ok]
            if failed:
                refused.extend(f"attestation {display} not read: {c.describe()}" for c in failed)
                continue
            signature = "; ".join(c.describe() for c in checks)
            text = decode_text(data, display)
        fmt = choose_format(path, text, display, format)
        found = fmt.parse_with(text, display, opts)
        if signature is not None:
            found = [replace(st, signature=signature) for st in found]
        statements.extend(found)
    return statements, refused


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
                            f"{as_of.isoformat()} (also line {prev.where()}); a statement lists "
                            "each security once",
                            file=st.file,
                            line=h.where(),
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
            signature=_signature(parts),
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


def _signature(parts: Sequence[Statement]) -> str | None:
    """The verified signature(s) of the files one account's statement comes from: the
    file's own (the usual case: one file), or each file's, named, when several files state
    the same account at the same moment."""
    by_file = {p.file: p.signature for p in parts if p.signature is not None}
    if len(set(by_file.values())) <= 1:
        return next(iter(by_file.values()), None)
    return "; ".join(f"{file}: {sig}" for file, sig in by_file.items())


def _count_unavailable(st: Statement) -> Statement:
    return replace(
        st,
        holdings=tuple(
            replace(h, quantity=h.quantity + h.unavailable, unavailable=Decimal(0))
            if h.unavailable
            else h
            for h in st.holdings
        ),
    )


def read_custodian(
    custodian: str,
    patterns: Sequence[str],
    base_dir: Path,
    not_after: datetime | None = None,
    *,
    format: str = AUTO,
    options: ParseOptions | None = None,
    count_unavailable: bool = False,
    public_key: str | None = None,
    signer: str | None = None,
) -> CustodyBook:
    """The custodian's book. With `count_unavailable` (the custodian's setting) each
    holding's not-available part is counted: it is added to `quantity` (and `unavailable`
    becomes 0), so reconcile counts what the custodian holds, available or not.

    With a `public_key` (minisign) or a `signer` (EIP-191), a file is read only when its
    signature verifies; the others are listed in `CustodyBook.unverified` (the custodian's
    tokens are UNVERIFIED) and their content is never used."""
    paths = expand(patterns, base_dir)
    statements, refused = _read_signed(paths, base_dir, format, options, public_key, signer)
    if count_unavailable:
        statements = [_count_unavailable(st) for st in statements]
    book = build_book(custodian, statements, [_display(p, base_dir) for p in paths], not_after)
    return replace(book, unverified=tuple(refused)) if refused else book
