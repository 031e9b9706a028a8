"""End to end: the installed `xstock-audit` process against real local chains.

The EVM side runs twice, on anvil and on the package's py-evm node; LiteSVM is Solana; all
on 127.0.0.1; the registry and attestation files are
written to a temporary folder; the verdicts and exit codes are checked against figures
computed here from the raw amounts the test minted.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from solders.keypair import Keypair
from support.cli import CLI
from support.evm import (
    MULTIPLIER_ONE,
    NODE_KINDS,
    EvmTestNode,
    deploy_backed_token,
    deploy_plain_token,
    make_node,
    transact,
)

from xstock_audit.sandbox.solana import SolanaNode, spl

pytestmark = pytest.mark.slow  # local nodes, the CLI in subprocesses

HOLDER = to_checksum_address("0x00000000000000000000000000000000000000a1")
TREASURY = to_checksum_address("0x00000000000000000000000000000000000000b2")
SECRET = "SeCrEtKeY0123456789"
#: the Solana clock: the wall clock at the start (a node in sync; an old clock is a stale head)
T0 = int(time.time())


@dataclass
class World:
    dir: Path
    anvil: EvmTestNode
    solana: SolanaNode
    expected: dict[str, Decimal]


def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module", params=NODE_KINDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    d = tmp_path_factory.mktemp("e2e")
    with make_node(request.param) as anvil, SolanaNode() as sol:
        sol.set_unix_timestamp(T0)
        solana_treasury = Keypair()
        sol.remember(solana_treasury)

        # GOODx: ERC-20 (18 dp) + Token-2022 ScaledUiAmount x1.05, treasuries excluded on both.
        good_evm = deploy_plain_token(anvil, "Good", "GOODx", 18)
        transact(anvil, good_evm.functions.mint(HOLDER, 1000 * 10**18 + 5 * 10**17))
        transact(anvil, good_evm.functions.mint(TREASURY, 200 * 10**18))
        good_mint = spl.create_mint(
            sol, decimals=8, extensions=[spl.ScaledUiAmount(solana_treasury.pubkey(), 1.05)]
        )
        holder = spl.create_token_account(sol, good_mint, Keypair().pubkey(), ata=True)
        treasury = spl.create_token_account(sol, good_mint, solana_treasury.pubkey(), ata=True)
        spl.mint_to(sol, good_mint, holder, 100_000_000_000)
        spl.mint_to(sol, good_mint, treasury, 23_456_789_012)
        spl.update_scaled_ui_multiplier(sol, good_mint, solana_treasury, 1.07, T0 + 86_400)
        good = Decimal("1000.5") + Decimal(1000) * Decimal("1.05")  # 2050.5 shares

        # SHORTx: Backed multiplier token (x1.5) + SPL mint (6 dp); custody one raw unit
        # (0.000001) short beyond the tolerance of 0.000001.
        short_evm = deploy_backed_token(anvil, "Short", "SHORTx")
        transact(anvil, short_evm.functions.mint(HOLDER, 100 * MULTIPLIER_ONE))
        transact(
            anvil,
            short_evm.functions.updateMultiplierValue(3 * MULTIPLIER_ONE // 2, MULTIPLIER_ONE, 0),
        )
        short_mint = spl.create_mint(sol, program="spl", decimals=6)
        acct = spl.create_token_account(sol, short_mint, Keypair().pubkey())
        spl.mint_to(sol, short_mint, acct, 10_000_000)
        short = Decimal(150) + Decimal(10)

        # OLDx: ERC-20 (0 dp); its custodian's statement is three days old.
        old_evm = deploy_plain_token(anvil, "Old", "OLDx", 0)
        transact(anvil, old_evm.functions.mint(HOLDER, 5))

        now = datetime.now(UTC)
        att = d / "attestations"
        att.mkdir()
        (att / "acme-safe1.json").write_text(
            json.dumps(
                {
                    "custodian": "acme",
                    "account": "SAFE-1",
                    "as_of": _iso(now - timedelta(hours=1)),
                    "holdings": [
                        {"isin": "US88160R1014", "quantity": "2000.000000"},
                        {"isin": "US0378331005", "quantity": str(short - Decimal("0.000002"))},
                    ],
                }
            )
        )
        # an older statement of the same account must be ignored
        (att / "acme-safe1-old.json").write_text(
            json.dumps(
                {
                    "account": "SAFE-1",
                    "as_of": _iso(now - timedelta(hours=30)),
                    "holdings": [{"isin": "US88160R1014", "quantity": "999999"}],
                }
            )
        )
        (att / "acme-safe2.csv").write_text(
            "isin,quantity,as_of,account,comment\n"
            f"US88160R1014,50.5,{_iso(now - timedelta(hours=2))},SAFE-2,second account\n"
        )
        old_dir = d / "old"
        old_dir.mkdir()
        (old_dir / "oldco.yaml").write_text(
            f"account: VAULT-9\nas_of: {_iso(now - timedelta(days=3))}\n"
            "holdings:\n  - {isin: US67066G1040, quantity: '5'}\n"
        )

        eth_url = anvil.url.replace("http://", f"http://user:{SECRET}@").rstrip("/")
        sol_url = sol.url.replace("http://", f"http://user:{SECRET}@").rstrip("/")
        chains = f"""
