"""Trusting the verdict: the installed CLI against local chains set up to mislead.

Future-dated custody, nodes whose clocks are hours behind or ahead, a chain that can't be
read, a multiplier too large for exact arithmetic, and stale custody that is also short.
Every case runs `xstock-audit check` on EVM (anvil and py-evm) and the LiteSVM node and
asserts the message a user reads and the exit code. Figures come from what the test minted
(tests/support/world.py), never from the tool's output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from support.cli import CLI, check_json
from support.evm import NODE_KINDS, EvmTestNode, make_node
from support.world import World, build, isin_for

from xstock_audit.redact import redact_url
from xstock_audit.sandbox.solana import SolanaNode, spl

pytestmark = pytest.mark.slow  # local nodes, the CLI in subprocesses

FAST = "timeout: 2\nconnect_timeout: 1\nretries: 0"


def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Chains:
    folder: Path
    evm: EvmTestNode
    sol: SolanaNode
    world: World

    def registry(self, name: str, *, custody: list[str] | None = None, **replace: str) -> Path:
        """The world's registry with its custody files and any text replaced."""
        text = self.world.registry.read_text()
        if custody is not None:
            text = text.replace('["custody.json"]', json.dumps(custody))
        for old, new in replace.items():
            assert old in text, old
            text = text.replace(old, new)
        path = self.folder / name
        path.write_text(text)
        return path

    def custody(self, name: str, as_of: datetime, quantities: dict[int, Decimal]) -> str:
        (self.folder / name).write_text(
            json.dumps(
                {
                    "custodian": "bench",
                    "account": "SAFE-1",
                    "as_of": _iso(as_of),
                    "holdings": [
                        {"isin": isin_for(i), "quantity": str(q)} for i, q in quantities.items()
                    ],
                }
            )
        )
        return name


def _chains(folder: Path, evm: EvmTestNode, sol: SolanaNode, n: int = 2) -> Chains:
    world = build(
        folder,
        evm_url=evm.url,
        evm_node_url=evm.url,
        evm_sender=evm.accounts[0],
        chain_id=evm.chain_id,
        solana=sol,
        solana_url=sol.url,
        n=n,
        k=1,
        evm_settings=FAST,
        solana_settings=FAST,
    )
    return Chains(folder, evm, sol, world)


@pytest.fixture(scope="module", params=NODE_KINDS)
def chains(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chains]:
    with make_node(request.param) as evm, SolanaNode() as sol:
        yield _chains(tmp_path_factory.mktemp("trust"), evm, sol)


