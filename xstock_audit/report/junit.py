"""The JUnit XML report: one test case per token, for CI test-report views.

One `<testsuite name="xstock-audit">` (the document's root) with `tests`, `failures`,
`errors`, `skipped` and `timestamp` (the run's `generated_at`, ISO 8601 UTC); one
`<testcase classname="xstock-audit" name="SYMBOL">` per token, in report order. The outcome
follows the gate, so the test report and the exit code never disagree:

- a token that fails the gate: `<failure>` when it is UNDER (or OVER with `over` in
  `fail_on`): the backing assertion failed; `<error>` when it is ERROR, STALE or UNVERIFIED:
  the audit of the token could not be completed;
- an ignored token: `<skipped>`, its message the ignore (reason, until, source);
- any other token passes (BACKED, OVER, or a status not in `fail_on`).

Each outcome element carries `type` (the status) and `message` (one line: the status and the
figures); its text is the figures and then the token's messages (`text.token_messages`), one a
line. A passing token with messages (a scheduled multiplier change, a status not in `fail_on`)
has them in `<system-out>`. Built with `xml.etree`, so every value is escaped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal

from ..amounts import fmt_short
from ..reconcile import AuditResult, Status, TokenResult
from . import Options, ReportFormat, gate_of, iso, token_messages

SUITE = "xstock-audit"
UNKNOWN = "unknown"

#: characters XML 1.0 cannot carry at all, even escaped (a control byte in a custodian's file
#: name or an RPC error): replaced by U+FFFD so that the document always parses
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _amount(value: Decimal | None) -> str:
    return UNKNOWN if value is None else fmt_short(value)


def figures(t: TokenResult) -> str:
    """One line: the token's figures (an unknown amount says so, never 0)."""
    return (
        f"{t.symbol} ({t.isin}) {t.status.value}: on-chain {_amount(t.onchain)}, custody "
        f"{_amount(t.custody)}, difference {_amount(t.difference)}, tolerance "
        f"{fmt_short(t.tolerance)} shares"
    )


def _body(t: TokenResult) -> str:
    return "\n".join([figures(t), *token_messages(t)])


def document(result: AuditResult) -> ET.Element:
    gate = gate_of(result)
    failed = set(gate.failed)
    suite = ET.Element("testsuite", name=SUITE)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for t in result.tokens:
        case = ET.SubElement(suite, "testcase", classname=SUITE, name=_xml(t.symbol))
        ignore = gate.ignore_of(t.symbol)
        if ignore is not None:
            counts["skipped"] += 1
            message = f"{t.status.value}: {ignore.describe()}"
            el = ET.SubElement(case, "skipped", message=_xml(message))
            el.text = _xml(_body(t))
        elif t.symbol in failed:
            kind = "failure" if t.status in (Status.UNDER, Status.OVER) else "error"
            counts["failures" if kind == "failure" else "errors"] += 1
            el = ET.SubElement(case, kind, type=t.status.value, message=_xml(figures(t)))
            el.text = _xml(_body(t))
        elif token_messages(t):
            ET.SubElement(case, "system-out").text = _xml(_body(t))
    suite.set("tests", str(len(result.tokens)))
    for key, n in counts.items():
        suite.set(key, str(n))
    suite.set("timestamp", iso(result.generated_at.replace(microsecond=0)))
    return suite


def render(result: AuditResult, options: Options) -> str:
    root = document(result)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


class JUnitFormat(ReportFormat):
    name = "junit"
    machine_readable = True

    def render(self, result: AuditResult, options: Options) -> str:
        return render(result, options)


FORMAT = JUnitFormat()
