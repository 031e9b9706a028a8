"""The Markdown report: for pull-request comments and GitHub step summaries.

A heading with the verdict and exit code, the token table (symbol, ISIN, on-chain and custody
shares, difference, status with a plain-text marker: `ok`, `FAIL`, `ignored`), the chains
with the block or slot each was read at and its time, the messages per token, and the gate
(which statuses fail it, which tokens failed, which were ignored and why).

Amounts are printed as in the table format (trailing zeros dropped, exact); an amount that is
not known is `—`, never 0. Every value that comes from the registry, a chain or a custodian is
escaped: a `|` cannot break a table row, and `*`, `_`, `` ` ``, `[`, `<` and the like print as
themselves instead of becoming markup. No emoji, no HTML.
"""

from __future__ import annotations

import re
from decimal import Decimal

from .. import text
from ..amounts import fmt_short
from ..reconcile import AuditResult, Status
from . import Options, ReportFormat, gate_of, iso, token_messages, verdict

UNKNOWN = "—"

#: ASCII punctuation that can start or end inline Markdown (GFM), backslash-escaped: emphasis,
#: code, links and images, autolinks and raw HTML (`>` only quotes at the start of a line,
#: which no value is), strikethrough, table cells, entities, and
#: GitHub's @mentions and #references (a reason naming @someone must not notify them)
_SPECIAL = re.compile(r"([\\`*_\[\]<|~&@#])")
_LINE_BREAK = re.compile(r"\s*[\r\n]+\s*")


def escape(value: str) -> str:
    """A value as literal Markdown text on one line (safe in a table cell and a list item)."""
    return _SPECIAL.sub(r"\\\1", _LINE_BREAK.sub(" ", value))


def _amount(value: Decimal | None) -> str:
    return UNKNOWN if value is None else fmt_short(value)


def _signed(value: Decimal | None) -> str:
    if value is None:
        return UNKNOWN
    shown = fmt_short(value)
    return shown if shown.startswith("-") or shown == "0" else "+" + shown


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render(result: AuditResult, options: Options) -> str:
    gate = gate_of(result)
    failed = set(gate.failed)
    out = [f"## xstock-audit: {verdict(result)} (exit {result.exit_code})", ""]
    counts = ", ".join(f"{n} {s.value}" for s in Status if (n := result.summary.get(s, 0)))
    out.append(
        f"{len(result.tokens)} token(s): {counts or 'none'}. "
        f"Generated at {iso(result.generated_at.replace(microsecond=0))}."
    )
    out.append("")

    if result.tokens:
        out.append(
            _row(["Token", "ISIN", "On-chain shares", "Custody shares", "Difference", "Status"])
        )
        out.append("|---|---|--:|--:|--:|---|")
        for t in result.tokens:
            if gate.ignore_of(t.symbol) is not None:
                mark = "ignored"
            elif t.symbol in failed:
                mark = "**FAIL**"
            else:
                mark = "ok"
            out.append(
                _row(
                    [
                        escape(t.symbol),
                        escape(t.isin),
                        _amount(t.onchain),
                        _amount(t.custody),
                        _signed(t.difference),
                        f"{t.status.value} {mark}",
                    ]
                )
            )
        out.append("")

    if result.chains:
        out.extend(["### Chains", "", _row(["Chain", "Read at", "Time", "RPC"])])
        out.append("|---|---|---|---|")
        notes: list[str] = []
        for name, read in result.chains.items():
            pin = read.pin
            if pin is None:
                out.append(_row([escape(name), "not read", UNKNOWN, escape(read.error or "")]))
            else:
                out.append(
                    _row([escape(name), f"{pin.unit} {pin.number}", iso(pin.time), escape(pin.rpc)])
                )
            notes.extend(f"- {escape(name)}: {escape(m)}" for m in text.notes(read.notes))
        out.append("")
        if notes:
            out.extend([*notes, ""])

    messages = [
        f"- **{escape(t.symbol)}**: {escape(m)}" for t in result.tokens for m in token_messages(t)
    ]
    if messages:
        out.extend(["### Messages", "", *messages, ""])

    out.extend(["### Gate", ""])
    fail_on = ", ".join(s.lower() for s in gate.fail_on) or "nothing"
    out.append(f"- fails on: {fail_on}")
    out.append(f"- failed: {', '.join(escape(s) for s in gate.failed) or 'none'}")
    if gate.ignored:
        out.append("- ignored:")
        out.extend(f"  - **{escape(ig.symbol)}**: {escape(ig.describe())}" for ig in gate.ignored)
    else:
        out.append("- ignored: none")
    return "\n".join(out) + "\n"


class MarkdownFormat(ReportFormat):
    name = "markdown"
    machine_readable = True

    def render(self, result: AuditResult, options: Options) -> str:
        return render(result, options)


FORMAT = MarkdownFormat()
