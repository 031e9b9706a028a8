"""The demo portfolio: a small issuer modelled on xStocks, seeded on local chains.

`seed(evm, solana, folder)` deploys and mints with real transactions, writes the custody
attestation files and a registry pointing at the nodes' URLs, and returns what was staged:
the status each token must get and why. The audit itself never sees any of this except
through JSON-RPC and the files, exactly like a real `check`.

Staged (figures in shares of the underlying):

- TSLAx: Ethereum ERC-20 with 1000 circulating + 250 in the issuer treasury (excluded);
  Solana Token-2022 xStocks-like mint (ScaledUiAmount 1.0) with 500 + 100 held by the
  issuer (excluded owner). Custody 1500: BACKED.
- AAPLx: Backed multiplier token, 200 shares x1.0, change to 1.02 scheduled in 7 days;
  Solana ScaledUiAmount 1.0 -> 1.02 scheduled in 7 days, 300. Custody 500: BACKED, with
  both scheduled changes reported.
- NVDAx: ERC-20 800 + SPL Token mint (6 dp) 200. Custody 999.5: UNDER by 0.5.
- SPYx: Backed multiplier token, 100 shares x1.5 = 150. Custody 100 + 51 over two
  accounts (JSON and CSV): OVER by 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from .evm import load_artifact
from .solana import SolanaNode, spl

WAD = 10**18
CUSTODIAN = "demo-custody"
WEEK = 7 * 86400


class EvmLike(Protocol):
    """What seeding needs of a local EVM node (EvmNode or anvil in the tests)."""

    @property
    def url(self) -> str: ...

    @property
    def chain_id(self) -> int: ...

    @property
    def w3(self) -> Any: ...

    def latest_timestamp(self) -> int: ...


@dataclass
class Staged:
    """What the demo planted, so its audit can be checked."""

    registry: Path
    folder: Path
    statuses: dict[str, str]
    notes: dict[str, str]
    addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    solana_authority: str = ""

    @property
    def exit_code(self) -> int:
        from ..reconcile import Status, exit_code

        return exit_code(Status(s) for s in self.statuses.values())


def _deploy(evm: EvmLike, name: str, *args: Any) -> Any:
    art = load_artifact(name)
    w3 = evm.w3
    sender = w3.eth.accounts[0]
    tx = (
        w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        .constructor(*args)
        .transact({"from": sender})
    )
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    if receipt["status"] != 1:
        raise RuntimeError(f"deploying {name} failed")
    return w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


def _send(evm: EvmLike, fn: Any) -> None:
    w3 = evm.w3
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": w3.eth.accounts[0]}))
    if receipt["status"] != 1:
        raise RuntimeError("a seeding transaction failed")


def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def seed(evm: EvmLike, solana: SolanaNode, folder: Path, *, now: datetime | None = None) -> Staged:
    """Seed both chains, write attestations and the registry into `folder`."""
    from eth_utils.address import to_checksum_address

    now = now or datetime.now(UTC)
    folder.mkdir(parents=True, exist_ok=True)
    treasury_evm = to_checksum_address("0x" + "7e" * 20)
    holders = [to_checksum_address(f"0x{i:040x}") for i in range(0xA1, 0xA4)]

    # The Solana clock follows the wall clock, so attestation ages and schedules read true.
    solana.set_unix_timestamp(int(now.timestamp()))
    authority = Keypair()
    solana.remember(authority)
    sol_now = int(now.timestamp())

    # TSLAx ---------------------------------------------------------------------------------
    tsla = _deploy(evm, "PlainToken", "Tesla xStock (demo)", "TSLAx", 18)
    _send(evm, tsla.functions.mint(holders[0], 600 * WAD))
    _send(evm, tsla.functions.mint(holders[1], 400 * WAD))
    _send(evm, tsla.functions.mint(treasury_evm, 250 * WAD))
    tsla_mint = spl.create_mint(
        solana,
        decimals=8,
        mint_authority=authority,
        extensions=spl.xstock_like_extensions(
            authority.pubkey(), multiplier=1.0, name="Tesla xStock (demo)", symbol="TSLAx"
        ),
    )
    _holder_with(solana, tsla_mint, 500 * 10**8)
    treasury_acct = spl.create_token_account(solana, tsla_mint, authority.pubkey(), ata=True)
    spl.mint_to(solana, tsla_mint, treasury_acct, 100 * 10**8)

    # AAPLx: multiplier changes scheduled on both chains ---------------------------------------
    aapl = _deploy(evm, "BackedAutoFeeToken", "Apple xStock (demo)", "AAPLx", 86400 * 30, 0, 0)
    _send(evm, aapl.functions.mint(holders[0], 200 * WAD))
    activation = evm.latest_timestamp() + WEEK
    _send(evm, aapl.functions.updateMultiplierValue(1_020_000_000_000_000_000, WAD, activation))
    aapl_mint = spl.create_mint(
        solana,
        decimals=8,
        mint_authority=authority,
        extensions=[spl.ScaledUiAmount(authority.pubkey(), 1.0)],
    )
    _holder_with(solana, aapl_mint, 300 * 10**8)
    spl.update_scaled_ui_multiplier(solana, aapl_mint, authority, 1.02, sol_now + WEEK)

    # NVDAx: staged shortfall ------------------------------------------------------------------
    nvda = _deploy(evm, "PlainToken", "NVIDIA xStock (demo)", "NVDAx", 18)
    _send(evm, nvda.functions.mint(holders[2], 800 * WAD))
    nvda_mint = spl.create_mint(solana, program="spl", decimals=6, mint_authority=authority)
    _holder_with(solana, nvda_mint, 200 * 10**6)

    # SPYx: Backed multiplier 1.5, over-collateralised -------------------------------------------
    spy = _deploy(evm, "BackedAutoFeeToken", "SPDR S&P 500 xStock (demo)", "SPYx", 86400 * 30, 0, 0)
    _send(evm, spy.functions.mint(holders[1], 100 * WAD))
    _send(evm, spy.functions.updateMultiplierValue(3 * WAD // 2, WAD, 0))

    # Custody -----------------------------------------------------------------------------------
    att = folder / "attestations"
    att.mkdir(exist_ok=True)
    (att / "demo-custody-safe-0001.json").write_text(
        json.dumps(
            {
                "custodian": CUSTODIAN,
                "account": "SAFE-0001",
                "as_of": _iso(now - timedelta(hours=2)),
                "holdings": [
                    {"isin": "US88160R1014", "quantity": "1500.000000"},
                    {"isin": "US0378331005", "quantity": "500.000000"},
                    {"isin": "US67066G1040", "quantity": "999.500000"},
                    {"isin": "US78462F1030", "quantity": "100.000000"},
                ],
            },
            indent=2,
        )
        + "\n"
    )
    (att / "demo-custody-safe-0002.csv").write_text(
        "isin,quantity,as_of,account\n"
        f"US78462F1030,51.000000,{_iso(now - timedelta(hours=3))},SAFE-0002\n"
    )

    registry = folder / "xstock-audit.yaml"
    registry.write_text(
        _registry_text(
            evm,
            solana,
            evm_addresses={
                "TSLAx": tsla.address,
                "AAPLx": aapl.address,
                "NVDAx": nvda.address,
                "SPYx": spy.address,
            },
            mints={"TSLAx": tsla_mint, "AAPLx": aapl_mint, "NVDAx": nvda_mint},
            treasury_evm=treasury_evm,
            treasury_sol=authority.pubkey(),
        )
    )
    return Staged(
        registry=registry,
        folder=folder,
        statuses={"TSLAx": "BACKED", "AAPLx": "BACKED", "NVDAx": "UNDER", "SPYx": "OVER"},
        notes={
            "TSLAx": "treasuries excluded on both chains: 1000 + 500 = 1500 shares, custody 1500",
            "AAPLx": "multiplier x1.02 scheduled in 7 days on both chains (reported, not applied)",
            "NVDAx": "staged shortfall: 800 + 200 = 1000 shares, custody 999.5",
            "SPYx": "Backed multiplier 1.5: 100 shares = 150 tokens, custody 100 + 51 = 151",
        },
        addresses={
            "TSLAx": {"ethereum": tsla.address, "solana": str(tsla_mint)},
            "AAPLx": {"ethereum": aapl.address, "solana": str(aapl_mint)},
            "NVDAx": {"ethereum": nvda.address, "solana": str(nvda_mint)},
            "SPYx": {"ethereum": spy.address},
        },
        solana_authority=str(authority.pubkey()),
    )


def _holder_with(solana: SolanaNode, mint: Pubkey, amount: int) -> Pubkey:
    account = spl.create_token_account(solana, mint, Keypair().pubkey(), ata=True)
    spl.mint_to(solana, mint, account, amount)
    return account


def _registry_text(
    evm: EvmLike,
    solana: SolanaNode,
    *,
    evm_addresses: dict[str, str],
    mints: dict[str, Pubkey],
    treasury_evm: str,
    treasury_sol: Pubkey,
) -> str:
    from .solana import SANDBOX_GENESIS_HASH

    isins = {
        "TSLAx": "US88160R1014",
        "AAPLx": "US0378331005",
        "NVDAx": "US67066G1040",
        "SPYx": "US78462F1030",
    }
    lines = [
        "# xstock-audit registry written by `xstock-audit demo` / `sandbox`.",
        "# The chains are local (py-evm and LiteSVM on 127.0.0.1); nothing here is real.",
        "version: 1",
        "chains:",
        "  ethereum:",
        "    type: evm",
        f"    chain_id: {evm.chain_id}",
        f'    rpc: ["{evm.url}"]',
        "    # local chains make a block only when you send a transaction (a real chain's head",
        "    # is seconds old): allow an idle sandbox's head to be a week old",
        "    max_head_age: 7d",
        "  solana:",
        "    type: solana",
        f"    genesis_hash: {SANDBOX_GENESIS_HASH}",
        f'    rpc: ["{solana.url}"]',
        "    commitment: finalized",
        "    max_head_age: 7d",
        "custodians:",
        f"  {CUSTODIAN}:",
        '    attestations: ["attestations/*.json", "attestations/*.csv"]',
        "    max_age: 36h",
        "tokens:",
    ]
    for symbol, address in evm_addresses.items():
        lines += [
            f"  - symbol: {symbol}",
            f"    isin: {isins[symbol]}",
            f"    custodian: {CUSTODIAN}",
            '    tolerance: "0.000001"',
            "    deployments:",
            "      - chain: ethereum",
            f'        address: "{address}"',
            "        decimals: 18",
        ]
        if symbol == "TSLAx":
            lines.append(f'        exclude: ["{treasury_evm}"]')
        if symbol in mints:
            lines += ["      - chain: solana", f"        mint: {mints[symbol]}"]
            if symbol == "TSLAx":
                lines.append(f"        exclude_owners: [{treasury_sol}]")
    return "\n".join(lines) + "\n"


def register_controls(solana: SolanaNode, staged: Staged) -> None:
    """Sandbox-only JSON-RPC methods to rehearse corporate actions on the Solana side.

    `sandbox_updateScaledUiMultiplier [mint, multiplier, effective_unix_timestamp]` (the mint
    authority is held by the sandbox) and `sandbox_setUnixTimestamp [ts]`.
    """
    from .solana import RpcError

    authority = Pubkey.from_string(staged.solana_authority)  # its keypair is remembered

    def update(params: object) -> object:
        if not (isinstance(params, list) and len(params) == 3):
            raise RpcError(-32602, "Invalid params: expected [mint, multiplier, timestamp].")
        mint, multiplier, ts = params
        # The extension stores an f64; a JSON number arrives as one already.
        if isinstance(multiplier, bool) or not isinstance(multiplier, int | float):
            raise RpcError(-32602, "Invalid params: the multiplier is a JSON number.")
        if isinstance(ts, bool) or not isinstance(ts, int):
            raise RpcError(-32602, "Invalid params: the timestamp is an integer.")
        try:
            spl.update_scaled_ui_multiplier(
                solana, Pubkey.from_string(str(mint)), authority, multiplier, ts
            )
        except Exception as exc:  # reported to the caller as a JSON-RPC error
            raise RpcError(-32002, f"update failed: {exc}") from None
        return {"mint": str(mint), "multiplier": repr(multiplier), "effective_timestamp": ts}

    def set_time(params: object) -> object:
        if not (isinstance(params, list) and len(params) == 1 and isinstance(params[0], int)):
            raise RpcError(-32602, "Invalid params: expected [unix_timestamp].")
        solana.set_unix_timestamp(params[0])
        return params[0]

    solana.register_method("sandbox_updateScaledUiMultiplier", update)
    solana.register_method("sandbox_setUnixTimestamp", set_time)
