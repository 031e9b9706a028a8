"""The gate: --fail-on, ignores, planned mints, options from the environment, extra outputs
and --notify. Pure tests of the rules first, then the installed CLI against anvil and the
local Solana node (the world of tests/support/world.py: custody equals supply)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from xstock_audit import policy
from xstock_audit.chains import ChainRead, DeploymentSupply, Pin
from xstock_audit.custody import CustodyBook, Holding, Statement
from xstock_audit.errors import InputError
from xstock_audit.reconcile import PlannedMint, Status, reconcile_token
from xstock_audit.registry import Token

NOW = datetime(2026, 11, 21, tzinfo=UTC)
ISIN = "US88160R1014"
ADDR = "0x8aD3c73F833d3F9A523aB01476625F269aEB7Cf0"


# --- the rules ---------------------------------------------------------------------------------


def test_default_gate_fails_on_under_and_incomplete_statuses() -> None:
    g = policy.decide([("A", "BACKED"), ("B", "OVER"), ("C", "STALE")])
    assert (g.failed, g.exit_code, g.passed) == (("C",), 3, False)
    g = policy.decide([("A", "UNDER"), ("C", "ERROR")])
    assert (g.failed, g.exit_code) == (("A", "C"), 1)
    assert policy.decide([("A", "BACKED"), ("B", "OVER")]).exit_code == 0


def test_over_fails_only_when_named_and_an_ignored_token_never_fails() -> None:
    assert policy.decide([("B", "OVER")], ["over"]).exit_code == 3
    ig = policy.Ignore("A", "custodian migration")
    g = policy.decide([("A", "UNDER"), ("B", "STALE")], ["under"], [ig])
    assert (g.failed, g.ignored, g.exit_code) == ((), (ig,), 0)


def test_fail_on_parsing() -> None:
    assert policy.parse_fail_on("under, Over,under") == ("UNDER", "OVER")
    with pytest.raises(ValueError, match="unknown status 'shorted'"):
        policy.parse_fail_on("under,shorted")


def test_ignore_parsing() -> None:
    today = date(2026, 11, 21)
    ig = policy.parse_ignore("NVDAx:ticket OPS-42: custodian move:2026-12-01", today)
    assert (ig.symbol, ig.reason, ig.until) == (
        "NVDAx",
        "ticket OPS-42: custodian move",
        date(2026, 12, 1),
    )
    assert policy.parse_ignore("NVDAx:no date", today).until is None
    with pytest.raises(ValueError, match="expired on 2026-11-20"):
        policy.parse_ignore("NVDAx:late:2026-11-20", today)
    for bad in ("NVDAx", "NVDAx:", ":reason", "NVDAx::2026-12-01"):
        with pytest.raises(ValueError):
            policy.parse_ignore(bad, today)


def test_mint_parsing() -> None:
    chains = {"A": ["evm"], "B": ["evm", "sol"]}
    assert policy.parse_mint("A:100", chains) == ("A", "evm", Decimal(100))
    assert policy.parse_mint("B:0.5@sol", chains) == ("B", "sol", Decimal("0.5"))
    with pytest.raises(ValueError, match="B is on evm, sol; name one: B:1@evm"):
        policy.parse_mint("B:1", chains)
    with pytest.raises(ValueError, match="no deployment on 'base'"):
        policy.parse_mint("B:1@base", chains)
    with pytest.raises(ValueError, match="no token has symbol 'C'"):
        policy.parse_mint("C:1", chains)
    for bad in ("A:0", "A:-1", "A:1e3", "A:abc", "A"):
        with pytest.raises(ValueError):
            policy.parse_mint(bad, chains)


def _token(shares_per_token: str = "1") -> Token:
    return Token.model_validate(
        {
            "symbol": "T",
            "isin": ISIN,
            "custodian": "c",
            "shares_per_token": shares_per_token,
            "deployments": [{"chain": "e", "address": ADDR}],
        }
    )


def _book(quantity: str) -> CustodyBook:
    st = Statement("A", NOW - timedelta(hours=1), (Holding(ISIN, Decimal(quantity)),), "f")
    return CustodyBook("c", ("f",), {"A": st})


def _reads(circulating: str, multiplier: str = "1", applied: bool = False) -> dict[str, Any]:
    supply = DeploymentSupply(
        "e",
        ADDR,
        decimals=6,
        circulating=Decimal(circulating),
        multiplier=Decimal(multiplier),
        multiplier_applied=applied,
    )
    return {"e": ChainRead("e", Pin("e", "evm", 1, NOW, "h"), {ADDR: supply})}


def test_a_planned_mint_custody_does_not_cover_is_under() -> None:
    t = reconcile_token(
        _token(),
        _reads("1000"),
        _book("1000"),
        timedelta(days=1),
        NOW,
        mints=[PlannedMint("e", Decimal("0.5"))],
    )
    assert (t.status, t.onchain, t.difference) == (Status.UNDER, Decimal("1000.5"), Decimal("-0.5"))
    assert t.planned_mints == (PlannedMint("e", Decimal("0.5"), Decimal("0.5")),)
    covered = reconcile_token(
        _token(),
        _reads("1000"),
        _book("1000.5"),
        timedelta(days=1),
        NOW,
        mints=[PlannedMint("e", Decimal("0.5"))],
    )
    assert covered.status is Status.BACKED


def test_a_planned_mint_counts_in_shares() -> None:
    """A ScaledUiAmount mint's tokens count x the multiplier; shares_per_token applies."""
    t = reconcile_token(
        _token("2"),
        _reads("300", multiplier="1.5", applied=True),
        _book("630"),
        timedelta(days=1),
        NOW,
        mints=[PlannedMint("e", Decimal("10"))],
    )
    # 10 tokens x 1.5 (multiplier in force) x 2 shares per token = 30 shares, on top of
    # 300 circulating x 2 = 600
    assert t.planned_mints[0].shares == Decimal(30)
    assert (t.onchain, t.status) == (Decimal(630), Status.BACKED)


