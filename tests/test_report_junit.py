"""The JUnit report, parsed back with xml.etree: every count and every element.

The expected outcomes follow from the fixtures' statuses and gates (tests/report_fixtures.py)
by the documented rule: the gate's failing UNDER is a <failure>, its failing ERROR, STALE and
UNVERIFIED an <error>, an ignored token <skipped>, anything else passes. No node: not `slow`.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import date

from report_fixtures import IGNORE_REASON, WEIRD, WEIRD_MESSAGE, WEIRD_SYMBOL, five_tokens, gated
from test_report_formats import AAPLX, GENERATED, QQQ_MESSAGE, STALE_MESSAGE, TSLAX, token

from xstock_audit.policy import Gate, Ignore, decide
from xstock_audit.reconcile import AuditResult, Status
from xstock_audit.report import Options, renderer

OUTCOMES = ("failure", "error", "skipped")


def parse(result: AuditResult) -> ET.Element:
    text = renderer("junit")(result, Options())
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>\n")
    return ET.fromstring(text)


def outcome(case: ET.Element) -> tuple[str, ET.Element] | None:
    found = [(child.tag, child) for child in case if child.tag in OUTCOMES]
    assert len(found) <= 1, ET.tostring(case)
    return found[0] if found else None


def test_junit_five_tokens_default_gate() -> None:
    suite = parse(five_tokens())
    assert suite.tag == "testsuite"
    assert suite.attrib == {
        "name": "xstock-audit",
        "tests": "5",
        "failures": "1",
        "errors": "2",
        "skipped": "0",
        "timestamp": "2026-03-02T14:30:15Z",
    }
    cases = list(suite)
    assert [(c.tag, c.get("classname"), c.get("name")) for c in cases] == [
        ("testcase", "xstock-audit", s) for s in ("AAPLx", "TSLAx", "NVDAx", "SPYx", "QQQx")
    ]
    aapl, tsla, nvda, spy, qqq = cases
    assert list(aapl) == []  # BACKED, nothing to say: a bare passing test case
    # OVER passes; its scheduled multiplier change is said in system-out
    assert [c.tag for c in tsla] == ["system-out"]
    assert tsla[0].text is not None
    assert tsla[0].text.splitlines()[1] == (
        "ethereum: multiplier change scheduled: 1.5 -> 1.4985 at 2026-03-05T14:00:00Z"
    )

    kind, el = outcome(nvda) or ("", nvda)
    assert kind == "failure" and el.get("type") == "UNDER"
    assert el.get("message") == (
        "NVDAx (US67066G1040) UNDER: on-chain 500.000000000000000001, custody 500, "
        "difference -0.000000000000000001, tolerance 0 shares"
    )
    assert el.text == el.get("message")  # no messages: the figures alone

    kind, el = outcome(spy) or ("", spy)
    assert kind == "error" and el.get("type") == "STALE"
    assert el.text is not None and el.text.splitlines()[1:] == [STALE_MESSAGE]

    kind, el = outcome(qqq) or ("", qqq)
    assert kind == "error" and el.get("type") == "ERROR"
    assert "on-chain unknown" in (el.get("message") or "")  # never 0
    assert el.text is not None
    assert el.text.splitlines()[1:] == [
        QQQ_MESSAGE,
        "on-chain supply unknown: the deployments that were read hold 40 shares (a lower bound)",
    ]


def test_junit_gate_ignored_and_not_failing_statuses() -> None:
    suite = parse(gated())
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4",
        "failures": "1",
        "errors": "0",
        "skipped": "1",
    }
    cases = {c.get("name"): c for c in suite}
    assert list(cases) == ["AAPLx", "NVDAx", "SPYx", WEIRD_SYMBOL]
    kind, el = outcome(cases["NVDAx"]) or ("", suite)
    assert kind == "skipped"
    assert el.get("message") == f"UNDER: ignored until 2026-12-01 (registry): {IGNORE_REASON}"
    # STALE is not in fail_on: the test passes, the message still shows
    assert outcome(cases["SPYx"]) is None
    out = cases["SPYx"].find("system-out")
    assert out is not None and out.text is not None and STALE_MESSAGE in out.text
    # markup in values comes back as it went in
    kind, el = outcome(cases[WEIRD_SYMBOL]) or ("", suite)
    assert kind == "failure"
    assert el.text is not None and el.text.endswith(WEIRD_MESSAGE)


def test_junit_every_status_with_the_default_gate() -> None:
    statuses = list(Status)
    tokens = tuple(token(f"T{i}", "US0378331005", s, "1", "1", "0") for i, s in enumerate(statuses))
    result = AuditResult(GENERATED, chains={}, tokens=tokens)
    suite = parse(result)
    got = {c.get("name"): outcome(c) for c in suite}
    kinds = {name: None if o is None else o[0] for name, o in got.items()}
    assert kinds == {
        "T0": None,  # BACKED
        "T1": None,  # OVER
        "T2": "failure",  # UNDER
        "T3": "error",  # STALE
        "T4": "error",  # UNVERIFIED
        "T5": "error",  # ERROR
    }
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "3", "0")


def test_junit_over_fails_when_fail_on_says_so() -> None:
    tokens = (AAPLX, TSLAX)
    gate = decide([(t.symbol, t.status.value) for t in tokens], fail_on=("under", "over"))
    suite = parse(AuditResult(GENERATED, chains={}, tokens=tokens, gate=gate))
    kind, el = outcome(suite[1]) or ("", suite)
    assert (kind, el.get("type")) == ("failure", "OVER")
    assert suite.get("failures") == "1"


def test_junit_an_ignored_token_is_skipped_whatever_its_status() -> None:
    ig = Ignore(AAPLX.symbol, "reason <&>", date(2026, 12, 1), "--ignore")
    gate = Gate(fail_on=("UNDER",), failed=(), ignored=(ig,), exit_code=0)
    suite = parse(AuditResult(GENERATED, chains={}, tokens=(AAPLX,), gate=gate))
    kind, el = outcome(suite[0]) or ("", suite)
    assert kind == "skipped"
    assert el.get("message") == "BACKED: ignored until 2026-12-01 (--ignore): reason <&>"
    assert (suite.get("tests"), suite.get("skipped"), suite.get("failures")) == ("1", "1", "0")


def test_junit_no_tokens() -> None:
    suite = parse(AuditResult(GENERATED, chains={}, tokens=()))
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("0", "0", "0")
    assert list(suite) == []


def test_junit_control_characters_cannot_break_the_document() -> None:
    """XML 1.0 cannot carry NUL or ESC even escaped: they become U+FFFD, the rest stays."""
    bad = dataclasses.replace(WEIRD, messages=("file a\x00b\x1b[31m.json unreadable",))
    suite = parse(AuditResult(GENERATED, chains={}, tokens=(bad,)))
    kind, el = outcome(suite[0]) or ("", suite)
    assert kind == "failure"  # UNDER, default gate
    assert el.text is not None
    assert el.text.splitlines()[1] == "file a\ufffdb\ufffd[31m.json unreadable"
