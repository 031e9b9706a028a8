"""The Prometheus textfile, parsed back with prometheus_client's reference parser.

Expected values come from the fixtures (tests/report_fixtures.py) worked out by hand: e.g. the
statement of 2026-03-02T09:00Z is 5 h 30 min 15.654321 s older than the run's start
(14:30:15.654321), 19815.654321 s. No node: not `slow`.
"""

from __future__ import annotations

import calendar
import dataclasses
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from report_fixtures import WEIRD_SYMBOL, five_tokens, gated
from test_report_formats import AAPLX, GENERATED, token

from xstock_audit.reconcile import AuditResult, Status
from xstock_audit.report import Options, renderer
from xstock_audit.report.prometheus import escape_label, render

Key = tuple[str, tuple[tuple[str, str], ...]]

#: 2026-03-02T14:30:15Z
RUN_TIME = calendar.timegm((2026, 3, 2, 14, 30, 15, 0, 0, 0))

FAMILIES = {
    "xstock_audit_onchain_shares",
    "xstock_audit_custody_shares",
    "xstock_audit_coverage_ratio",
    "xstock_audit_status",
    "xstock_audit_attestation_age_seconds",
    "xstock_audit_ignored",
    "xstock_audit_chain_height",
    "xstock_audit_chain_time_seconds",
    "xstock_audit_last_run_timestamp_seconds",
    "xstock_audit_last_success_timestamp_seconds",
    "xstock_audit_exit_code",
}


def parse(text: str) -> tuple[dict[str, tuple[str, str]], dict[Key, float]]:
    """(family -> (type, help), (sample name, sorted labels) -> value)."""
    families: dict[str, tuple[str, str]] = {}
    samples: dict[Key, float] = {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = (fam.type, fam.documentation)
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = s.value
    return families, samples


def tok(symbol: str, isin: str, **extra: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"symbol": symbol, "isin": isin, **extra}.items()))


def of(samples: dict[Key, float], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in samples.items() if n == "xstock_audit_" + name}


def test_every_family_is_a_documented_gauge() -> None:
    text = render(gated(), Options(), previous_text=None)
    families, _ = parse(text)
    # the gated run failed and no previous file was given: last_success is unknown, left out
    assert set(families) == FAMILIES - {"xstock_audit_last_success_timestamp_seconds"}
    for name, (kind, doc) in families.items():
        assert kind == "gauge", name
        assert doc, name
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text


def test_prometheus_figures_of_five_tokens() -> None:
    text = renderer("prometheus")(five_tokens(), Options())
    assert text.endswith("\n")
    _, samples = parse(text)
    aapl, tsla = tok("AAPLx", "US0378331005"), tok("TSLAx", "US88160R1014")
    nvda, spy = tok("NVDAx", "US67066G1040"), tok("SPYx", "US78462F1030")
    qqq = tok("QQQx", "US46090E1038")
    # QQQx's on-chain supply is unknown: no sample at all, never 0
    assert of(samples, "onchain_shares") == {aapl: 2050.5, tsla: 150, nvda: 500.0, spy: 10}
    assert of(samples, "custody_shares") == {
        aapl: 2050.5,
        tsla: 151.25,
        nvda: 500,
        spy: 10,
        qqq: 45,
    }
    ratios = of(samples, "coverage_ratio")
    assert set(ratios) == {aapl, tsla, nvda, spy}
    assert ratios[aapl] == 1.0 and ratios[spy] == 1.0
    assert ratios[tsla] == pytest.approx(151.25 / 150, rel=1e-15)
    # the exact figures are in the text, as decimal strings (a float would print 500.0)
    lines = text.splitlines()
    assert (
        'xstock_audit_onchain_shares{symbol="NVDAx",isin="US67066G1040"} 500.000000000000000001'
        in lines
    )
    # 500 / 500.000000000000000001 = 1 - 2e-21 + 4e-42 - ...: to 34 significant digits
    assert (
        'xstock_audit_coverage_ratio{symbol="NVDAx",isin="US67066G1040"} 0.999999999999999999998'
        in lines
    )
    values = [line.rsplit(" ", 1)[1] for line in lines if not line.startswith("#")]
    assert not [v for v in values if "e" in v.lower()]  # plain notation, never an exponent

    statuses = of(samples, "status")
    assert len(statuses) == 5 * 6
    expected_status = {
        "AAPLx": "BACKED",
        "TSLAx": "OVER",
        "NVDAx": "UNDER",
        "SPYx": "STALE",
        "QQQx": "ERROR",
    }
    for labels, value in statuses.items():
        d = dict(labels)
        assert value == (1.0 if expected_status[d["symbol"]] == d["status"] else 0.0), labels
    assert {dict(k)["status"] for k in statuses} == {s.value for s in Status}

    assert of(samples, "attestation_age_seconds") == {
        aapl: 19815.654321,
        tsla: 19815.654321,
        nvda: 19815.654321,
        qqq: 19815.654321,
        spy: 397815.654321,  # 2026-02-26T00:00Z: 4 d 14 h 30 min 15.654321 s before
    }
    assert of(samples, "ignored") == {aapl: 0, tsla: 0, nvda: 0, spy: 0, qqq: 0}
    # base was not read: no height, no time
    assert of(samples, "chain_height") == {
        (("chain", "ethereum"),): 21_000_123,
        (("chain", "solana"),): 312_456_789,
    }
    assert of(samples, "chain_time_seconds") == {
        (("chain", "ethereum"),): RUN_TIME - 16,  # 14:29:59
        (("chain", "solana"),): RUN_TIME - 13,  # 14:30:02
    }
    assert of(samples, "last_run_timestamp_seconds") == {(): RUN_TIME}
    assert of(samples, "exit_code") == {(): 1}
    assert of(samples, "last_success_timestamp_seconds") == {}  # failed, nothing carried


