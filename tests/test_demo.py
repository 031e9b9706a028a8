"""`xstock-audit demo` and `sandbox`: the installed process, its findings read from its JSON.

Expected figures come from the staged portfolio (see xstock_audit/sandbox/portfolio.py),
computed here from the amounts minted, not from the tool's output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from support.cli import CLI

pytestmark = pytest.mark.slow  # the CLI's demo and sandbox in subprocesses

ENV = {**os.environ, "NO_COLOR": "1"}

STAGED = {
    # symbol: (status, on-chain shares, custody shares)
    "TSLAx": ("BACKED", Decimal(1000) + Decimal(500), Decimal(1500)),
    "AAPLx": ("BACKED", Decimal(200) + Decimal(300), Decimal(500)),
    "NVDAx": ("UNDER", Decimal(800) + Decimal(200), Decimal("999.5")),
    "SPYx": ("OVER", Decimal(100) * Decimal("1.5"), Decimal(100) + Decimal(51)),
}


def test_demo_json_finds_what_was_staged(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    p = subprocess.run(
        [CLI, "demo", "--format", "json", "--keep", str(keep)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # stdout is the JSON document only
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    assert set(tokens) == set(STAGED)
    for symbol, (status, onchain, custody) in STAGED.items():
        t = tokens[symbol]
        assert t["status"] == status, symbol
        assert Decimal(t["onchain"]) == onchain, symbol
        assert Decimal(t["custody"]) == custody, symbol
        assert Decimal(t["difference"]) == custody - onchain, symbol
    assert doc["exit_code"] == 1  # a real check of this registry: the staged shortfall
    aapl = tokens["AAPLx"]["messages"]
    assert sum("multiplier change scheduled: 1 -> 1.02" in m for m in aapl) == 2  # both chains
    tsla_sol = tokens["TSLAx"]["deployments"][1]
    assert Decimal(tsla_sol["excluded"]) == 100
    assert tsla_sol["details"]["extensions"].split(",")[3] == "ScaledUiAmount"
    assert set(doc["chains"]) == {"ethereum", "solana"}
    assert doc["chains"]["ethereum"]["rpc"].startswith("http://127.0.0.1:")
    assert "Demo passed" in p.stderr and "would exit 1" in p.stderr
    # --keep leaves a registry that a plain check can read (its chains are gone now)
    assert (keep / "xstock-audit.yaml").is_file()
    assert sorted(f.name for f in (keep / "attestations").iterdir()) == [
        "demo-custody-safe-0001.json",
        "demo-custody-safe-0002.csv",
    ]
    after = subprocess.run(
        [CLI, "check", str(keep / "xstock-audit.yaml"), "-f", "json"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert after.returncode == 3  # the chains stopped with the demo: ERROR, never "backed"


def test_demo_table(tmp_path: Path) -> None:
    p = subprocess.run([CLI, "demo"], capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "NVDAx" in p.stdout and "UNDER" in p.stdout
    assert "Demo passed" in p.stdout
    assert p.stderr == ""


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        assert time.monotonic() < deadline, seen
        line = proc.stdout.readline()
        assert line, f"sandbox exited early: {seen}"
        seen += line
    return seen


def _check(registry: Path) -> tuple[int, dict[str, dict[str, object]]]:
    p = subprocess.run(
        [CLI, "check", str(registry), "-f", "json"], capture_output=True, text=True, env=ENV
    )
    doc = json.loads(p.stdout)
    return p.returncode, {t["symbol"]: t for t in doc["tokens"]}


def test_sandbox_serves_until_interrupted_and_rehearses_a_multiplier_change(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "sb"
    proc = subprocess.Popen(
        [CLI, "sandbox", "--dir", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        banner = _read_until(proc, "Custody is plain files")
        registry = folder / "xstock-audit.yaml"
        assert str(registry) in banner
        code, tokens = _check(registry)
        assert code == 1 and tokens["NVDAx"]["status"] == "UNDER"
        assert tokens["SPYx"]["status"] == "OVER"

        # run the two documented corporate actions exactly as printed
        curls = [line.strip() for line in banner.splitlines() if line.strip().startswith("curl ")]
        assert len(curls) == 3
        for line in curls[:2]:
            url = line.split()[2]
            body = line.split(" -d ", 1)[1].strip("'")
            reply = httpx.post(url, content=body, headers={"content-type": "application/json"})
            assert "error" not in reply.json(), reply.text

        code, tokens = _check(registry)
        spy, aapl = tokens["SPYx"], tokens["AAPLx"]
        assert Decimal(str(spy["onchain"])) == Decimal(100) * Decimal("1.55")
        assert spy["status"] == "UNDER"  # 155 tokens against 151 in custody
        assert Decimal(str(aapl["onchain"])) == 200 + Decimal(300) * Decimal("1.05")
        assert aapl["status"] == "UNDER"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the sandbox did not stop on Ctrl-C")
    assert proc.returncode == 130  # 128 + SIGINT, like every command stopped by Ctrl-C