version: 1
chains:
  anvil:
    type: evm
    chain_id: 31337
    rpc: ["{eth_url}/?apikey=${{TEST_API_KEY}}"]
  localsol:
    type: solana
    rpc: ["{sol_url}/v2/${{TEST_API_KEY}}?key=${{TEST_API_KEY}}"]
    commitment: confirmed
custodians:
  acme:
    attestations: ["attestations/*.json", "attestations/*.csv"]
    max_age: 36h
  oldco:
    attestations: ["old/*.yaml"]
    max_age: 36h
tokens:
"""
        tokens = {
            "GOODx": f"""
  - symbol: GOODx
    isin: US88160R1014
    custodian: acme
    tolerance: "0.000001"
    deployments:
      - chain: anvil
        address: "{good_evm.address}"
        decimals: 18
        exclude: ["{TREASURY}"]
      - chain: localsol
        mint: {good_mint}
        decimals: 8
        exclude_owners: [{solana_treasury.pubkey()}]
""",
            "SHORTx": f"""
  - symbol: SHORTx
    isin: US0378331005
    custodian: acme
    tolerance: "0.000001"
    deployments:
      - chain: anvil
        address: "{short_evm.address.lower()}"
      - chain: localsol
        mint: {short_mint}
""",
            "OLDx": f"""
  - symbol: OLDx
    isin: US67066G1040
    custodian: oldco
    deployments:
      - chain: anvil
        address: "{old_evm.address}"
        decimals: 0
