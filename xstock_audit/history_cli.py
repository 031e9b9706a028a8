"""`xstock-audit history`: each token's on-chain and custody series from a `--history` file,
with `drift` and `jump` flagged by the registry's `policy.drift` and `policy.jump`.

Thin, like cli.py: the file is read and flagged in `history` (standard library only), the
registry (pydantic) is loaded and Rich imported inside the command.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .errors import EXIT_INPUT

if TYPE_CHECKING:
    from decimal import Context, Decimal

    from .amounts import Tolerance
    from .history import Point, Series

DEFAULT_DB = "xstock-audit-history.db"
UNKNOWN = "—"
#: the sparkline's eight levels, lowest first; a run where the value is unknown is a gap
LEVELS = "▁▂▃▄▅▆▇█"
GAP = "·"
#: at most this many runs (the newest) in a sparkline
PLOT_WIDTH = 60
SCHEMA = "xstock-audit/history/v1"


class HistoryFormat(StrEnum):
    table = "table"
    json = "json"


#: a duration back from now: `7d`, `12h`, `1d12h`
RELATIVE = r"\s*\d+\s*[smhdw](\s*\d+\s*[smhdw])*\s*"


def parse_since(text: str, now: datetime) -> datetime:
    """`--since`: ISO 8601 with a zone (`2026-03-01T00:00:00Z`), a date (00:00 UTC), or a
    duration back from now (`7d`, `12h`, `1d12h`, `90m`). ValueError when it is none."""
    import re

    value = text.strip()
    if re.fullmatch(RELATIVE, value, re.IGNORECASE):
        from .settings import parse_duration

        return now - parse_duration(value.lower())
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    try:
        dt = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "Zz" else value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: write ISO 8601 with a zone (2026-03-01T00:00:00Z), a "
            "date (2026-03-01, UTC) or a duration back from now (7d, 12h)"
        ) from None
    if dt.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset like +01:00")
    return dt.astimezone(UTC)


def _since_option(text: str) -> datetime:
    try:
        return parse_since(text, datetime.now(UTC))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _policy(registry: Path | None) -> tuple[Tolerance | None, Tolerance | None, list[str]]:
    """`policy.drift` and `policy.jump` of the registry given, or of xstock-audit.yaml in the
    current folder if present; the notes saying what is not flagged and why."""
    from .cli import DEFAULT_REGISTRY

    if registry is None:
        default = Path(DEFAULT_REGISTRY)
        if not default.exists():
            return (
                None,
                None,
                [
                    "no registry (no --registry, and no xstock-audit.yaml in the current "
                    "folder): no policy.drift or policy.jump, so nothing is flagged"
                ],
            )
        from . import registry as registry_mod
        from .errors import InputError

        try:  # the registry found by default: a problem in it does not stop the history
            policy = registry_mod.load(default).policy
        except InputError as exc:
            first = exc.items[0] if hasattr(exc, "items") else exc
            return (
                None,
                None,
                [
                    f"{default} could not be loaded ({first.render()}): nothing is flagged; "
                    "pass --registry to use another"
                ],
            )
        registry = default
    else:
        from . import registry as registry_mod

        policy = registry_mod.load(registry).policy
    notes = [
        f"{registry}: policy.{name} is not set: no {name} flags"
        for name, value in (("drift", policy.drift), ("jump", policy.jump))
        if value is None
    ]
    return policy.drift, policy.jump, notes


# ---------------------------------------------------------------------- the command


def history(
    db: Annotated[
        Path,
        typer.Option(
            "--db",
            metavar="PATH",
            envvar="XSTOCK_AUDIT_HISTORY",
            help="The history file that `check --history PATH` appends to.",
        ),
    ] = Path(DEFAULT_DB),
    symbol: Annotated[
        list[str] | None,
        typer.Option(
            "--symbol",
            "-s",
            metavar="SYMBOL",
            help="Only this token (repeatable).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            metavar="TIME",
            parser=_since_option,
            help=(
                "Only runs at or after TIME: ISO 8601 with a zone, a date (UTC), or a "
                "duration back from now (7d, 12h)."
            ),
            show_default=False,
        ),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry",
            "-r",
            metavar="REGISTRY",
            envvar="XSTOCK_AUDIT_REGISTRY",
            help=(
                "Registry whose policy.drift and policy.jump flag the series; default: "
                "xstock-audit.yaml in the current folder if present (without one, nothing "
                "is flagged)."
            ),
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        HistoryFormat,
        typer.Option(
            "--format", "-f", help="table for people, json (decimal strings) for machines."
        ),
    ] = HistoryFormat.table,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot",
            help="Below each table, sparklines of supply, custody and coverage over the runs.",
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks (secrets stay redacted).")
    ] = False,
) -> None:
    """Show each token's on-chain and custody series from a history file, flags marked.

    drift: the on-chain supply at a run moved since the custody as-of by more than
    policy.drift; jump: it moved between two runs by more than policy.jump (the policy of
    --registry, or of xstock-audit.yaml in the current folder).

    Exit codes: 0 shown; 2 unusable input (no such file, not a history, a newer schema,
    a bad registry or option).
    """
    from .attest import _errors

    if plot and format is HistoryFormat.json:
        from .cli import _fail

        _fail("error: --plot draws for people: use it with --format table", EXIT_INPUT, debug)
    with _errors(debug):
        from . import history as hist
        from .errors import InputError

        drift, jump, notes = _policy(registry)
        series = [hist.flag(s, drift, jump) for s in hist.load(db, symbol or ())]
        if symbol:
            missing = [s for s in symbol if s not in {x.symbol for x in series}]
            if missing:
                raise InputError(
                    f"no run in this history has token(s) {', '.join(missing)}", file=str(db)
                )
        if since is not None:  # flags look before --since (the reference run may be older)
            series = [
                hist.Series(s.symbol, s.isin, tuple(p for p in s.points if p.time >= since))
                for s in series
            ]
        for note in notes:
            sys.stderr.write(f"note: {note}\n")
        if format is HistoryFormat.json:
            text = render_json(series, db, drift, jump, notes)
        else:
            text = render_table(series, plot=plot, color=_color())
        sys.stdout.write(text)
        sys.stdout.flush()


def _color() -> bool:
    import os

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


# ---------------------------------------------------------------------- JSON


def _opt(value: Decimal | None) -> str | None:
    from .amounts import fmt

    return None if value is None else fmt(value)


def _tolerance(t: Tolerance | None) -> dict[str, str] | None:
    from .amounts import fmt

    return None if t is None else {"units": fmt(t.units), "bps": fmt(t.bps)}


def _point(p: Point) -> dict[str, Any]:
    from .amounts import fmt
    from .timefmt import iso

    return {
        "run": p.run,
        "time": iso(p.time),
        "status": p.status,
        "onchain": _opt(p.onchain),
        "onchain_read": _opt(p.onchain_read),
        "custody": _opt(p.custody),
        "custody_as_of": None if p.custody_as_of is None else iso(p.custody_as_of),
        "flags": [
            {
                "kind": f.kind,
                "change": fmt(f.change),
                "limit": fmt(f.limit),
                "reference": fmt(f.reference),
                "since": iso(f.since),
            }
            for f in p.flags
        ],
    }


def render_json(
    series: list[Series],
    db: Path,
    drift: Tolerance | None,
    jump: Tolerance | None,
    notes: list[str],
) -> str:
    import json

    doc = {
        "schema": SCHEMA,
        "db": str(db),
        "policy": {"drift": _tolerance(drift), "jump": _tolerance(jump)},
        "notes": notes,
        "tokens": [
            {"symbol": s.symbol, "isin": s.isin, "points": [_point(p) for p in s.points]}
            for s in series
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


# ---------------------------------------------------------------------- table


def _flag_text(p: Point) -> str:
    from .amounts import fmt_short
    from .timefmt import iso

    parts = []
    for f in p.flags:
        change = fmt_short(f.change)
        sign = "" if change.startswith("-") else "+"
        parts.append(f"{f.kind} {sign}{change} > {fmt_short(f.limit)} since {iso(f.since)}")
    return "\n".join(parts)


def render_table(series: list[Series], *, plot: bool, color: bool, width: int = 120) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    from .amounts import fmt_short
    from .timefmt import iso

    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        width=width,
        highlight=False,
        soft_wrap=False,
    )
    if not any(s.points for s in series):
        console.print("no runs in this history (or none since --since)")
    for s in series:
        if not s.points:
            continue
        table = Table(title=f"{s.symbol} ({s.isin})", title_justify="left", header_style="bold")
        for name, justify in (
            ("Time", "left"),
            ("On-chain shares", "right"),
            ("Custody shares", "right"),
            ("Status", "left"),
            ("Flags", "left"),
        ):
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for p in s.points:
            table.add_row(
                iso(p.time),
                UNKNOWN if p.onchain is None else fmt_short(p.onchain),
                UNKNOWN if p.custody is None else fmt_short(p.custody),
                p.status,
                _flag_text(p),
            )
        console.print(table)
        if plot:
            for line in plot_lines(s.points):
                console.print(line, soft_wrap=True, markup=False)
        console.print()
    return buf.getvalue()


# ---------------------------------------------------------------------- plot


def _display() -> Context:
    """Display arithmetic (sparkline levels, coverage percentages), never a verdict."""
    import decimal

    return decimal.Context(prec=28, rounding=decimal.ROUND_HALF_UP)


def _levels(values: list[Decimal | None], lo: Decimal, hi: Decimal) -> str:
    """One character per value: level round((v - lo) * 7 / (hi - lo)) of `LEVELS`, half up;
    a flat series sits in the middle; an unknown value is a gap."""
    ctx = _display()
    out = []
    for v in values:
        if v is None:
            out.append(GAP)
        elif hi == lo:
            out.append(LEVELS[3])
        else:
            level = ctx.divide(ctx.multiply(ctx.subtract(v, lo), 7), hi - lo)
            out.append(LEVELS[int(level.to_integral_value(context=ctx))])
    return "".join(out)


def coverage(p: Point) -> Decimal | None:
    """custody / on-chain, as a percentage to 0.01 (None when either is unknown or the
    supply is 0)."""
    if p.custody is None or p.onchain is None or p.onchain == 0:
        return None
    ctx = _display()
    ratio = ctx.divide(ctx.multiply(p.custody, 100), p.onchain)
    return ratio.quantize(ctx.create_decimal("0.01"), context=ctx)


def plot_lines(points: tuple[Point, ...] | list[Point]) -> list[str]:
    """Sparklines of the newest `PLOT_WIDTH` runs: on-chain and custody on one shared scale
    (so a gap between the lines is a gap in backing), coverage (custody / on-chain) on its
    own, and a row marking the runs flagged (D drift, J jump, B both)."""
    from .amounts import fmt_short

    shown = list(points)[-PLOT_WIDTH:]
    onchain = [p.onchain for p in shown]
    custody = [p.custody for p in shown]
    known = [v for v in (*onchain, *custody) if v is not None]
    cover = [coverage(p) for p in shown]
    known_cover = [c for c in cover if c is not None]

    def ends(values: list[Decimal | None]) -> str:
        present = [v for v in values if v is not None]
        if not present:
            return "unknown"
        return f"{fmt_short(present[0])} → {fmt_short(present[-1])}"

    lines = []
    head = f"{len(shown)} run(s)" + (
        f", the newest {PLOT_WIDTH} of {len(points)}" if len(points) > len(shown) else ""
    )
    if known:
        lo, hi = min(known), max(known)
        head += f"; supply and custody from {fmt_short(lo)} (▁) to {fmt_short(hi)} (█)"
        lines.append(head)
        lines.append(f"  on-chain  {_levels(onchain, lo, hi)}  {ends(onchain)}")
        lines.append(f"  custody   {_levels(custody, lo, hi)}  {ends(custody)}")
    else:
        lines.append(head + "; no known supply or custody")
    if known_cover:
        clo, chi = min(known_cover), max(known_cover)
        lines.append(
            f"  coverage  {_levels(list(cover), clo, chi)}  "
            f"{fmt_short(known_cover[-1])}% last (min {fmt_short(clo)}%, max {fmt_short(chi)}%)"
        )
    if any(p.flags for p in shown):
        marks = "".join(_mark(p) for p in shown)
        lines.append(f"  flags     {marks}  D drift, J jump, B both")
    return lines


def _mark(p: Point) -> str:
    kinds = {f.kind for f in p.flags}
    if kinds == {"drift", "jump"}:
        return "B"
    if kinds == {"drift"}:
        return "D"
    if kinds == {"jump"}:
        return "J"
    return " "


__all__ = ["history", "parse_since", "plot_lines", "render_json", "render_table"]
