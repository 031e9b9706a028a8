"""`xstock-audit check --format markdown|junit|prometheus|html`: the installed CLI finds the
formats through their entry points, and stdout carries the document alone.

The toy chain family of tests/plugins/toy, read from a toy JSON-RPC node on 127.0.0.1 (see
tests/test_plugins.py): ABCx is 120 on chain, XYZx 7; custody holds 119.5 ABC and 7 XYZ, so
ABCx is UNDER by 0.5 and XYZx BACKED.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_plugins import HEIGHT, _check, _registry, toy_node  # noqa: F401 (a fixture)
from test_report_html import parse as parse_html

pytestmark = pytest.mark.slow  # the installed CLI in subprocesses


@pytest.fixture
def registry(toy_node: str, tmp_path: Path) -> Path:  # noqa: F811
    return _registry(tmp_path, toy_node, "119.5")


def test_markdown(registry: Path) -> None:
    p = _check(registry, "--format", "markdown")
    assert p.returncode == 1, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "## xstock-audit: SHORTFALL (exit 1)"
    assert "| ABCx | US88160R1014 | 120 | 119.5 | -0.5 | UNDER **FAIL** |" in lines
    assert "| XYZx | US0378331005 | 7 | 7 | 0 | BACKED ok |" in lines
    assert any(line.startswith(f"| toychain | height {HEIGHT} |") for line in lines)


def test_junit(registry: Path) -> None:
    p = _check(registry, "--format", "junit")
    assert p.returncode == 1, p.stderr
    suite = ET.fromstring(p.stdout)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    abc, xyz = suite
    assert (abc.get("name"), abc[0].tag, abc[0].get("type")) == ("ABCx", "failure", "UNDER")
    assert (xyz.get("name"), list(xyz)) == ("XYZx", [])


def test_prometheus(registry: Path) -> None:
    p = _check(registry, "--format", "prometheus")
    assert p.returncode == 1, p.stderr
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(p.stdout)
        for s in fam.samples
    }
    abc = (("isin", "US88160R1014"), ("symbol", "ABCx"))
    assert samples[("xstock_audit_onchain_shares", abc)] == 120
    assert samples[("xstock_audit_custody_shares", abc)] == 119.5
    assert samples[("xstock_audit_status", (*abc[:1], ("status", "UNDER"), abc[1]))] == 1
    assert samples[("xstock_audit_chain_height", (("chain", "toychain"),))] == HEIGHT
    assert samples[("xstock_audit_exit_code", ())] == 1


def test_html(registry: Path) -> None:
    p = _check(registry, "--format", "html")
    assert p.returncode == 1, p.stderr
    page = parse_html(p.stdout)
    assert [r[0] for r in page.tables["token-table"]] == ["ABCx", "XYZx"]