REGISTRY = """version: 1
chains:
  e: {{type: evm, chain_id: 1, rpc: ["http://127.0.0.1:9"]}}
custodians:
  c: {{attestations: ["*.json"], max_age: 1d}}
policy:
  ignore:
    - {{symbol: {symbol}, reason: "ticket OPS-42", until: {until}}}
tokens:
  - symbol: T
    isin: {isin}
    custodian: c
    deployments: [{{chain: e, address: "{addr}"}}]
"""


@pytest.mark.parametrize(
    ("symbol", "until", "field", "message"),
    [
        ("T", "2020-01-01", "until", "the ignore of T expired on 2020-01-01"),
        ("X", "2099-01-01", "symbol", "no token has symbol 'X' to ignore"),
    ],
)
def test_a_registry_ignore_expired_or_unknown_is_an_input_error(
    tmp_path: Path, symbol: str, until: str, field: str, message: str
) -> None:
    from xstock_audit.registry import load

    path = tmp_path / "r.yaml"
    path.write_text(REGISTRY.format(symbol=symbol, until=until, isin=ISIN, addr=ADDR))
    with pytest.raises(InputError) as info:
        load(path)
    assert info.value.line == 8  # the ignore entry's row
    assert info.value.field == f"policy.ignore[0].{field}"
    assert message in info.value.message