def table(registry: Path, *args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [CLI, "check", str(registry), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=120,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def tokens(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["symbol"]: t for t in doc["tokens"]}


# --- future-dated custody ----------------------------------------------------------------------


def test_a_future_dated_statement_never_counts(chains: Chains) -> None:
    onchain = chains.world.onchain
    now = datetime.now(UTC)
    short = {0: onchain["TK0"] - 1, 1: onchain["TK1"]}
    full = {i: onchain[f"TK{i}"] for i in range(2)}
    chains.custody("short.json", now - timedelta(hours=1), short)
    chains.custody("future.json", datetime(2099, 1, 1, tzinfo=UTC), full)

    # the real, short statement alone: a shortfall
    code, doc, _ = check_json(chains.registry("short.yaml", custody=["short.json"]))
    assert (code, tokens(doc)["TK0"]["status"]) == (1, "UNDER")

    # beside it, one dated 2099 that would make it whole: never BACKED, never exit 0
    code, doc, _ = check_json(chains.registry("future.yaml", custody=["short.json", "future.json"]))
    assert code == 3
    message = (
        "attestation future.json for account SAFE-1 is dated 2099-01-01T00:00:00Z, later than "
        "this run's start plus clock_skew 5m: not used; custody of 'bench' is unknown until "
        "the statement is corrected"
    )
    for symbol in ("TK0", "TK1"):  # every token that draws on that custodian's account
        t = tokens(doc)[symbol]
        assert t["status"] == "ERROR"
        assert message in t["messages"]
        assert (t["custody"], t["difference"]) == (None, None)
        # it did not displace the older statement
        assert [a["file"] for a in t["attestations"]] == ["short.json"]


def test_a_statement_within_the_clock_skew_counts(chains: Chains) -> None:
    onchain = chains.world.onchain
    now = datetime.now(UTC)
    chains.custody("soon.json", now + timedelta(minutes=2), {0: onchain["TK0"], 1: onchain["TK1"]})
    code, doc, _ = check_json(chains.registry("soon.yaml", custody=["soon.json"]))
    assert code == 0
    assert {t["status"] for t in doc["tokens"]} == {"BACKED"}
    # a tighter allowance refuses the same file
    code, doc, _ = check_json(
        chains.registry(
            "strict.yaml",
            custody=["soon.json"],
            **{"custodians:": "policy:\n  clock_skew: 30s\ncustodians:"},
        )
    )
    assert code == 3
    assert any("clock_skew 30s" in m for m in tokens(doc)["TK0"]["messages"])


# --- unknown is never zero ---------------------------------------------------------------------


def test_a_chain_not_read_leaves_onchain_unknown(chains: Chains) -> None:
    onchain = chains.world.onchain
    now = datetime.now(UTC)
    chains.custody("full.json", now - timedelta(hours=1), {0: onchain["TK0"], 1: onchain["TK1"]})
    # TK1's custody is short even of its EVM part (1001 shares): a proven shortfall
    chains.custody("part.json", now - timedelta(hours=1), {0: onchain["TK0"], 1: Decimal(1000)})
    dead = "http://127.0.0.1:9/"  # discard port: nothing listens
    reg = chains.registry("dead.yaml", custody=["full.json"], **{chains.sol.url: dead})
    code, doc, _ = check_json(reg)
    assert code == 3
    t = tokens(doc)["TK0"]
    assert t["status"] == "ERROR"
    assert (t["onchain"], t["difference"]) == (None, None)
    assert Decimal(t["onchain_read"]) == 1000  # the EVM deployment: 1000 + 0 shares
    sol = next(d for d in t["deployments"] if d["chain"] == "sol")
    assert {k: sol[k] for k in ("total_supply", "excluded", "multiplier", "circulating")} == {
        "total_supply": None,
        "excluded": None,
        "multiplier": None,
        "circulating": None,
    }
    assert (
        "on-chain supply unknown: the deployments that were read hold 1000 shares "
        "(a lower bound)" in t["messages"]
    )

    p = table(reg)
    row = next(line for line in p.stdout.splitlines() if "TK0" in line)
    assert re.search(r"│\s+—\s+│\s+1500\s+│\s+—\s+│\s+ERROR", row), row
    assert " 0 " not in row

    code, doc, _ = check_json(
        chains.registry("dead-part.yaml", custody=["part.json"], **{chains.sol.url: dead})
    )
    assert code == 1
    t = tokens(doc)["TK1"]
    assert (t["status"], t["onchain"], t["difference"]) == ("UNDER", None, None)
    assert (
        "custody 1000 is short even of the deployments that could be read (1001): the "
        "shortfall is at least 1" in t["messages"]
    )


# --- one bad value can't sink the report ------------------------------------------------------


def test_an_extreme_multiplier_makes_one_token_error(chains: Chains, tmp_path: Path) -> None:
    authority = Keypair()
    chains.sol.remember(authority)
    mint = spl.create_mint(
        chains.sol,
        decimals=8,
        mint_authority=authority,
        extensions=[spl.ScaledUiAmount(authority.pubkey(), 1e300)],
    )
    holder = spl.create_token_account(chains.sol, mint, Keypair().pubkey(), ata=True)
    spl.mint_to(chains.sol, mint, holder, 123_456_789, authority=authority)
    onchain = chains.world.onchain
    now = datetime.now(UTC)
    name = chains.custody(
        "extreme.json",
        now - timedelta(hours=1),
        {0: onchain["TK0"], 1: onchain["TK1"], 7: Decimal(1)},
    )
    reg = chains.registry("extreme.yaml", custody=[name])
    reg.write_text(
        reg.read_text() + f"  - symbol: HUGEx\n    isin: {isin_for(7)}\n    custodian: bench\n"
        f"    deployments:\n      - {{chain: sol, mint: {mint}}}\n"
    )
    out = tmp_path / "report.json"
    p = table(reg, "-o", str(out), "--format", "json")
    assert p.returncode == 3, p.stderr
    doc = json.loads(out.read_text())
    t = tokens(doc)
    assert (t["TK0"]["status"], t["TK1"]["status"]) == ("BACKED", "BACKED")
    huge = t["HUGEx"]
    assert huge["status"] == "ERROR"
    assert (
        "arithmetic: the exact result needs more than 200 significant digits (an extreme "
        "multiplier, decimals or quantity?)" in huge["messages"]
    )
    assert huge["onchain"] is None and huge["difference"] is None
    assert Decimal(huge["deployments"][0]["multiplier"]) == Decimal("1e300")


# --- stale custody that is also short ----------------------------------------------------------


def test_stale_custody_that_is_short_says_by_how_much(chains: Chains) -> None:
    onchain = chains.world.onchain
    as_of = (datetime.now(UTC) - timedelta(days=2, hours=4, seconds=30)).replace(microsecond=0)
    half = Decimal("0.5")
    chains.custody("old.json", as_of, {0: onchain["TK0"] - half, 1: onchain["TK1"]})
    code, doc, _ = check_json(chains.registry("old.yaml", custody=["old.json"]))
    assert code == 3
    t = tokens(doc)
    assert t["TK0"]["status"] == t["TK1"]["status"] == "STALE"
    stem = f"custody as of {_iso(as_of)} (account SAFE-1) is 2 d 4 h old, older than max_age 1d"
    assert f"{stem}; against it the token is short by 0.5" in t["TK0"]["messages"]
    assert f"{stem}; against it the token is backed" in t["TK1"]["messages"]


# --- nodes whose clocks are wrong --------------------------------------------------------------


@pytest.fixture(scope="module", params=NODE_KINDS)
def behind(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chains]:
    """Both chains' clocks three hours behind the wall clock: stuck or syncing nodes."""
    ts = int(time.time()) - 3 * 3600 - 30
    with make_node(request.param, timestamp=ts) as evm, SolanaNode(unix_timestamp=ts) as sol:
        yield _chains(tmp_path_factory.mktemp("behind"), evm, sol, n=1)


def test_a_stale_head_is_error_on_each_chain(behind: Chains) -> None:
    code, doc, _ = check_json(behind.world.registry)
    assert code == 3
    assert {t["status"] for t in doc["tokens"]} == {"ERROR"}
    for name, node, unit in (("evm", behind.evm, "block"), ("sol", behind.sol, "slot")):
        error = doc["chains"][name]["error"]
        pattern = (
            re.escape(redact_url(node.url))
            + r": head is 3 h( 1 min)? old \("
            + unit
            + r" \d+ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; max_head_age 30m\): the node is stuck "
            r"or syncing"
        )
        assert re.fullmatch(pattern, error), error
    # and the chain's line of the table says so
    p = table(behind.world.registry)
    assert re.search(r"^evm: not read: .*head is 3 h( 1 min)? old", p.stdout, re.M), p.stdout
    assert re.search(r"^sol: not read: .*head is 3 h( 1 min)? old", p.stdout, re.M), p.stdout


def test_a_longer_max_head_age_accepts_the_same_nodes(behind: Chains) -> None:
    reg = behind.registry(
        "patient.yaml",
        **{
            "type: evm\n": "type: evm\n    max_head_age: 4h\n",
            "type: solana\n": "type: solana\n    max_head_age: 4h\n",
        },
    )
    code, doc, _ = check_json(reg)
    assert code == 0, doc
    assert {t["status"] for t in doc["tokens"]} == {"BACKED"}


def test_a_stale_endpoint_fails_over_to_a_fresh_one(
    behind: Chains, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with make_node("anvil") as evm, SolanaNode() as sol:
        fresh = _chains(tmp_path_factory.mktemp("fresh"), evm, sol, n=1)
        reg = fresh.registry(
            "failover.yaml",
            **{
                f'rpc: ["{evm.url}"]': f'rpc: ["{behind.evm.url}", "{evm.url}"]',
                f'rpc: ["{sol.url}"]': f'rpc: ["{behind.sol.url}", "{sol.url}"]',
            },
        )
        code, doc, _ = check_json(reg)
        fresh_urls = {"evm": evm.url, "sol": sol.url}
    assert code == 0, doc
    for name, stale in (("evm", behind.evm), ("sol", behind.sol)):
        chain = doc["chains"][name]
        assert chain["rpc"] == redact_url(fresh_urls[name])
        assert any(
            m.startswith(redact_url(stale.url) + ": head is 3 h") for m in chain["messages"]
        ), chain["messages"]


@pytest.fixture(scope="module", params=NODE_KINDS)
def ahead(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Chains]:
    """Both chains' clocks two hours ahead of the wall clock."""
    ts = int(time.time()) + 2 * 3600
    with make_node(request.param, timestamp=ts) as evm, SolanaNode(unix_timestamp=ts) as sol:
        yield _chains(tmp_path_factory.mktemp("ahead"), evm, sol, n=1)


def test_a_chain_clock_ahead_of_ours_is_error(ahead: Chains) -> None:
    code, doc, _ = check_json(ahead.world.registry)
    assert code == 3
    for name, node, unit in (("evm", ahead.evm, "block"), ("sol", ahead.sol, "slot")):
        error = doc["chains"][name]["error"]
        pattern = (
            re.escape(redact_url(node.url))
            + rf": {unit} \d+ is dated \S+Z, (1 h 59 min|2 h( 1 min)?) ahead of this "
            r"machine's clock \(clock_skew 5m\): the node's clock or this machine's is wrong"
        )
        assert re.fullmatch(pattern, error), error
