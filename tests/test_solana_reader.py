"""The Solana reader against LiteSVM (real SPL Token and Token-2022 programs) over JSON-RPC."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from xstock_audit.chains import ChainRead, MultiplierSchedule
from xstock_audit.chains import spl_layout as L
from xstock_audit.chains.solana import SolanaChain, SolanaDeployment, SolanaReader
from xstock_audit.rpc import make_client
from xstock_audit.sandbox.solana import SANDBOX_GENESIS_HASH, SolanaNode, spl

T0 = 1_767_225_600  # the sandbox clock's start: 2026-01-01T00:00:00Z


def chain(node: SolanaNode, **kw: object) -> SolanaChain:
    return SolanaChain.model_validate({"type": "solana", "rpc": [node.url], **kw})


def dep(mint: Pubkey, **kw: object) -> SolanaDeployment:
    return SolanaDeployment.model_validate({"chain": "solana", "mint": str(mint), **kw})


def read(c: SolanaChain, deps: list[SolanaDeployment]) -> ChainRead:
    async def go() -> ChainRead:
        async with make_client() as client:
            return await SolanaReader("solana", c, client).read(deps)

    return asyncio.run(go())


def test_program_ids_are_the_real_ones() -> None:
    from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

    assert str(TOKEN_PROGRAM_ID) == L.SPL_TOKEN
    assert str(TOKEN_2022_PROGRAM_ID) == L.TOKEN_2022


def test_spl_mint_with_excluded_owner_and_account(solana_node: SolanaNode) -> None:
    treasury = Keypair().pubkey()
    mint = spl.create_mint(solana_node, program="spl", decimals=6)
    holder = spl.create_token_account(solana_node, mint, Keypair().pubkey())
    t1 = spl.create_token_account(solana_node, mint, treasury, ata=True)
    t2 = spl.create_token_account(solana_node, mint, treasury)  # a second account of the same owner
    bridge = spl.create_token_account(solana_node, mint, Keypair().pubkey())
    spl.mint_to(solana_node, mint, holder, 1_000_000_007)
    spl.mint_to(solana_node, mint, t1, 200_000_000)
    spl.mint_to(solana_node, mint, t2, 50_000_000)
    spl.mint_to(solana_node, mint, bridge, 3)
    r = read(
        chain(solana_node),
        [dep(mint, decimals=6, exclude_owners=[str(treasury)], exclude_accounts=[str(bridge)])],
    )
    s = r.supplies[str(mint)]
    assert s.error is None, s.error
    assert s.total_supply == Decimal("1250.000010")
    assert s.excluded == Decimal("250.000003")
    assert s.circulating == Decimal("1000.000007")
    assert (s.multiplier, s.multiplier_applied) == (1, False)
    assert r.pin is not None and r.pin.number == solana_node.slot
    assert int(r.pin.time.timestamp()) == solana_node.unix_timestamp


def test_scaled_ui_amount_before_and_after_the_scheduled_change(solana_node: SolanaNode) -> None:
    authority = Keypair()
    solana_node.remember(authority)
    solana_node.set_unix_timestamp(T0)
    mint = spl.create_mint(
        solana_node, decimals=8, extensions=[spl.ScaledUiAmount(authority.pubkey(), 1.02)]
    )
    holder = spl.create_token_account(solana_node, mint, Keypair().pubkey(), ata=True)
    spl.mint_to(solana_node, mint, holder, 123_456_789_012)
    spl.update_scaled_ui_multiplier(solana_node, mint, authority, 1.1, T0 + 3600)

    before = read(chain(solana_node), [dep(mint)]).supplies[str(mint)]
    assert before.error is None, before.error
    assert before.multiplier == Decimal("1.02") and before.multiplier_applied
    assert before.total_supply == Decimal("1234.56789012")
    assert before.circulating == Decimal("1234.56789012") * Decimal("1.02")
    assert before.schedule == MultiplierSchedule(
        Decimal("1.02"), Decimal("1.1"), datetime.fromtimestamp(T0 + 3600, UTC)
    )

    solana_node.set_unix_timestamp(T0 + 3600)  # at the timestamp: the new multiplier is in force
    after = read(chain(solana_node), [dep(mint)]).supplies[str(mint)]
    assert after.multiplier == Decimal("1.1")
    assert after.circulating == Decimal("1234.56789012") * Decimal("1.1")
    assert after.schedule is None
    solana_node.set_unix_timestamp(T0)


def test_many_extensions_before_scaled_ui_amount(solana_node: SolanaNode) -> None:
    authority = Keypair()
    solana_node.remember(authority)
    owner = Keypair().pubkey()
    mint = spl.create_mint(
        solana_node,
        decimals=8,
        extensions=spl.xstock_like_extensions(authority.pubkey(), multiplier=1.0523),
    )
    raw = solana_node.get_account(mint)
    assert raw is not None
    types = [t for t, _ in L.parse_mint(L.TOKEN_2022, bytes(raw.data)).extensions]
    assert types.index(L.EXT_SCALED_UI_AMOUNT) >= 3
    acct = spl.create_token_account(solana_node, mint, owner, ata=True)
    issuer = spl.create_token_account(solana_node, mint, authority.pubkey(), ata=True)
    spl.mint_to(solana_node, mint, acct, 10**8)
    spl.mint_to(solana_node, mint, issuer, 5 * 10**8)
    s = read(chain(solana_node), [dep(mint, decimals=8, exclude_owners=[str(authority.pubkey())])])
    s1 = s.supplies[str(mint)]
    assert s1.error is None, s1.error
    assert s1.details["extensions"].split(",")[3] == "ScaledUiAmount"
    assert (s1.total_supply, s1.excluded) == (Decimal(6), Decimal(5))
    assert s1.circulating == Decimal("1.0523")


def test_errors(solana_node: SolanaNode) -> None:
    mint = spl.create_mint(solana_node, program="spl", decimals=6)
    holder_owner = Keypair().pubkey()
    holder = spl.create_token_account(solana_node, mint, holder_owner)
    missing = Keypair().pubkey()
    other = spl.create_mint(solana_node, program="spl", decimals=2)
    foreign = spl.create_token_account(solana_node, other, holder_owner)
    authority = Keypair()
    solana_node.remember(authority)
    interest = spl.create_mint(
        solana_node, decimals=2, extensions=[spl.InterestBearingConfig(authority.pubkey(), 500)]
    )
    r = read(
        chain(solana_node),
        [
            dep(mint, decimals=9),
            dep(missing),
            dep(holder),
            dep(other, exclude_accounts=[str(foreign), str(holder)]),
            dep(interest),
        ],
    )
    err = {k: v.error or "" for k, v in r.supplies.items()}
    assert "decimals mismatch" in err[str(mint)]
    assert "not found" in err[str(missing)]
    assert "not a token mint" in err[str(holder)]
    assert "holds mint" in err[str(other)]
    assert "interest-bearing" in err[str(interest)]


def test_genesis_hash_is_checked(solana_node: SolanaNode) -> None:
    mint = spl.create_mint(solana_node, program="spl", decimals=0)
    ok = read(chain(solana_node, genesis_hash=SANDBOX_GENESIS_HASH), [dep(mint)])
    assert ok.error is None
    wrong = read(
        chain(solana_node, genesis_hash="5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"), [dep(mint)]
    )
    assert wrong.pin is None
    assert wrong.error is not None and "genesis hash" in wrong.error
