"""The human report: a Rich table, one row per token, and a one-line summary."""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import text
from ..amounts import fmt_short
from ..reconcile import AuditResult, Status
from . import Options, ReportFormat, iso, multiplier, token_messages

#: an amount that is not known (a deployment not read): never printed as 0
UNKNOWN = "—"

STYLES = {
    Status.BACKED: "bold green",
    Status.OVER: "bold yellow",
    Status.UNDER: "bold red",
    Status.STALE: "bold magenta",
    Status.UNVERIFIED: "bold magenta",
    Status.ERROR: "bold red",
}


HEADERS = (
    ("Token", "left"),
    ("ISIN", "left"),
    ("On-chain shares", "right"),
    ("Custody shares", "right"),
    ("Difference", "right"),
    ("Status", "left"),
)

#: from this many tokens on, an uncoloured table without --details is laid out here instead of
#: by Rich (the same characters; tests/test_report_formats.py compares them): Rich took about
#: 7 s for 10,000 rows, this takes a few hundredths
FAST_ROWS = 200


def plain_table(
    headers: tuple[tuple[str, str], ...], rows: Sequence[tuple[str, ...]], width: int
) -> str | None:
    """The table as Rich draws it (heavy head box, one space of padding, bold header that
    has no effect without colour), or None when a cell would have to fold (wider than the
    screen: Rich decides how)."""
    from rich.cells import cell_len

    widths = [cell_len(h) for h, _ in headers]
    for row in rows:
        for i, cell in enumerate(row):
            n = cell_len(cell)
            if n > widths[i]:
                widths[i] = n
    if sum(widths) + 3 * len(widths) + 1 > width:
        return None

    def line(cells: tuple[str, ...], edge: str, sep: str) -> str:
        out = []
        for (_, justify), w, cell in zip(headers, widths, cells, strict=True):
            pad = " " * (w - cell_len(cell))
            out.append(pad + cell if justify == "right" else cell + pad)
        return edge + " " + f" {sep} ".join(out) + " " + edge + "\n"

    def rule(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right + "\n"

    parts = [
        rule("┏", "┳", "┓", "━"),
        line(tuple(h for h, _ in headers), "┃", "┃"),
        rule("┡", "╇", "┩", "━"),
    ]
    parts.extend(line(row, "│", "│") for row in rows)
    parts.append(rule("└", "┴", "┘", "─"))
    return "".join(parts)


def _coloured(console: Console, plain: str, statuses: set[Status]) -> str:
    """The plain table in colour, exactly as Rich colours it on this console: Rich draws the
    header and one row per status at the same column widths, and its header lines and each
    status's cell are spliced into the plain table."""
    lines = plain.split("\n")
    widths = [len(part) - 2 for part in lines[0][1:-1].split("┳")]
    table = Table(header_style="bold")
    for (name, justify), w in zip(HEADERS, widths, strict=True):
        table.add_column(name, justify=justify, width=w)  # type: ignore[arg-type]
    order = sorted(statuses)
    for status in order:
        table.add_row("", "", "", "", "", Text(status.value, style=STYLES[status]))
    with console.capture() as captured:
        console.print(table)
    drawn = captured.get().split("\n")
    cell = {status: drawn[3 + i].split("│")[-2] for i, status in enumerate(order)}
    out = [*drawn[:3]]
    for line in lines[3:-2]:
        head, _, status_cell = line[:-1].rpartition("│")
        out.append(head + "│" + cell[Status(status_cell.strip())] + "│")
    out.append(drawn[3 + len(order)])
    return "\n".join(out) + "\n"


def _amount(value: Decimal | None) -> str:
    return UNKNOWN if value is None else fmt_short(value)


def _signed(value: Decimal | None) -> str:
    if value is None:
        return UNKNOWN
    text = fmt_short(value)
    return text if text.startswith("-") or text == "0" else "+" + text


def _short(address: str) -> str:
    return address if len(address) <= 14 else f"{address[:6]}…{address[-4:]}"


def summary_line(result: AuditResult) -> str:
    counts = [f"{n} {s.value}" for s, n in result.summary.items() if n]
    status = {t.symbol: t.status for t in result.tokens}
    failed = [status[s] for s in result.gate.failed] if result.gate is not None else []
    unbacked = [t for t in result.tokens if t.status not in (Status.BACKED, Status.OVER)]
    if result.exit_code == 0:
        # never "all backed" when a token is not: the gate let it pass (ignored, or its
        # status is not in fail_on)
        verdict = (
            "all backed"
            if not unbacked
            else f"gate passed; {len(unbacked)} not backed but not failing (ignored or not "
            "in fail_on)"
        )
    elif result.exit_code == 1:
        verdict = "SHORTFALL"
    elif failed and all(s is Status.OVER for s in failed):
        verdict = "gate failed (OVER is in fail_on)"
    else:
        verdict = "audit incomplete"
    return (
        f"{len(result.tokens)} token(s): {', '.join(counts) or 'none'} — {verdict} "
        f"(exit {result.exit_code})"
    )


def render(result: AuditResult, options: Options) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=options.color,
        no_color=not options.color,
        width=options.width or 120,
        highlight=False,
        soft_wrap=False,
    )
    for name, read in result.chains.items():
        pin = read.pin
        if pin is None:
            console.print(Text(f"{name}: not read: {read.error}", style="red"), soft_wrap=True)
        else:
            unit = pin.unit
            line = f"{name}: {unit} {pin.number} at {iso(pin.time)} via {pin.rpc}"
            if pin.at is not None:  # check --at: the instant asked for, and how it was found
                line += f" (as of {iso(pin.at)}: {pin.how or 'found'})"
            console.print(line, soft_wrap=True)
        for message in text.notes(read.notes):
            console.print(Text(f"  {message}", style="yellow"), soft_wrap=True)

    rows = [
        (t.symbol, t.isin, _amount(t.onchain), _amount(t.custody), _signed(t.difference))
        for t in result.tokens
    ]
    fast = None
    if not options.details and len(rows) >= FAST_ROWS:
        full = [(*r, t.status.value) for r, t in zip(rows, result.tokens, strict=True)]
        fast = plain_table(HEADERS, full, options.width or 120)
        if fast is not None and options.color:
            fast = _coloured(console, fast, {t.status for t in result.tokens})
    if fast is not None:
        console.file.write(fast)
    table = Table(show_lines=options.details, header_style="bold")
    # nothing is ever cut short with an ellipsis: a figure too wide folds onto the next line;
    # with --details, the Details column takes what width is left
    for name, justify in HEADERS:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    if options.details:
        table.add_column("Details", overflow="fold", ratio=1, min_width=24)
    for t, row in zip(result.tokens, rows, strict=True):
        if fast is not None:
            break
        table.add_row(*row, Text(t.status.value, style=STYLES[t.status]))
        if not options.details:
            continue
        for d in t.deployments:
            s = d.supply
            label = f"  {s.chain}"
            if s.error:
                table.add_row(
                    label, _short(s.address), UNKNOWN, "", "", Text("error", style="red"), s.error
                )
                continue
            m = multiplier(s)
            parts = [
                f"supply {fmt_short(s.total_supply)}" if s.total_supply is not None else "",
                f"excluded {fmt_short(s.excluded)}" if s.excluded else "",
                ""
                if m is None
                else f"multiplier {m}"
                + (" (applied)" if s.multiplier_applied else " (in the balances)"),
                ""
                if s.schedule is None
                else f"→ {fmt_short(s.schedule.new)} from {iso(s.schedule.at)}",
            ]
            table.add_row(
                label,
                _short(s.address),
                _amount(d.circulating),
                "",
                "",
                "",
                " ".join(p for p in parts if p),
            )
        for a in t.attestations:
            table.add_row(
                "  custody",
                a.account,
                "",
                fmt_short(a.quantity),
                "",
                "stale" if a.stale else "",
                f"as of {iso(a.as_of)} ({a.file})"
                + (f"; {a.signature}" if a.signature else "")
                + (
                    f"; not available, not counted: {fmt_short(a.unavailable)}"
                    if a.unavailable
                    else ""
                ),
            )
    if fast is None:
        console.print(table)
    for t in result.tokens:
        for m in token_messages(t):
            style = "red" if t.status in (Status.UNDER, Status.ERROR) else "yellow"
            console.print(Text(f"{t.symbol}: {m}", style=style), soft_wrap=True)
    _movements(console, result)
    if result.gate is not None:
        for ig in result.gate.ignored:
            console.print(Text(f"{ig.symbol}: {ig.describe()}", style="cyan"), soft_wrap=True)
    console.print(Text(summary_line(result), style="bold"), soft_wrap=True)
    return buf.getvalue()


def _movements(console: Console, result: AuditResult) -> None:
    """`check --movements`: one table of every token's movements since its custody as-of."""
    tokens = [t for t in result.tokens if t.movements is not None]
    if not tokens:
        return
    table = Table(title="Movements since the custody as-of", header_style="bold")
    for name, justify in (
        ("Token", "left"),
        ("Time", "left"),
        ("Chain", "left"),
        ("Transaction", "left"),
        ("Kind", "left"),
        ("Shares", "right"),
    ):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for t in tokens:
        m = t.movements
        assert m is not None
        since = "" if m.since is None else f"since {iso(m.since)}"
        if m.items is None:
            table.add_row(t.symbol, since, "", "", "unknown", UNKNOWN)
            continue
        if not m.items:
            table.add_row(t.symbol, since, "", "", "none", "0")
            continue
        for x in m.items:
            table.add_row(t.symbol, iso(x.time), x.chain, x.tx, x.kind, _signed(x.amount))
    console.print(table)


class TableFormat(ReportFormat):
    name = "table"
    machine_readable = False

    def render(self, result: AuditResult, options: Options) -> str:
        return render(result, options)


FORMAT = TableFormat()