# --- the installed CLI against local chains -----------------------------------------------------


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A webhook: its URL (with a secret in the path), the bodies posted, and the list whose
    true entries make it answer HTTP 500."""
    from support.localhttp import Webhook

    with Webhook() as w:
        yield w.url("/hooks/T0KEN-SECRET"), w.bodies, w.fail


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from support.evm import make_node
    from support.world import build_on

    from xstock_audit.sandbox.solana import SolanaNode

    folder = tmp_path_factory.mktemp("gate")
    with make_node("anvil") as evm, SolanaNode() as sol:
        yield build_on(folder, evm, sol)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    from support.cli import CLI

    p = subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


@pytest.mark.slow
def test_mint_ignore_and_fail_on_through_the_cli(world: Any) -> None:
    reg = str(world.registry)
    p = _run("check", reg, "-f", "json")
    assert p.returncode == 0, p.stderr
    # one token more on Solana than custody holds: the gate refuses the mint
    p = _run("check", reg, "-f", "json", "--mint", "TK1:1@sol")
    doc = json.loads(p.stdout)
    assert p.returncode == 1
    tk1 = next(t for t in doc["tokens"] if t["symbol"] == "TK1")
    assert tk1["status"] == "UNDER"
    ((mint),) = tk1["planned_mints"]
    assert (mint["chain"], Decimal(mint["amount"]), Decimal(mint["shares"])) == ("sol", 1, 1)
    assert Decimal(tk1["onchain"]) == world.onchain["TK1"] + 1
    assert doc["gate"]["failed"] == ["TK1"]
    # the same shortfall, ignored with a reason: exit 0, still UNDER, the ignore in the report
    p = _run("check", reg, "-f", "json", "--mint", "TK1:1@sol", "--ignore", "TK1:dry run")
    doc = json.loads(p.stdout)
    assert p.returncode == 0
    assert doc["gate"]["ignored"] == [
        {"symbol": "TK1", "reason": "dry run", "until": None, "source": "--ignore"}
    ]
    assert next(t for t in doc["tokens"] if t["symbol"] == "TK1")["status"] == "UNDER"
    # UNDER not among the failing statuses: exit 0
    p = _run("check", reg, "-f", "json", "--mint", "TK1:1@sol", "--fail-on", "error")
    assert p.returncode == 0
    # a mint that needs a chain, an unknown symbol, an expired ignore: exit 2, no report
    for args, message in [
        (("--mint", "TK1:1"), "TK1 is on evm, sol"),
        (("--mint", "NOPE:1"), "no token has symbol 'NOPE'"),
        (("--ignore", "TK1:late:2020-01-01"), "expired on 2020-01-01"),
        (("--fail-on", "sometimes"), "unknown status 'sometimes'"),
    ]:
        p = _run("check", reg, "-f", "json", *args)
        assert (p.returncode, p.stdout) == (2, ""), p.stderr
        assert message in p.stderr


@pytest.mark.slow
def test_options_from_the_environment(world: Any, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    p = _run(
        "check",
        env={
            "XSTOCK_AUDIT_REGISTRY": str(world.registry),
            "XSTOCK_AUDIT_FORMAT": "json",
            "XSTOCK_AUDIT_OUTPUT_JSON": str(out),
            "XSTOCK_AUDIT_MINT": "TK0:2@evm",
            "XSTOCK_AUDIT_IGNORE": "TK0:pre-mint rehearsal;TK1:other",
        },
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(out.read_text())
    assert doc == json.loads(p.stdout)
    # every ignore of a token of the run is shown, whatever its status
    assert [i["symbol"] for i in doc["gate"]["ignored"]] == ["TK0", "TK1"]
    assert doc["gate"]["failed"] == []
    tk0 = next(t for t in doc["tokens"] if t["symbol"] == "TK0")
    assert (tk0["status"], tk0["planned_mints"][0]["amount"]) == ("UNDER", "2")


@pytest.mark.slow
def test_output_options_are_checked_before_any_work(world: Any, tmp_path: Path) -> None:
    p = _run(
        "check",
        str(world.registry),
        "--output-json",
        str(tmp_path),
        "--history",
        str(tmp_path / "no" / "h.db"),
        "--notify",
        "ftp://x",
    )
    assert (p.returncode, p.stdout) == (2, "")
    lines = p.stderr.splitlines()
    assert lines == [
        f"error: --output-json {tmp_path}: is a directory",
        f"error: --history {tmp_path / 'no' / 'h.db'}: folder {tmp_path / 'no'} does not exist",
        "error: --notify: ftp://x is not an http(s) URL with a host",
    ]


@pytest.mark.slow
def test_notify_on_failure_with_retry_and_no_secret(world: Any, hook: Any) -> None:
    url, bodies, fail = hook
    reg = str(world.registry)
    p = _run("check", reg, "-f", "json", "--notify", url)
    assert p.returncode == 0 and bodies == []  # passed, no history: nothing to say
    fail.append(1)  # the first post gets HTTP 500: retried
    p = _run("check", reg, "-f", "json", "--notify", url, "--mint", "TK0:1@evm")
    assert p.returncode == 1
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    body = bodies[0]
    assert (body["exit_code"], body["failed"], body["changed"]) == (1, ["TK0"], [])
    assert "TK0" in body["text"] and body["report"]["gate"]["failed"] == ["TK0"]
    assert "notification sent" in p.stderr
    assert "T0KEN-SECRET" not in json.dumps(body) + p.stderr + p.stdout


def test_the_step_summary_is_cut_at_a_line_under_the_limit() -> None:
    from xstock_audit.checkrun import step_summary

    text = "".join(f"| TK{i} | BACKED |\n" for i in range(1000))
    assert step_summary(text, limit=10**6) == text
    cut = step_summary(text, limit=2000)
    assert len(cut.encode()) <= 2000
    body, note = cut.split("\n\n*(cut here", 1)
    assert body.endswith("|\n") and text.startswith(body) and "limited to 1 MiB" in note


@pytest.mark.slow
def test_several_outputs_in_one_run_and_the_step_summary(world: Any, tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from prometheus_client.parser import text_string_to_metric_families

    files = {k: tmp_path / f"r.{k}" for k in ("json", "junit", "markdown", "prom", "html")}
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    args = [a for k, p in files.items() for a in (f"--output-{k}", str(p))]
    p = _run("check", str(world.registry), "-q", *args, env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert p.returncode == 0, p.stderr
    doc = json.loads(files["json"].read_text())
    assert {t["symbol"] for t in doc["tokens"]} == {"TK0", "TK1"}
    suite = ET.parse(files["junit"]).getroot()
    assert [c.get("name") for c in suite.iter("testcase")] == ["TK0", "TK1"]
    metrics = {
        (s.name, s.labels.get("symbol"), s.labels.get("status")): s.value
        for f in text_string_to_metric_families(files["prom"].read_text())
        for s in f.samples
    }
    assert metrics[("xstock_audit_status", "TK0", "BACKED")] == 1
    assert metrics[("xstock_audit_exit_code", None, None)] == 0
    first_success = metrics[("xstock_audit_last_success_timestamp_seconds", None, None)]
    assert "<table" in files["html"].read_text() and "TK1" in files["markdown"].read_text()
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "TK0" in text and "TK1" in text
    # a failing run keeps the last success's time from the file it replaces
    p = _run(
        "check",
        str(world.registry),
        "-q",
        "--output-prom",
        str(files["prom"]),
        "--mint",
        "TK0:1@evm",
    )
    assert p.returncode == 1
    metrics = {
        s.name: s.value
        for f in text_string_to_metric_families(files["prom"].read_text())
        for s in f.samples
        if not s.labels
    }
    assert metrics["xstock_audit_exit_code"] == 1
    assert metrics["xstock_audit_last_success_timestamp_seconds"] == first_success
    assert metrics["xstock_audit_last_run_timestamp_seconds"] >= first_success


@pytest.mark.slow
def test_history_and_notify_on_a_status_change(world: Any, hook: Any, tmp_path: Path) -> None:
    url, bodies, _ = hook
    db, html = tmp_path / "h.db", tmp_path / "r.html"
    reg = str(world.registry)
    common = ("-q", "--history", str(db), "--notify", url, "--output-html", str(html))
    assert _run("check", reg, *common).returncode == 0
    assert bodies == []  # first run: nothing to compare with, and the gate passed
    # TK0 fails the gate, and it was BACKED in the previous run: both reasons to say so
    assert _run("check", reg, *common, "--mint", "TK0:1@evm").returncode == 1
    assert [b["changed"] for b in bodies] == [[{"symbol": "TK0", "from": "BACKED", "to": "UNDER"}]]
    # ignored now: the gate passes, but TK0's status is still UNDER: unchanged, no message
    p = _run("check", reg, *common, "--mint", "TK0:1@evm", "--ignore", "TK0:rehearsal")
    assert p.returncode == 0 and len(bodies) == 1
    # back to BACKED: a change, so a message although the gate passed
    assert _run("check", reg, *common).returncode == 0
    assert bodies[-1]["changed"] == [{"symbol": "TK0", "from": "UNDER", "to": "BACKED"}]
    assert bodies[-1]["failed"] == []
    from xstock_audit import history

    assert history.runs_count(db) == 4
    assert 'id="history"' in html.read_text()  # the chart drawn from the four runs
    p = _run("history", "--db", str(db), "--symbol", "TK0", "--format", "json")
    assert p.returncode == 0, p.stderr
    statuses = [pt["status"] for s in json.loads(p.stdout)["tokens"] for pt in s["points"]]
    assert statuses == ["BACKED", "UNDER", "UNDER", "BACKED"]


@pytest.mark.slow
def test_a_failed_notification_is_reported_and_keeps_the_exit_code(world: Any) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = _run(
        "check",
        str(world.registry),
        "-f",
        "json",
        "--mint",
        "TK0:1@evm",
        "--notify",
        f"http://127.0.0.1:{port}/hooks/T0KEN-SECRET",
    )
    assert p.returncode == 1  # the shortfall, not the notification's failure
    assert json.loads(p.stdout)["gate"]["failed"] == ["TK0"]
    assert (
        "notification to http://127.0.0.1:" in p.stderr and "failed after 3 attempt(s)" in p.stderr
    )
    assert "T0KEN-SECRET" not in p.stderr


def test_at_parsing() -> None:
    from xstock_audit.checkrun import parse_at

    assert parse_at("2026-11-20T23:59:59Z") == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
    assert parse_at("2026-11-21T00:59:59+01:00") == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
    assert parse_at("1763683199") == datetime(2025, 11, 20, 23, 59, 59, tzinfo=UTC)
    for bad, message in [
        ("garbage", "not an ISO 8601 timestamp"),
        ("2026-11-20T23:59:59", "has no timezone"),
        ("2026-11-20", "has no time of day"),
        ("2099-01-01T00:00:00Z", "is in the future"),
        ("9" * 30, "out of range"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_at(bad)
