"""`check --movements`: per token, the mints, burns and excluded-holder transfers between the
custody as-of and the read.

Each test writes custody dated T, then mints, burns and moves tokens out of (and into) an
excluded holder after T on a local node; `check --movements --format json` must list exactly
those (kinds, amounts in shares from what the test sent, the transactions from the test's own
receipts or signatures), their sum must equal onchain now - onchain at T (`check --at T`),
and a plain `check` must make the same requests as before (2 on EVM, 1 on Solana).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token import instructions as token_ix
from spl.token.models import BurnCheckedParams, MintToCheckedParams, TransferCheckedParams
from support.cli import CLI, check_json
from support.evm import AnvilNode, EvmTestNode, deploy_plain_token, transact
from support.proxy import Reply, RpcProxy, json_reply

from xstock_audit.sandbox.solana import SolanaNode, spl

ISIN = "US0378331005"
HOLDER = "0x00000000000000000000000000000000000000A1"
OTHER = "0x00000000000000000000000000000000000000A2"


def iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def custody(folder: Path, as_of: int, quantity: Decimal) -> None:
    (folder / "custody.json").write_text(
        json.dumps(
            {
                "custodian": "c",
                "account": "A-1",
                "as_of": iso(as_of),
                "holdings": [{"isin": ISIN, "quantity": str(quantity)}],
            }
        )
    )


def registry(folder: Path, chain: str, deployment: str, shares_per_token: str = "1") -> Path:
    path = folder / "registry.yaml"
    path.write_text(
        "version: 1\n"
        "chains:\n"
        f"{chain}"
        "custodians:\n"
        "  c:\n"
        '    attestations: ["custody.json"]\n'
        "    max_age: 1d\n"
        "tokens:\n"
        "  - symbol: AAPLx\n"
        f"    isin: {ISIN}\n"
        "    custodian: c\n"
        f'    shares_per_token: "{shares_per_token}"\n'
        "    deployments:\n"
        f"      - {deployment}\n"
    )
    return path


def listed(report: dict[str, Any]) -> list[tuple[str, str, Decimal]]:
    (token,) = report["tokens"]
    assert token["movements"] is not None, token["messages"]
    return [(m["kind"], m["tx"], Decimal(m["amount"])) for m in token["movements"]]


def onchain(report: dict[str, Any]) -> Decimal:
    (token,) = report["tokens"]
    return Decimal(token["onchain"])


# --- EVM -------------------------------------------------------------------------------------


def test_evm_movements(tmp_path: Path, fresh_evm_node: EvmTestNode) -> None:
    with nullcontext(fresh_evm_node) as node:  # anvil and py-evm
        treasury = node.accounts[1]  # excluded; it signs its own transfers
        token = deploy_plain_token(node, decimals=6)
        transact(node, token.functions.mint(HOLDER, 1_000_000_000))
        transact(node, token.functions.mint(treasury, 300_000_000))
        transact(node, token.functions.mint(node.accounts[0], 10_000_000))
        # custody dated T, the last block's time (never in the future: --at T reads it);
        # all that follows is after it, less than clock_skew ahead of the clock
        t = node.latest_timestamp()
        node.set_next_timestamp(t + 100)
        sent: list[tuple[str, str, Decimal]] = []

        def tx(fn: Any, *moves: tuple[str, int], sender: str | None = None) -> None:
            receipt = transact(node, fn, sender=sender)  # type: ignore[arg-type]
            h = "0x" + bytes(receipt["transactionHash"]).hex()
            # shares_per_token 2: raw / 10^6 x 2
            sent.extend((kind, h, Decimal(raw).scaleb(-6) * 2) for kind, raw in moves)

        tx(token.functions.mint(HOLDER, 500_000_000), ("mint", 500_000_000))
        tx(token.functions.burn(HOLDER, 200_000_000), ("burn", -200_000_000))
        tx(token.functions.transfer(HOLDER, 50_000_000), ("transfer", 50_000_000), sender=treasury)
        # into the excluded holder: a mint and a transfer that cancel
        tx(token.functions.mint(treasury, 7_000_000), ("mint", 7_000_000), ("transfer", -7_000_000))
        # out of it, burned: a burn and a transfer that cancel
        tx(token.functions.burn(treasury, 1_000_000), ("burn", -1_000_000), ("transfer", 1_000_000))
        # between two holders that are not excluded: not a movement
        transact(node, token.functions.transfer(OTHER, 5), sender=node.accounts[0])
        node.mine()
        custody(tmp_path, t, Decimal(2020))  # 1010 tokens x 2 at T
        with RpcProxy(node.url) as proxy:
            reg = registry(
                tmp_path,
                f'  evm:\n    type: evm\n    chain_id: 31337\n    rpc: ["{proxy.url}"]\n',
                f'{{chain: evm, address: "{token.address}", exclude: ["{treasury}"]}}',
                shares_per_token="2",
            )
            _code, plain, _err = check_json(reg)
            assert proxy.requests == 2, proxy.methods  # as before --movements existed
            assert "movements" not in plain["tokens"][0]
            proxy.reset()
            _code, report, _err = check_json(reg, "--movements")
            with_movements = proxy.requests, dict(proxy.methods)
            time.sleep(max(0.0, t + 1 - time.time()))  # py-evm's clock runs a little ahead
            _code, then, _err = check_json(reg, "--at", str(t))
            table = subprocess.run(
                [CLI, "check", str(reg), "--movements"],
                capture_output=True,
                text=True,
                env={**os.environ, "NO_COLOR": "1", "COLUMNS": "250"},
                timeout=120,
            ).stdout
        assert listed(report) == sent, report["tokens"][0]
        # the table: one row per movement, the transaction whole, the shares signed
        assert "Movements since the custody as-of" in table
        rows = [line for line in table.splitlines() if "AAPLx" in line and " evm " in line]
        assert len(rows) == len(sent), table
        for row, (kind, h, amount) in zip(rows, sent, strict=True):
            assert h in row and f" {kind} " in row, row
            cell = row.split("│")[-2].strip()
            assert Decimal(cell) == amount and cell.startswith("+" if amount > 0 else "-"), row
        moved = sum((a for _k, _t, a in sent), Decimal(0))
        assert moved == Decimal(700)  # 500 - 200 + 50, x 2
        assert onchain(report) - onchain(then) == moved == onchain(report) - Decimal(2020)
        (tok,) = report["tokens"]
        assert tok["movements_since"] == iso(t)
        times = [m["time"] for m in tok["movements"]]
        assert times == sorted(times) and all(x > iso(t) for x in times)
        assert all(m["chain"] == "evm" for m in tok["movements"])
        # identity + pin, the values, then the search for T and one eth_getLogs
        assert with_movements[1].get("eth_getLogs") == 1, with_movements
        print(f"EVM requests ({type(node).__name__}): plain 2, --movements {with_movements}")


@pytest.mark.slow
def test_evm_movements_at_and_split_ranges(tmp_path: Path) -> None:
    """With --at, only the movements up to that instant; a node that refuses wide ranges
    gets them split."""
    start = int(time.time()) - 900
    with AnvilNode(timestamp=start) as node:
        token = deploy_plain_token(node, decimals=0)
        transact(node, token.functions.mint(HOLDER, 1000))
        t = node.latest_timestamp() + 10
        node.set_next_timestamp(t + 10)
        early = transact(node, token.functions.mint(HOLDER, 40))
        node.mine(30)
        at = node.latest_timestamp() + 5
        node.set_next_timestamp(at + 100)
        transact(node, token.functions.burn(HOLDER, 3))  # after --at: not listed
        custody(tmp_path, t, Decimal(1000))
        refused: list[tuple[int, int]] = []

        def narrow(body: Any) -> Reply | None:
            for call in body if isinstance(body, list) else [body]:
                if call.get("method") != "eth_getLogs":
                    continue
                f = call["params"][0]
                lo, hi = int(f["fromBlock"], 16), int(f["toBlock"], 16)
                if hi - lo > 8:  # geth's answer to a query too large
                    refused.append((lo, hi))
                    error = {"code": -32005, "message": "query returned more than 10000 results"}
                    reply = [{"jsonrpc": "2.0", "id": c["id"], "error": error} for c in body]
                    return json_reply(reply if isinstance(body, list) else reply[0])
            return None

        with RpcProxy(node.url, fault=narrow) as proxy:
            reg = registry(
                tmp_path,
                f'  evm:\n    type: evm\n    chain_id: 31337\n    rpc: ["{proxy.url}"]\n',
                f'{{chain: evm, address: "{token.address}"}}',
            )
            _code, report, _err = check_json(reg, "--movements", "--at", str(at))
            getlogs = proxy.methods["eth_getLogs"]
        h = "0x" + bytes(early["transactionHash"]).hex()
        assert listed(report) == [("mint", h, Decimal(40))], report["tokens"][0]
        assert refused, "the proxy never refused a range"
        assert getlogs > 1
        assert onchain(report) == Decimal(1040)


# --- Solana ----------------------------------------------------------------------------------


def _program(node: SolanaNode, mint: Pubkey) -> Pubkey:
    account = node.get_account(mint)
    assert account is not None
    return account.owner


@pytest.mark.slow
def test_solana_movements(tmp_path: Path, fresh_solana_node: SolanaNode) -> None:
    node = fresh_solana_node
    now = int(time.time())
    node.warp_to_slot(1_000)
    node.set_unix_timestamp(now - 900)
    authority, treasury, holder = Keypair(), Keypair(), Keypair()
    node.remember(authority, treasury, holder)
    mint = spl.create_mint(
        node,
        decimals=8,
        mint_authority=authority,
        extensions=[spl.ScaledUiAmount(authority.pubkey(), 1.5)],
    )
    program = _program(node, mint)
    h_acct = spl.create_token_account(node, mint, holder.pubkey(), ata=True)
    t_acct = spl.create_token_account(node, mint, treasury.pubkey(), ata=True)
    spl.mint_to(node, mint, h_acct, 1_000 * 10**8)
    spl.mint_to(node, mint, t_acct, 300 * 10**8)
    t = now - 600  # custody as-of
    node.warp_to_slot(1_200)
    node.set_unix_timestamp(now - 300)
    sent: list[tuple[str, str, Decimal]] = []

    def send(ix: Any, *moves: tuple[str, int]) -> None:
        node.warp_to_slot(node.svm.get_clock().slot + 1)  # one transaction a slot
        sig = str(node.send_transaction([ix]).signature())
        sent.extend((kind, sig, Decimal(raw).scaleb(-8) * Decimal("1.5")) for kind, raw in moves)

    send(
        token_ix.mint_to_checked(
            MintToCheckedParams(
                program_id=program,
                mint=mint,
                dest=h_acct,
                mint_authority=authority.pubkey(),
                amount=500 * 10**8,
                decimals=8,
            )
        ),
        ("mint", 500 * 10**8),
    )
    send(
        token_ix.burn_checked(
            BurnCheckedParams(
                program_id=program,
                mint=mint,
                account=h_acct,
                owner=holder.pubkey(),
                amount=200 * 10**8,
                decimals=8,
            )
        ),
        ("burn", -200 * 10**8),
    )
    send(
        token_ix.transfer_checked(
            TransferCheckedParams(
                program_id=program,
                source=t_acct,
                mint=mint,
                dest=h_acct,
                owner=treasury.pubkey(),
                amount=50 * 10**8,
                decimals=8,
            )
        ),
        ("transfer", 50 * 10**8),
    )
    send(  # into the excluded owner's account: a mint and a transfer that cancel
        token_ix.mint_to_checked(
            MintToCheckedParams(
                program_id=program,
                mint=mint,
                dest=t_acct,
                mint_authority=authority.pubkey(),
                amount=7 * 10**8,
                decimals=8,
            )
        ),
        ("mint", 7 * 10**8),
        ("transfer", -7 * 10**8),
    )
    custody(tmp_path, t, Decimal(1500))  # 1000 x 1.5 at T
    with RpcProxy(node.url) as proxy:
        reg = registry(
            tmp_path,
            f'  sol:\n    type: solana\n    rpc: ["{proxy.url}"]\n',
            f"{{chain: sol, mint: {mint}, exclude_owners: [{treasury.pubkey()}]}}",
        )
        _code, plain, _err = check_json(reg)
        assert proxy.requests == 1, proxy.methods  # as before --movements existed
        assert "movements" not in plain["tokens"][0]
        proxy.reset()
        _code, report, _err = check_json(reg, "--movements")
        with_movements = proxy.requests, dict(proxy.methods)
        _code, then, _err = check_json(reg, "--at", str(t))
    assert listed(report) == sent, report["tokens"][0]
    moved = sum((a for _k, _t, a in sent), Decimal(0))
    assert moved == Decimal(525)  # (500 - 200 + 50) x 1.5
    assert onchain(report) - onchain(then) == moved
    print(f"Solana requests: plain 1, --movements {with_movements}")


# --- the classification alone ----------------------------------------------------------------


def test_evm_logs_classified() -> None:
    from xstock_audit.chains.evm import EvmDeployment
    from xstock_audit.chains.evm.movements import TRANSFER_TOPIC, ZERO, _classify

    token = "0x" + "11" * 20
    a, b = "0x" + "aa" * 20, "0x" + "bb" * 20  # excluded
    h = "0x" + "cc" * 20
    d = EvmDeployment.model_validate({"chain": "evm", "address": token, "exclude": [a, b]})

    def log(src: str, dst: str, value: int, n: int, *, extra: int = 0) -> dict[str, Any]:
        topics = [TRANSFER_TOPIC, "0x" + src[2:].rjust(64, "0"), "0x" + dst[2:].rjust(64, "0")]
        return {
            "address": token,
            "topics": topics + ["0x" + "00" * 32] * extra,
            "data": "0x" + hex(value)[2:].rjust(64, "0"),
            "blockNumber": hex(n),
            "logIndex": "0x0",
            "transactionHash": f"0x{n:064x}",
        }

    logs = [
        log(a, b, 5, 7),  # between two excluded holders: nothing
        log(h, h, 5, 6),  # between two others: nothing
        log(h, a, 9, 5),  # into an excluded holder: -9
        log(ZERO, h, 0, 4),  # zero value: nothing
        log(ZERO, h, 1, 3, extra=1),  # 4 topics (ERC-721): not a Transfer of this token
        log(ZERO, a, 4, 2),  # a mint into an excluded holder: +4 and -4
        log(b, ZERO, 3, 1),  # burned from an excluded holder: -3 and +3
    ]
    got = _classify("evm", [d], logs, {n: 1_800_000_000 + n for n in range(8)})
    assert [(m.kind, m.raw, m.number) for m in got.movements[d.key]] == [
        ("burn", -3, 1),
        ("transfer", 3, 1),
        ("mint", 4, 2),
        ("transfer", -4, 2),
        ("transfer", -9, 5),
    ]
