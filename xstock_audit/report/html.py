"""The HTML report: one self-contained file an auditor can open, print or attach.

Inline CSS, no script, no external resource (a Content-Security-Policy meta tag forbids any:
the file renders the same offline and leaks nothing when opened). It shows the verdict, the
token table (status colours), each token's deployments, attestations and messages, the
chains with the block or slot read and its time, and the gate. Every value is escaped
(`html.escape`). Amounts are exact (trailing zeros dropped, as in the table); an amount that
is not known is `—`, never 0.

History: `render_html(result, options, history=...)` draws, per symbol, the on-chain and
custody series as an inline SVG chart. `history` maps a symbol to its points
`(time, onchain, custody)`, oldest first, amounts as Decimal or None (unknown: the line
breaks there). The `--history` store (SPEC "History") is where the CLI will take them from;
`--format html` alone renders without a chart. Floats are used only for the chart's pixel
coordinates; the figures written in it (axis, tooltips) are the exact decimals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from html import escape

from .. import text
from ..amounts import fmt_short
from ..reconcile import AuditResult, DeploymentResult, Status, TokenResult
from . import Options, ReportFormat, gate_of, iso, multiplier, token_messages, verdict

UNKNOWN = "—"

#: one point of a token's history: (time, onchain, custody); None is unknown
HistoryPoint = tuple[datetime, Decimal | None, Decimal | None]
History = Mapping[str, Sequence[HistoryPoint]]

CSS = """
:root { --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --stale: #8250df; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
  margin: 0 auto; padding: 24px; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.verdict { display: inline-block; font-size: 18px; font-weight: 700; padding: 4px 12px;
  border-radius: 6px; color: #fff; margin: 6px 0; }
.v0 { background: var(--ok); } .v1 { background: var(--bad); } .v3 { background: var(--stale); }
.muted { color: var(--muted); }
table { border-collapse: collapse; margin: 6px 0 12px; width: 100%; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.mono, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12px; word-break: break-all; }
.status { font-weight: 700; padding: 1px 6px; border-radius: 4px; color: #fff; }
.s-BACKED { background: var(--ok); } .s-OVER { background: var(--warn); }
.s-UNDER { background: var(--bad); } .s-ERROR { background: #82071e; }
.s-STALE, .s-UNVERIFIED { background: var(--stale); }
tr.fail td { background: #ffebe9; } tr.ignored td { background: #fff8c5; }
.mark { font-size: 12px; margin-left: 6px; color: var(--muted); }
tr.fail .mark { color: var(--bad); font-weight: 700; }
ul.messages { margin: 4px 0 8px; padding-left: 20px; }
section.token { border: 1px solid #d0d7de; border-radius: 6px; padding: 4px 12px 8px;
  margin: 12px 0; break-inside: avoid; }
svg.chart { border: 1px solid #d0d7de; background: #fff; max-width: 100%; height: auto; }
.legend span { margin-right: 14px; } .k-onchain { color: #0969da; } .k-custody { color: #1a7f37; }
@media print { body { padding: 0; } a { color: inherit; } }
"""

#: nothing may be loaded: no script, no image, font or stylesheet from anywhere
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _amount(value: Decimal | None) -> str:
    return UNKNOWN if value is None else fmt_short(value)


def _signed(value: Decimal | None) -> str:
    if value is None:
        return UNKNOWN
    shown = fmt_short(value)
    return shown if shown.startswith("-") or shown == "0" else "+" + shown


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], attrs: str = "") -> list[str]:
    """A table; `rows` are cells already rendered (`<td …>…</td>`)."""
    out = [f"<table{attrs}>", "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers)]
    out.append("</tr></thead><tbody>")
    out.extend(f"<tr>{''.join(r)}</tr>" for r in rows)
    out.append("</tbody></table>")
    return out


def _td(value: object, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<td{c}>{_e(value)}</td>"


def _deployment_row(d: DeploymentResult) -> list[str]:
    s = d.supply
    m = multiplier(s)
    mult = "" if m is None else m + (" (applied)" if s.multiplier_applied else " (in balances)")
    if s.schedule is not None and m is not None:
        mult += f" → {fmt_short(s.schedule.new)} from {iso(s.schedule.at)}"
    return [
        _td(s.chain),
        _td(s.address, "mono"),
        _td("" if s.decimals is None else s.decimals, "num"),
        _td(_amount(s.total_supply), "num"),
        _td(_amount(s.excluded), "num"),
        _td(mult),
        _td(_amount(d.circulating), "num"),
        _td(s.error or ""),
    ]


def _token_section(t: TokenResult, mark: str) -> list[str]:
    out = [
        f'<section class="token" id="token-{_e(t.symbol)}">',
        f'<h3>{_e(t.symbol)} <span class="muted">{_e(t.isin)}</span> '
        f'<span class="status s-{t.status.value}">{t.status.value}</span>'
        f'<span class="mark">{_e(mark)}</span></h3>',
        f"<p>On-chain {_e(_amount(t.onchain))} shares"
        + (
            f" (read: {_e(_amount(t.onchain_read))})"
            if t.onchain is None and t.onchain_read is not None
            else ""
        )
        + f", custody {_e(_amount(t.custody))}, difference {_e(_signed(t.difference))}, "
        f"tolerance {_e(fmt_short(t.tolerance))}.</p>",
    ]
    messages = token_messages(t)
    if messages:
        out.append('<ul class="messages">')
        out.extend(f"<li>{_e(m)}</li>" for m in messages)
        out.append("</ul>")
    if t.deployments:
        out.extend(
            _table(
                (
                    "Chain",
                    "Address / mint",
                    "Decimals",
                    "Total supply",
                    "Excluded",
                    "Multiplier",
                    "Circulating shares",
                    "Error",
                ),
                [_deployment_row(d) for d in t.deployments],
                ' class="deployments"',
            )
        )
    if t.attestations:
        rows = [
            [
                _td(a.custodian),
                _td(a.account),
                _td(a.file, "mono"),
                _td(iso(a.as_of)),
                _td(fmt_short(a.quantity), "num"),
                _td(fmt_short(a.unavailable) if a.unavailable else "", "num"),
                _td("stale" if a.stale else "fresh"),
                _td(a.signature or ""),
            ]
            for a in t.attestations
        ]
        out.extend(
            _table(
                (
                    "Custodian",
                    "Account",
                    "File",
                    "As of",
                    "Quantity",
                    "Not available",
                    "Freshness",
                    "Signature",
                ),
                rows,
                ' class="attestations"',
            )
        )
    out.append("</section>")
    return out


def _scale(lo: float, hi: float, a: float, b: float) -> tuple[float, float]:
    """Map [lo, hi] onto [a, b] (a flat range onto the middle)."""
    if hi <= lo:
        return 0.0, (a + b) / 2
    k = (b - a) / (hi - lo)
    return k, a - lo * k


def chart(symbol: str, points: Sequence[HistoryPoint]) -> list[str]:
    """An inline SVG chart of a token's on-chain and custody series."""
    width, height, left, right, top, bottom = 720, 240, 90, 16, 16, 36
    values = [v for _, o, c in points for v in (o, c) if v is not None]
    times = [p[0].timestamp() for p in points]
    if not values or not times:
        return [f'<p class="muted">{_e(symbol)}: no figures in the history.</p>']
    vmin, vmax = min(values), max(values)
    kx, bx = _scale(min(times), max(times), left, width - right)
    ky, by = _scale(float(vmin), float(vmax), height - bottom, top)
    out = [
        f'<svg class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(symbol)}: on-chain and custody shares over time">',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#8c959f"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#8c959f"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">'
        f"{_e(fmt_short(vmax))}</text>",
        f'<text x="{left - 6}" y="{height - bottom}" text-anchor="end" font-size="11">'
        f"{_e(fmt_short(vmin))}</text>",
        f'<text x="{left}" y="{height - 12}" font-size="11">'
        f"{_e(iso(points[0][0].replace(microsecond=0)))}</text>",
        f'<text x="{width - right}" y="{height - 12}" text-anchor="end" font-size="11">'
        f"{_e(iso(points[-1][0].replace(microsecond=0)))}</text>",
    ]
    for kind, colour in (("onchain", "#0969da"), ("custody", "#1a7f37")):
        segments: list[list[tuple[float, float, datetime, Decimal]]] = [[]]
        for when, onchain, custody in points:
            v = onchain if kind == "onchain" else custody
            if v is None:  # unknown: the line breaks here
                segments.append([])
                continue
            segments[-1].append((when.timestamp() * kx + bx, float(v) * ky + by, when, v))
        for seg in segments:
            if len(seg) > 1:
                coords = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in seg)
                out.append(
                    f'<polyline class="{kind}" fill="none" stroke="{colour}" '
                    f'stroke-width="2" points="{coords}"/>'
                )
            for x, y, when, figure in seg:
                out.append(
                    f'<circle class="{kind}" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                    f"<title>{_e(kind)} {_e(fmt_short(figure))} at {_e(iso(when))}</title>"
                    "</circle>"
                )
    out.append("</svg>")
    return out


def render_html(result: AuditResult, options: Options, history: History | None = None) -> str:
    """The report; `history` (symbol -> points, oldest first) adds a chart per symbol."""
    gate = gate_of(result)
    failed = set(gate.failed)
    code = result.exit_code
    title = f"xstock-audit: {verdict(result)} (exit {code})"
    generated = iso(result.generated_at.replace(microsecond=0))
    counts = ", ".join(f"{n} {s.value}" for s in Status if (n := result.summary.get(s, 0)))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
        f"<title>{_e(title)} — {_e(generated)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>xstock-audit report</h1>",
        f'<p class="verdict v{code if code in (0, 1, 3) else 3}" id="verdict">'
        f"{_e(verdict(result))} (exit {code})</p>",
        f'<p class="muted">Generated at {_e(generated)}. {len(result.tokens)} token(s): '
        f"{_e(counts or 'none')}.</p>",
        "</header>",
        '<section id="tokens">',
        "<h2>Tokens</h2>",
    ]
    marks: dict[str, str] = {}
    rows: list[str] = []
    for t in result.tokens:
        if gate.ignore_of(t.symbol) is not None:
            mark, cls = "ignored", "ignored"
        elif t.symbol in failed:
            mark, cls = "FAIL", "fail"
        else:
            mark, cls = "ok", "ok"
        marks[t.symbol] = mark
        rows.append(
            f'<tr class="{cls}">'
            + _td(t.symbol)
            + _td(t.isin, "mono")
            + _td(_amount(t.onchain), "num")
            + _td(_amount(t.custody), "num")
            + _td(_signed(t.difference), "num")
            + f'<td><span class="status s-{t.status.value}">{t.status.value}</span>'
            f'<span class="mark">{mark}</span></td></tr>'
        )
    out.append('<table id="token-table">')
    out.append(
        "<thead><tr><th>Token</th><th>ISIN</th><th>On-chain shares</th><th>Custody shares</th>"
        "<th>Difference</th><th>Status</th></tr></thead>"
    )
    out.extend(["<tbody>", *rows, "</tbody>", "</table>", "</section>"])

    out.extend(['<section id="chains">', "<h2>Chains</h2>"])
    chain_rows: list[list[str]] = []
    for name, read in result.chains.items():
        pin = read.pin
        notes = "; ".join(text.notes(read.notes))
        if pin is None:
            error = _td(read.error or "", "mono")
            chain_rows.append([_td(name), _td("not read"), _td(UNKNOWN), error, _td(notes)])
        else:
            chain_rows.append(
                [
                    _td(name),
                    _td(f"{pin.unit} {pin.number}"),
                    _td(iso(pin.time)),
                    _td(pin.rpc, "mono"),
                    _td(notes),
                ]
            )
    if chain_rows:
        out.extend(_table(("Chain", "Read at", "Time", "RPC / error", "Notes"), chain_rows))
    else:
        out.append('<p class="muted">No chain was read.</p>')
    out.append("</section>")

    out.extend(['<section id="gate">', "<h2>Gate</h2>", "<ul>"])
    out.append(f"<li>Fails on: {_e(', '.join(s.lower() for s in gate.fail_on) or 'nothing')}</li>")
    out.append(f"<li>Failed: {_e(', '.join(gate.failed) or 'none')}</li>")
    if gate.ignored:
        out.append("<li>Ignored:<ul>")
        out.extend(f"<li><b>{_e(ig.symbol)}</b>: {_e(ig.describe())}</li>" for ig in gate.ignored)
        out.append("</ul></li>")
    else:
        out.append("<li>Ignored: none</li>")
    out.extend(["</ul>", "</section>"])

    if history:
        out.extend(['<section id="history">', "<h2>History</h2>"])
        out.append(
            '<p class="legend"><span class="k-onchain">● on-chain shares</span>'
            '<span class="k-custody">● custody shares</span></p>'
        )
        for symbol, points in history.items():
            out.append(f"<h3>{_e(symbol)}</h3>")
            out.extend(chart(symbol, points))
        out.append("</section>")

    out.extend(['<section id="details">', "<h2>Per token</h2>"])
    for t in result.tokens:
        out.extend(_token_section(t, marks[t.symbol]))
    out.extend(["</section>", "</body>", "</html>"])
    return "\n".join(out) + "\n"


def render(result: AuditResult, options: Options) -> str:
    return render_html(result, options)


class HtmlFormat(ReportFormat):
    name = "html"
    machine_readable = True

    def render(self, result: AuditResult, options: Options) -> str:
        return render_html(result, options)


FORMAT = HtmlFormat()