def test_last_success_is_this_run_when_the_gate_passes() -> None:
    passing = AuditResult(GENERATED, chains={}, tokens=(AAPLX,))
    previous = "xstock_audit_last_success_timestamp_seconds 1000\n"
    for prev in (None, previous):
        _, samples = parse(render(passing, Options(), previous_text=prev))
        assert of(samples, "last_success_timestamp_seconds") == {(): RUN_TIME}
        assert of(samples, "exit_code") == {(): 0}


def test_last_success_is_carried_over_from_the_previous_file_when_the_gate_fails() -> None:
    passing = AuditResult(GENERATED, chains={}, tokens=(AAPLX,))
    earlier = dataclasses.replace(passing, generated_at=GENERATED.replace(day=1))
    first = render(earlier, Options())
    # the run of the day before passed; today's fails: its time is carried, exactly
    text = render(gated(), Options(), previous_text=first)
    _, samples = parse(text)
    assert of(samples, "last_success_timestamp_seconds") == {(): RUN_TIME - 86_400}
    assert of(samples, "last_run_timestamp_seconds") == {(): RUN_TIME}
    assert of(samples, "exit_code") == {(): 1}
    # and again from that file: still the day before
    _, again = parse(render(gated(), Options(), previous_text=text))
    assert of(again, "last_success_timestamp_seconds") == {(): RUN_TIME - 86_400}


@pytest.mark.parametrize(
    "previous",
    [
        "",
        "# nothing here\n",
        "xstock_audit_last_success_timestamp_seconds NaN\n",
        "xstock_audit_last_success_timestamp_seconds not-a-number\n",
        "xstock_audit_last_success_timestamp_seconds_other 5\n",
    ],
)
def test_last_success_unknown_is_left_out(previous: str) -> None:
    text = render(gated(), Options(), previous_text=previous)
    assert "last_success" not in text
    parse(text)


def test_ignored_token_and_label_escaping() -> None:
    _, samples = parse(renderer("prometheus")(gated(), Options()))
    ignored = of(samples, "ignored")
    assert ignored[tok("NVDAx", "US67066G1040")] == 1
    assert ignored[tok(WEIRD_SYMBOL, "US0000000000")] == 0

    nasty = 'a"b\\c\nd'
    t = dataclasses.replace(AAPLX, symbol=nasty)
    text = render(AuditResult(GENERATED, chains={}, tokens=(t,)), Options())
    assert 'symbol="a\\"b\\\\c\\nd"' in text
    _, samples = parse(text)
    assert of(samples, "custody_shares") == {tok(nasty, "US0378331005"): 2050.5}
    assert escape_label(nasty) == 'a\\"b\\\\c\\nd'


def test_ratio_of_a_zero_supply() -> None:
    zero_onchain = token("ZEROx", "US0378331005", Status.OVER, "0", "3", "3")
    nothing = token("NONEx", "US88160R1014", Status.BACKED, "0", "0", "0")
    text = render(AuditResult(GENERATED, chains={}, tokens=(zero_onchain, nothing)), Options())
    _, samples = parse(text)
    # custody over nothing on chain is infinitely covered; 0/0 is not a number: left out
    assert of(samples, "coverage_ratio") == {tok("ZEROx", "US0378331005"): float("inf")}
    assert of(samples, "onchain_shares") == {
        tok("ZEROx", "US0378331005"): 0,
        tok("NONEx", "US88160R1014"): 0,
    }
    # no statement used: the age is unknown, left out
    assert of(samples, "attestation_age_seconds") == {}


def test_amounts_keep_every_place() -> None:
    t = dataclasses.replace(AAPLX, custody=Decimal("123456789012345678901234.000000000000000001"))
    text = render(AuditResult(GENERATED, chains={}, tokens=(t,)), Options())
    assert (
        'xstock_audit_custody_shares{symbol="AAPLx",isin="US0378331005"} '
        "123456789012345678901234.000000000000000001"
    ) in text.splitlines()
