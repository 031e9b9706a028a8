"""`check --at attestation`: each token read as of its custody's newest as-of, on anvil and the
local Solana node. The custody is written at an instant T with the supply then; more is
minted after T, so the head is short of custody's figure and T is not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_abi import encode
from support.cli import check_json
from support.evm import make_node
from support.world import World, build_on, isin_for

from xstock_audit.sandbox.solana import SolanaNode

pytestmark = pytest.mark.slow

WAD = 10**18


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, datetime, Any]]:
    folder = tmp_path_factory.mktemp("at-attestation")
    with make_node("anvil") as evm, SolanaNode() as sol:
        world = build_on(folder, evm, sol)
        time.sleep(1.1)
        instant = datetime.now(UTC).replace(microsecond=0)
        (folder / "custody.json").write_text(
            json.dumps(
                {
                    "custodian": "bench",
                    "account": "SAFE-1",
                    "as_of": _iso(instant),
                    "holdings": [
                        {"isin": isin_for(i), "quantity": str(world.onchain[f"TK{i}"])}
                        for i in range(2)
                    ],
                }
            )
        )
        time.sleep(1.1)
        # 5 more TK0 on Ethereum after the instant
        reg = yaml.safe_load(world.registry.read_text())
        token = evm.w3.to_checksum_address(reg["tokens"][0]["deployments"][0]["address"])
        data = bytes.fromhex("40c10f19") + encode(
            ["address", "uint256"], [f"0x{0xBEEF:040x}", 5 * WAD]
        )
        tx = evm.w3.eth.send_transaction(
            {"from": evm.accounts[0], "to": token, "data": "0x" + data.hex(), "gas": 200_000}
        )
        assert evm.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        yield world, instant, evm


def test_at_the_head_the_later_mint_is_a_shortfall(staged: tuple[World, datetime, Any]) -> None:
    world, _, _ = staged
    code, doc, _ = check_json(world.registry)
    assert code == 1
    tk0 = next(t for t in doc["tokens"] if t["symbol"] == "TK0")
    assert (tk0["status"], Decimal(tk0["onchain"])) == ("UNDER", world.onchain["TK0"] + 5)


def test_at_attestation_reads_each_token_at_its_custody_instant(
    staged: tuple[World, datetime, Any],
) -> None:
    world, instant, _ = staged
    code, doc, _ = check_json(world.registry, "--at", "attestation")
    assert code == 0, json.dumps(doc["chains"]) + json.dumps([t["messages"] for t in doc["tokens"]])
    assert {t["symbol"]: t["status"] for t in doc["tokens"]} == {"TK0": "BACKED", "TK1": "BACKED"}
    for t in doc["tokens"]:
        assert t["at"] == _iso(instant)
        assert Decimal(t["onchain"]) == world.onchain[t["symbol"]]
    # one read per chain for the one instant both tokens share, named by it
    assert sorted(doc["chains"]) == [f"evm at {_iso(instant)}", f"sol at {_iso(instant)}"]
    evm = doc["chains"][f"evm at {_iso(instant)}"]
    assert evm["at"] == _iso(instant) and evm["time"] <= _iso(instant)
    assert "block search" in evm["how"]


def test_at_attestation_with_a_token_custody_does_not_date(
    staged: tuple[World, datetime, Any], tmp_path: Path
) -> None:
    """A token whose ISIN no statement holds is read at the head (and is UNDER: 0 custody)."""
    world, instant, _ = staged
    text = world.registry.read_text().replace(isin_for(1), "US88160R1014")
    registry = world.registry.parent / "other-isin.yaml"
    registry.write_text(text)
    code, doc, _ = check_json(registry, "--at", "attestation")
    assert code == 1
    tk0, tk1 = (next(t for t in doc["tokens"] if t["symbol"] == s) for s in ("TK0", "TK1"))
    assert (tk0["at"], tk0["status"]) == (_iso(instant), "BACKED")
    assert (tk1["at"], tk1["status"]) == (None, "UNDER")
    assert set(doc["chains"]) == {
        f"evm at {_iso(instant)}",
        f"sol at {_iso(instant)}",
        "evm",
        "sol",
    }