""",
        }
        (d / "all.yaml").write_text(chains + "".join(tokens.values()))
        for sym, text in tokens.items():
            (d / f"{sym}.yaml").write_text(chains + text)
        yield World(d, anvil, sol, {"GOODx": good, "SHORTx": short, "OLDx": Decimal(5)})


def run(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TEST_API_KEY": SECRET, "NO_COLOR": "1"}
    return subprocess.run(
        [CLI, *args], cwd=world.dir, env=env, capture_output=True, text=True, timeout=120
    )


def report(world: World, registry: str) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    p = run(world, "check", registry, "--format", "json")
    assert p.stdout.lstrip().startswith("{"), p.stderr
    return json.loads(p.stdout), p


def test_all_tokens_json(world: World) -> None:
    doc, p = report(world, "all.yaml")
    assert p.returncode == 1, p.stderr  # an UNDER beats a STALE
    assert doc["schema"] == "xstock-audit/report/v1"
    assert doc["exit_code"] == 1
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    assert {s: t["status"] for s, t in tokens.items()} == {
        "GOODx": "BACKED",
        "SHORTx": "UNDER",
        "OLDx": "STALE",
    }
    assert doc["summary"] == {
        "BACKED": 1,
        "OVER": 0,
        "UNDER": 1,
        "STALE": 1,
        "UNVERIFIED": 0,
        "ERROR": 0,
    }
    for sym, want in world.expected.items():
        assert Decimal(tokens[sym]["onchain"]) == want, sym

    good = tokens["GOODx"]
    assert Decimal(good["custody"]) == Decimal("2050.5")
    assert Decimal(good["difference"]) == 0
    assert sorted(a["account"] for a in good["attestations"]) == ["SAFE-1", "SAFE-2"]
    evm, sol = good["deployments"]
    assert (Decimal(evm["total_supply"]), Decimal(evm["excluded"])) == (Decimal("1200.5"), 200)
    assert Decimal(sol["total_supply"]) == Decimal("1234.56789012")
    assert Decimal(sol["excluded"]) == Decimal("234.56789012")
    assert (sol["multiplier"], sol["multiplier_applied"]) == ("1.05", True)
    assert any("1.05 -> 1.07" in m for m in good["messages"])

    short = tokens["SHORTx"]
    assert Decimal(short["difference"]) == Decimal("-0.000002")
    assert Decimal(short["tolerance"]) == Decimal("0.000001")
    assert Decimal(short["deployments"][0]["multiplier"]) == Decimal("1.5")

    assert doc["chains"]["anvil"]["block"] == world.anvil.block_number()
    assert doc["chains"]["localsol"]["slot"] == world.solana.slot
    assert doc["chains"]["localsol"]["time"] == _iso(datetime.fromtimestamp(T0, UTC))
    assert doc["chains"]["anvil"]["rpc"].endswith("/…")
    # stdout is the JSON document only; the summary goes to stderr
    assert "SHORTFALL" in p.stderr


@pytest.mark.parametrize(("symbol", "code"), [("GOODx", 0), ("SHORTx", 1), ("OLDx", 3)])
def test_exit_codes(world: World, symbol: str, code: int) -> None:
    p = run(world, "check", f"{symbol}.yaml")
    assert p.returncode == code, p.stdout + p.stderr
    assert symbol in p.stdout


def test_table_and_details(world: World) -> None:
    p = run(world, "check", "all.yaml", "--details")
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    row = next((line for line in lines if "GOODx" in line and "US88160R1014" in line), None)
    assert row is not None, p.stdout
    assert "2050.5" in row and "BACKED" in row
    assert any("SHORTx" in line and "UNDER" in line and "-0.000002" in line for line in lines)
    assert any("as of" in line for line in lines)  # attestation detail rows
    assert "SHORTFALL (exit 1)" in lines[-1]
    assert p.stderr == ""  # not a terminal: no progress lines


def test_details_show_every_multiplier_and_its_scheduled_change(world: World) -> None:
    doc, _ = report(world, "all.yaml")
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    evm, sol = tokens["GOODx"]["deployments"]
    assert (evm["multiplier"], evm["multiplier_schedule"]) == ("1", None)  # plain ERC-20
    change = _iso(datetime.fromtimestamp(T0 + 86_400, UTC))
    assert sol["multiplier_schedule"] == {"multiplier": "1.07", "at": change}
    assert tokens["SHORTx"]["deployments"][0]["multiplier"] == "1.5"  # never 1.500000000000000000
    assert (
        f"localsol: multiplier change scheduled: 1.05 -> 1.07 at {change}"
        in (tokens["GOODx"]["messages"])
    )

    p = subprocess.run(
        [CLI, "check", "all.yaml", "--details"],
        cwd=world.dir,
        env={**os.environ, "TEST_API_KEY": SECRET, "NO_COLOR": "1", "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 1, p.stderr
    assert "supply 150 multiplier 1.5 (in the balances)" in p.stdout  # the Backed token
    assert f"multiplier 1.05 (applied) → 1.07 from {change}" in p.stdout


def test_output_file(world: World) -> None:
    p = run(world, "check", "GOODx.yaml", "-f", "json", "-o", "out/report.json")
    assert p.returncode == 2 and "out/report.json" in p.stderr  # folder missing: input error
    p = run(world, "check", "GOODx.yaml", "-f", "json", "-o", "report.json")
    assert p.returncode == 0 and p.stdout == ""
    doc = json.loads((world.dir / "report.json").read_text())
    assert doc["tokens"][0]["status"] == "BACKED"
    assert not [f for f in os.listdir(world.dir) if f.startswith(".report.json")]


def test_secret_never_printed(world: World) -> None:
    outputs = [
        run(world, "check", "all.yaml", *extra)
        for extra in ([], ["-f", "json"], ["--debug", "--details"])
    ]
    for p in outputs:
        assert SECRET not in p.stdout + p.stderr
    # and with every endpoint failing, errors name the host only
    bad = world.dir / "bad-rpc.yaml"
    bad.write_text(
        (world.dir / "OLDx.yaml")
        .read_text()
        .replace(world.anvil.url.split("//")[1].rstrip("/"), "127.0.0.1:9")
    )
    p = run(world, "check", bad.name, "-f", "json", "--debug")
    assert p.returncode == 3
    assert SECRET not in p.stdout + p.stderr
    assert json.loads(p.stdout)["chains"]["anvil"]["error"].startswith("http://127.0.0.1:9/…: ")


def test_decimals_mismatch_is_error(world: World) -> None:
    text = (world.dir / "OLDx.yaml").read_text().replace("decimals: 0", "decimals: 6")
    (world.dir / "mismatch.yaml").write_text(text)
    doc, p = report(world, "mismatch.yaml")
    assert p.returncode == 3
    assert doc["tokens"][0]["status"] == "ERROR"
    assert "decimals mismatch" in doc["tokens"][0]["deployments"][0]["error"]
