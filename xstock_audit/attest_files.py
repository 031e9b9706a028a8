"""What `xstock-audit attest verify|show` find about attestation files, and how they print it.

A file's custodian is the one whose `attestations` globs (relative to the registry's folder)
match it, exactly as `check` expands them; its `public_key` / `signer` are the keys its
signatures are checked against. Imported by the `attest` commands only (pydantic, Rich and the
signature libraries come in through here, lazily).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from decimal import Decimal

    from .custody.interface import Holding, Statement
    from .custody.signatures import SignatureCheck
    from .errors import InputError
    from .registry import Custodian, Registry


@dataclass
class Keyring:
    """The registry (if any) and, per resolved file path, the custodians that read it."""

    registry: Registry | None
    source: str | None
    readers: dict[str, list[tuple[str, Custodian]]] = field(default_factory=dict)

    def custodians(self, path: Path) -> list[tuple[str, Custodian]]:
        return self.readers.get(str(path.resolve()), [])


@dataclass
class FileReport:
    """What `verify` and `show` found about one file."""

    display: str
    custodians: list[str] = field(default_factory=list)
    format: str | None = None
    statements: list[Statement] = field(default_factory=list)
    checks: list[SignatureCheck] = field(default_factory=list)
    #: the file cannot be read (missing, a directory, unparsable): exit code 2
    error: InputError | None = None
    #: why no key was checked (no registry, no custodian reads it, no key declared)
    unchecked: str | None = None

    @property
    def failed(self) -> bool:
        return any(not c.ok for c in self.checks)

    @property
    def status(self) -> str:
        """unreadable, failed, verified, unsigned (its custodian declares no key) or
        unchecked (no registry, or no custodian of it reads the file)."""
        if self.error is not None:
            return "unreadable"
        if self.failed:
            return "failed"
        if self.checks:
            return "verified"
        return "unsigned" if self.custodians else "unchecked"


def load_keyring(registry: Path | None) -> Keyring:
    """The registry given, or xstock-audit.yaml in the current folder if present, or none."""
    from .cli import DEFAULT_REGISTRY

    if registry is None:
        default = Path(DEFAULT_REGISTRY)
        if not default.exists():
            return Keyring(registry=None, source=None)
        registry = default
    from . import custody
    from . import registry as registry_mod

    reg = registry_mod.load(registry)
    keyring = Keyring(registry=reg, source=str(registry))
    base = Path(reg.base_dir)
    for name, custodian in reg.custodians.items():
        for path in custody.expand(custodian.attestations or [], base):
            keyring.readers.setdefault(str(path.resolve()), []).append((name, custodian))
    return keyring


def parse_attestation(
    path: Path, display: str, data: bytes, custodian: Custodian | None = None
) -> tuple[str, list[Statement]]:
    """The format's name and the statements in a file's bytes, read as `check` reads the
    custodian's files (its `format:`, `auto` by content then suffix, and its `timezone`);
    without a custodian, `auto` and UTC. The one place where `attest` chooses a format."""
    from zoneinfo import ZoneInfo

    from .custody import AUTO, ParseOptions, choose_format
    from .yamlsrc import decode_text

    text = decode_text(data, display)
    fmt = choose_format(path, text, display, AUTO if custodian is None else custodian.format)
    options = ParseOptions() if custodian is None else ParseOptions(ZoneInfo(custodian.timezone))
    return fmt.name, fmt.parse_with(text, display, options)


def examine(path: Path, keyring: Keyring, display: str | None = None) -> FileReport:
    """Read one file once: its signatures (against every custodian that reads it), then its
    statements, checked as `check` would for each of those custodians."""
    from .custody import build_book
    from .custody.signatures import verify, verify_bytes
    from .errors import InputError

    display = str(path) if display is None else display
    readers = keyring.custodians(path)
    report = FileReport(display=display, custodians=[name for name, _ in readers])
    try:
        keys = list(dict.fromkeys((c.public_key, c.signer) for _, c in readers))
        first_pk, first_signer = keys[0] if keys else (None, None)
        data, report.checks = verify(path, display, first_pk, first_signer)
        for public_key, signer in keys[1:]:
            report.checks += verify_bytes(data, path, display, public_key, signer)
        # a file two custodians read is parsed with the first one's format and time zone
        first = readers[0][1] if readers else None
        report.format, report.statements = parse_attestation(path, display, data, first)
        for name in report.custodians:
            build_book(name, report.statements, [display])
    except InputError as exc:
        report.error = exc
    if keyring.registry is None:
        report.unchecked = "no registry, so no key was checked"
    elif not readers:
        report.unchecked = (
            f"no custodian of {keyring.source} reads this file (no attestations glob matches "
            "it), so no key was checked"
        )
    elif not report.checks and report.error is None:
        report.unchecked = (
            f"custodian {', '.join(report.custodians)} declares no public_key or signer"
        )
    return report


def verify_lines(r: FileReport) -> str:
    who = f" (custodian {', '.join(r.custodians)})" if r.custodians else ""
    head = {
        "unreadable": "cannot be read",
        "failed": "signature FAILED",
        "verified": "signed and verified",
        "unsigned": "readable, not signed",
        "unchecked": "readable, no key checked",
    }[r.status]
    lines = [f"{r.display}: {head}{who}"]
    lines += [f"  {c.describe()}" for c in r.checks]
    if r.error is not None:
        lines.append(f"  {r.error.render()}")
    elif r.format is not None:
        count = len(r.statements)
        lines.append(f"  format {r.format}: {count} statement{'s' * (count != 1)}")
    if r.unchecked is not None and r.error is None:
        lines.append(f"  {r.unchecked}")
    return "".join(line + "\n" for line in lines)


def _unavailable(holding: Holding) -> Decimal | None:
    """The not-available part a statement gives (pending, in transit, pledged), if any."""
    return holding.unavailable or None


def _token_symbols(keyring: Keyring, custodians: list[str]) -> dict[str, list[str]] | None:
    """ISIN -> the symbols of the registry's tokens that count this file's custodians."""
    if keyring.registry is None or not custodians:
        return None
    symbols: dict[str, list[str]] = {}
    for token in keyring.registry.tokens:
        if set(token.custodians) & set(custodians):
            symbols.setdefault(token.isin, []).append(token.symbol)
    return symbols


def _signature_summary(report: FileReport) -> dict[str, Any]:
    return {
        "status": report.status,
        "note": report.unchecked,
        "checks": [c.to_json() for c in report.checks],
    }


def show_json(report: FileReport, keyring: Keyring) -> str:
    import json

    from .amounts import fmt
    from .timefmt import iso

    symbols = _token_symbols(keyring, report.custodians)
    statements = []
    for st in report.statements:
        holdings = []
        for h in st.holdings:
            item: dict[str, Any] = {
                "isin": h.isin,
                "quantity": fmt(h.quantity),
                "unavailable": fmt(h.unavailable),
            }
            if symbols is not None:
                item["tokens"] = symbols.get(h.isin, [])
            holdings.append(item)
        statements.append(
            {
                "account": st.account,
                "as_of": iso(st.as_of),
                "custodian": st.custodian,
                "line": st.line,
                "holdings": holdings,
            }
        )
    doc = {
        "file": report.display,
        "format": report.format,
        "registry": keyring.source,
        "custodians": report.custodians,
        "signature": _signature_summary(report),
        "statements": statements,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def show_table(report: FileReport, keyring: Keyring) -> str:
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .amounts import fmt
    from .output import pipe_width, terminal_width
    from .timefmt import iso

    to_terminal = sys.stdout.isatty()
    color = to_terminal and "NO_COLOR" not in os.environ
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        width=terminal_width() if to_terminal else pipe_width(),
        highlight=False,
        soft_wrap=False,
    )
    who = f", custodian {', '.join(report.custodians)}" if report.custodians else ""
    console.print(f"{report.display} (format {report.format}{who})", soft_wrap=True)
    style = {"failed": "red", "verified": "green"}.get(report.status, "yellow")
    if not report.checks:
        console.print(Text(f"signature: {report.unchecked}", style=style), soft_wrap=True)
    for check in report.checks:
        line = Text(f"signature: {check.describe()}", style="green" if check.ok else "red")
        console.print(line, soft_wrap=True)

    symbols = _token_symbols(keyring, report.custodians)
    with_unavailable = any(
        _unavailable(h) is not None for st in report.statements for h in st.holdings
    )
    table = Table(header_style="bold")
    table.add_column("account")
    table.add_column("as of")
    table.add_column("ISIN")
    table.add_column("quantity", justify="right")
    if with_unavailable:
        table.add_column("unavailable", justify="right")
    if symbols is not None:
        table.add_column("token")
    for st in report.statements:
        rows = st.holdings or (None,)
        for h in rows:
            row = [st.account, iso(st.as_of)]
            if h is None:
                row += ["(no holdings)", ""]
            else:
                row += [h.isin, fmt(h.quantity)]
            if with_unavailable:
                u = None if h is None else _unavailable(h)
                row.append("" if u is None else fmt(u))
            if symbols is not None:
                used = [] if h is None else symbols.get(h.isin, [])
                row.append(", ".join(used) if used else ("" if h is None else "not used"))
            table.add_row(*row)
    console.print(table)
    return buf.getvalue()
