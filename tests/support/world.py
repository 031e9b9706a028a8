"""Generate an issuer of N tokens x (EVM + Solana deployment) x K excluded holders.

Used by the request-count tests and by benchmarks/. The EVM side is seeded with raw
JSON-RPC batches (deploy + mint) for speed; the Solana side with real transactions in the
LiteSVM node. Custody matches on-chain supply exactly, so every token is BACKED.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from eth_abi.abi import encode
from solders.keypair import Keypair
from stdnum import isin as stdisin

from xstock_audit.sandbox.evm import load_artifact
from xstock_audit.sandbox.solana import SolanaNode, spl

WAD = 10**18


def isin_for(i: int) -> str:
    base = f"XS{i:09d}"
    return base + str(stdisin.calc_check_digit(base))


@dataclass
class World:
    registry: Path
    n: int
    k: int
    onchain: dict[str, Decimal]


def _rpc_batch(url: str, calls: list[tuple[str, list[Any]]], chunk: int = 100) -> list[Any]:
    out: list[Any] = []
    with httpx.Client(timeout=300) as client:
        for start in range(0, len(calls), chunk):
            part = calls[start : start + chunk]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in enumerate(part)
            ]
            reply = client.post(url, json=body).json()
            if not isinstance(reply, list):
                raise RuntimeError(f"batch refused: {reply}")
            replies = {r["id"]: r for r in reply}
            for i in range(len(part)):
                r = replies[i]
                if "error" in r:
                    raise RuntimeError(f"{part[i][0]} failed: {r['error']}")
                out.append(r["result"])
    return out


def _wait_mined(url: str, hashes: list[str]) -> list[Any]:
    """Receipts of all `hashes`; a node answers a batch before every transaction is mined."""
    for _ in range(600):
        receipts = _rpc_batch(url, [("eth_getTransactionReceipt", [h]) for h in hashes])
        if all(r is not None for r in receipts):
            failed = [r["transactionHash"] for r in receipts if int(r["status"], 16) != 1]
            if failed:
                raise RuntimeError(f"{len(failed)} seeding transactions failed")
            return receipts
        _rpc_batch(url, [("evm_mine", [])])
        time.sleep(0.05)
    missing = sum(r is None for r in receipts)
    (pool,) = _rpc_batch(url, [("txpool_status", [])])
    raise RuntimeError(f"{missing} of {len(hashes)} seeding transactions not mined; pool {pool}")


#: transactions in flight at once: anvil's pool silently drops what is beyond its limit (seen
#: at 20,000: receipts that never came), so a large world is seeded a part at a time
SEND_CHUNK = 2000


def _send_all(url: str, txs: list[tuple[str, list[Any]]]) -> list[Any]:
    """Send many transactions with automine off, then mine them all, a part at a time.

    With automine on, a node that takes a batch's transactions concurrently can leave some
    waiting for a nonce forever; with it off they all enter the pool and blocks take them.
    """
    try:
        _rpc_batch(url, [("evm_setAutomine", [False])])
    except RuntimeError as exc:  # the py-evm node: it takes a batch's transactions in order
        if "Method not found" not in str(exc):
            raise
        return _wait_mined(url, _rpc_batch(url, txs))
    try:
        receipts: list[Any] = []
        for start in range(0, len(txs), SEND_CHUNK):
            receipts += _wait_mined(url, _rpc_batch(url, txs[start : start + SEND_CHUNK]))
        return receipts
    finally:
        _rpc_batch(url, [("evm_setAutomine", [True])])


def _seed_evm(url: str, sender: str, n: int, excluded: list[str], holder: str) -> list[str]:
    art = load_artifact("PlainToken")
    # explicit nonces: a node may take the transactions of one batch concurrently
    (first,) = _rpc_batch(url, [("eth_getTransactionCount", [sender, "pending"])])
    nonce = iter(range(int(first, 16), 2**62))
    deploys = [
        (
            "eth_sendTransaction",
            [
                {
                    "from": sender,
                    "nonce": hex(next(nonce)),
                    "gas": hex(3_000_000),
                    "data": art["bytecode"]
                    + encode(["string", "string", "uint8"], [f"Token {i}", f"T{i}", 18]).hex(),
                }
            ],
        )
        for i in range(n)
    ]
    receipts = _send_all(url, deploys)
    addresses = [r["contractAddress"] for r in receipts]
    mint = bytes.fromhex("40c10f19")  # mint(address,uint256)
    mints = []
    for i, token in enumerate(addresses):
        for who, amount in [(holder, (1000 + i) * WAD), *[(x, 10 * WAD) for x in excluded]]:
            data = mint + encode(["address", "uint256"], [who, amount])
            mints.append(
                (
                    "eth_sendTransaction",
                    [
                        {
                            "from": sender,
                            "nonce": hex(next(nonce)),
                            "to": token,
                            "gas": hex(200_000),
                            "data": "0x" + data.hex(),
                        }
                    ],
                )
            )
    _send_all(url, mints)
    return addresses


def build(
    folder: Path,
    *,
    evm_url: str,
    evm_node_url: str,
    evm_sender: str,
    chain_id: int,
    solana: SolanaNode,
    solana_url: str,
    n: int,
    k: int,
    evm_settings: str = "",
    solana_settings: str = "",
) -> World:
    """Seed both chains and write `folder/registry.yaml` (pointing at the given URLs)."""
    folder.mkdir(parents=True, exist_ok=True)
    excluded_evm = [f"0x{0xE000 + j:040x}" for j in range(k)]
    holder = f"0x{0xBEEF:040x}"
    tokens = _seed_evm(evm_node_url, evm_sender, n, excluded_evm, holder)

    authority = Keypair()
    solana.remember(authority)
    owners = [Keypair().pubkey() for _ in range(k)]
    mints = []
    for _ in range(n):
        mint = spl.create_mint(
            solana,
            decimals=8,
            mint_authority=authority,
            extensions=[spl.ScaledUiAmount(authority.pubkey(), 1.0)],
        )
        for who, amount in [(Keypair().pubkey(), 500 * 10**8), *[(o, 7 * 10**8) for o in owners]]:
            spl.mint_to(solana, mint, spl.create_token_account(solana, mint, who, ata=True), amount)
        mints.append(mint)

    onchain = {f"TK{i}": Decimal(1000 + i) + Decimal(500) for i in range(n)}
    as_of = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    (folder / "custody.json").write_text(
        json.dumps(
            {
                "custodian": "bench",
                "account": "SAFE-1",
                "as_of": as_of.isoformat().replace("+00:00", "Z"),
                "holdings": [
                    {"isin": isin_for(i), "quantity": str(onchain[f"TK{i}"])} for i in range(n)
                ],
            }
        )
    )
    lines = [
        "version: 1",
        "chains:",
        "  evm:",
        "    type: evm",
        f"    chain_id: {chain_id}",
        f'    rpc: ["{evm_url}"]',
        *[f"    {line}" for line in evm_settings.splitlines() if line.strip()],
        "  sol:",
        "    type: solana",
        f'    rpc: ["{solana_url}"]',
        *[f"    {line}" for line in solana_settings.splitlines() if line.strip()],
        "custodians:",
        "  bench:",
        '    attestations: ["custody.json"]',
        "    max_age: 1d",
        "tokens:",
    ]
    owner_list = ", ".join(str(o) for o in owners)
    excl_list = ", ".join(f'"{x}"' for x in excluded_evm)
    for i in range(n):
        lines += [
            f"  - symbol: TK{i}",
            f"    isin: {isin_for(i)}",
            "    custodian: bench",
            "    deployments:",
            f'      - {{chain: evm, address: "{tokens[i]}", exclude: [{excl_list}]}}',
            f"      - {{chain: sol, mint: {mints[i]}, exclude_owners: [{owner_list}]}}",
        ]
    registry = folder / "registry.yaml"
    registry.write_text("\n".join(lines) + "\n")
    return World(registry=registry, n=n, k=k, onchain=onchain)


def build_on(
    folder: Path,
    evm: Any,
    solana: SolanaNode,
    *,
    evm_url: str | None = None,
    solana_url: str | None = None,
    n: int = 2,
    k: int = 1,
    evm_settings: str = "",
    solana_settings: str = "",
) -> World:
    """`build` on a test EVM node (`support.evm.EvmTestNode`) and a Solana node, the
    registry pointing at the nodes themselves unless other URLs are given (a proxy's)."""
    return build(
        folder,
        evm_url=evm.url if evm_url is None else evm_url,
        evm_node_url=evm.url,
        evm_sender=evm.accounts[0],
        chain_id=evm.chain_id,
        solana=solana,
        solana_url=solana.url if solana_url is None else solana_url,
        n=n,
        k=k,
        evm_settings=evm_settings,
        solana_settings=solana_settings,
    )
