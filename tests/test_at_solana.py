"""Solana `check --at`: the state at a past instant rebuilt by replaying the node's history.

Every test puts transactions on the LiteSVM node on both sides of an instant, records what the
node itself holds at the instant (its own parser, `spl.get_mint` / `spl.get_token_account`,
and the token program's AmountToUiAmount for the multiplier), sends more transactions, and
then asks the reader for the instant.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token import instructions as token_ix
from spl.token.models import BurnParams, MintToParams, TransferParams

from xstock_audit.chains import ChainRead
from xstock_audit.chains.solana import SolanaChain, SolanaDeployment, SolanaReader
from xstock_audit.rpc import make_client
from xstock_audit.sandbox.solana import SandboxTransactionError, SolanaNode, spl
from xstock_audit.timefmt import from_unix

T0 = 1_767_225_600


def chain(node: SolanaNode) -> SolanaChain:
    return SolanaChain.model_validate({"type": "solana", "rpc": [node.url]})


def dep(mint: Pubkey, **kw: object) -> SolanaDeployment:
    return SolanaDeployment.model_validate({"chain": "solana", "mint": str(mint), **kw})


def read_at(node: SolanaNode, deps: list[SolanaDeployment], when: datetime) -> ChainRead:
    async def go() -> ChainRead:
        async with make_client() as client:
            return await SolanaReader("solana", chain(node), client).read_at(deps, when)

    return asyncio.run(go())


def at(node: SolanaNode, slot: int, unix: int) -> None:
    node.warp_to_slot(slot)
    node.set_unix_timestamp(unix)


def multiplier_now(node: SolanaNode, mint: Pubkey, decimals: int) -> Decimal:
    """The token program's own UI amount of one whole token now: the multiplier in force."""
    return Decimal(spl.amount_to_ui_amount(node, mint, 10**decimals))


def rpc(node: SolanaNode, method: str, params: list[Any]) -> Any:
    reply = httpx.post(
        node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    )
    return reply.json()


def plain_mint_to(
    node: SolanaNode, mint: Pubkey, dest: Pubkey, amount: int, authority: Pubkey
) -> None:
    program = node.get_account(mint).owner  # type: ignore[union-attr]
    node.send_transaction(
        [
            token_ix.mint_to(
                MintToParams(
                    program_id=program,
                    mint=mint,
                    dest=dest,
                    mint_authority=authority,
                    amount=amount,
                )
            )
        ]
    )


def plain_burn(node: SolanaNode, mint: Pubkey, account: Pubkey, amount: int, owner: Pubkey) -> None:
    program = node.get_account(mint).owner  # type: ignore[union-attr]
    node.send_transaction(
        [
            token_ix.burn(
                BurnParams(
                    program_id=program, account=account, mint=mint, owner=owner, amount=amount
                )
            )
        ]
    )


def plain_transfer(
    node: SolanaNode, mint: Pubkey, source: Pubkey, dest: Pubkey, amount: int, owner: Pubkey
) -> None:
    """Transfer (not TransferChecked): the mint is not among the transaction's keys."""
    program = node.get_account(mint).owner  # type: ignore[union-attr]
    node.send_transaction(
        [
            token_ix.transfer(
                TransferParams(
                    program_id=program, source=source, dest=dest, owner=owner, amount=amount
                )
            )
        ]
    )


def test_replay_both_programs_back_to_the_instant(fresh_solana_node: SolanaNode) -> None:
    node = fresh_solana_node
    at(node, 1_000, T0)
    authority = Keypair()
    treasury = Keypair()
    holder = Keypair()
    node.remember(authority, treasury, holder)
    # SPL Token mint, an excluded bridge account
    a = spl.create_mint(node, program="spl", decimals=6, mint_authority=authority)
    a_holder = spl.create_token_account(node, a, holder)
    a_bridge = spl.create_token_account(node, a, treasury)
    # Token-2022 mint with ScaledUiAmount, an excluded owner (two accounts)
    b = spl.create_mint(
        node,
        decimals=8,
        mint_authority=authority,
        extensions=[spl.ScaledUiAmount(authority.pubkey(), 1.5)],
    )
    b_holder = spl.create_token_account(node, b, holder, ata=True)
    b_t1 = spl.create_token_account(node, b, treasury, ata=True)
    b_t2 = spl.create_token_account(node, b, treasury)
    spl.mint_to(node, a, a_holder, 5_000_000_000)
    spl.mint_to(node, a, a_bridge, 1_000_000_000)
    spl.mint_to(node, b, b_holder, 70_000_000_000)
    spl.mint_to(node, b, b_t1, 20_000_000_000)
    at(node, 1_050, T0 + 50)
    spl.transfer_checked(node, b, b_holder, b_t2, 3_000_000_000)
    plain_burn(node, a, a_holder, 100_000_000, holder.pubkey())

    # the instant: T0 + 150, between slot 1_050 (T0 + 50) and slot 1_200 (T0 + 200)
    when = from_unix(T0 + 150)
    expected = {
        "a_supply": spl.get_mint(node, a).supply,
        "a_bridge": spl.get_token_account(node, a_bridge).amount,
        "b_supply": spl.get_mint(node, b).supply,
        "b_treasury": spl.get_token_account(node, b_t1).amount
        + spl.get_token_account(node, b_t2).amount,
        "b_multiplier": multiplier_now(node, b, 8),
    }

    at(node, 1_200, T0 + 200)
    after = 0
    plain_mint_to(node, a, a_holder, 250_000_000, authority.pubkey())  # MintTo
    spl.mint_to(node, a, a_bridge, 7)  # MintToChecked
    spl.burn(node, a, a_holder, 30_000_000)  # BurnChecked
    plain_burn(node, a, a_bridge, 500_000_000, treasury.pubkey())  # Burn, from the excluded account
    spl.transfer_checked(node, a, a_bridge, a_holder, 100_000_000)  # out of the excluded holder
    after += 5
    at(node, 1_300, T0 + 300)
    plain_mint_to(node, b, b_holder, 11_000_000_000, authority.pubkey())
    spl.mint_to(node, b, b_t1, 5_000_000_000)
    spl.burn(node, b, b_holder, 2_000_000_000)
    plain_burn(node, b, b_t2, 1_000_000_000, treasury.pubkey())
    spl.transfer_checked(node, b, b_t1, b_holder, 4_000_000_000)  # out of the excluded owner
    plain_transfer(node, b, b_holder, b_t2, 123, holder.pubkey())  # into it, mint not a key
    spl.update_scaled_ui_multiplier(node, b, authority, 2.25, 0)  # in force at once
    after += 7
    with pytest.raises(SandboxTransactionError):  # a failed transaction: burns more than held
        spl.burn(node, a, a_holder, 10**15)
    with pytest.raises(SandboxTransactionError):
        plain_burn(node, b, b_holder, 10**18, holder.pubkey())
    # the state now differs from the instant's
    assert spl.get_mint(node, a).supply != expected["a_supply"]
    assert spl.get_mint(node, b).supply != expected["b_supply"]
    assert multiplier_now(node, b, 8) != expected["b_multiplier"]

    r = read_at(
        node,
        [
            dep(a, exclude_accounts=[str(a_bridge)]),
            dep(b, exclude_owners=[str(treasury.pubkey())]),
        ],
        when,
    )
    assert r.error is None, r.error
    sa, sb = r.supplies[str(a)], r.supplies[str(b)]
    assert sa.error is None, sa.error
    assert sb.error is None, sb.error
    assert sa.total_supply == Decimal(expected["a_supply"]).scaleb(-6)
    assert sa.excluded == Decimal(expected["a_bridge"]).scaleb(-6)
    assert sa.circulating == Decimal(expected["a_supply"] - expected["a_bridge"]).scaleb(-6)
    assert sb.total_supply == Decimal(expected["b_supply"]).scaleb(-8)
    assert sb.excluded == Decimal(expected["b_treasury"]).scaleb(-8)
    assert sb.multiplier == expected["b_multiplier"] == Decimal("1.5")
    assert sb.circulating == Decimal(expected["b_supply"] - expected["b_treasury"]).scaleb(
        -8
    ) * Decimal("1.5")
    pin = r.pin
    assert pin is not None
    assert pin.at == when and pin.replayed == after
    assert pin.number == 1_050 and int(pin.time.timestamp()) == T0 + 50  # the last change before
    assert pin.how is not None and "2 failed" in pin.how


def test_multiplier_walked_back_through_updates(fresh_solana_node: SolanaNode) -> None:
    """A change scheduled before the instant for after it, then replaced after the instant:
    the multiplier then is the initial one, with the scheduled change pending."""
    node = fresh_solana_node
    at(node, 1_000, T0)
    authority = Keypair()
    node.remember(authority)
    m = spl.create_mint(
        node,
        decimals=6,
        mint_authority=authority,
        extensions=[spl.ScaledUiAmount(authority.pubkey(), 1.0)],
    )
    h = spl.create_token_account(node, m, Keypair().pubkey(), ata=True)
    spl.mint_to(node, m, h, 10_000_000)
    at(node, 1_010, T0 + 10)
    spl.update_scaled_ui_multiplier(node, m, authority, 1.2, T0 + 300)  # scheduled
    at(node, 1_100, T0 + 100)
    expected_multiplier = multiplier_now(node, m, 6)
    expected_supply = spl.get_mint(node, m).supply
    at(node, 1_200, T0 + 200)
    spl.update_scaled_ui_multiplier(node, m, authority, 2.0, T0 + 200)  # replaces it, at once
    spl.mint_to(node, m, h, 5)
    assert multiplier_now(node, m, 6) == Decimal(2)

    r = read_at(node, [dep(m)], from_unix(T0 + 100))
    s = r.supplies[str(m)]
    assert s.error is None, s.error
    assert s.multiplier == expected_multiplier == Decimal(1)
    assert s.total_supply == Decimal(expected_supply).scaleb(-6)
    assert s.schedule is not None
    assert (s.schedule.new, s.schedule.at) == (Decimal("1.2"), from_unix(T0 + 300))
    # and at an instant after the scheduled time but before the replacement: 1.2
    at(node, 1_300, T0 + 400)
    r = read_at(node, [dep(m)], from_unix(T0 + 150))
    assert r.supplies[str(m)].multiplier == Decimal(1)  # T0+150 < T0+300: not yet
    r = read_at(node, [dep(m)], from_unix(T0 + 199))
    assert r.supplies[str(m)].multiplier == Decimal(1)


def test_history_cut_short_is_an_error(fresh_solana_node: SolanaNode) -> None:
    node = fresh_solana_node
    at(node, 1_000, T0)
    m = spl.create_mint(node, program="spl", decimals=2)
    h = spl.create_token_account(node, m, Keypair().pubkey())
    spl.mint_to(node, m, h, 100)
    at(node, 1_200, T0 + 200)
    spl.mint_to(node, m, h, 5)
    ok = read_at(node, [dep(m)], from_unix(T0 + 100))
    assert ok.supplies[str(m)].total_supply == Decimal("1.00")  # 100 raw at the instant
    node.first_available_slot = 1_200  # the node pruned everything before slot 1_200
    r = read_at(node, [dep(m)], from_unix(T0 + 100))
    assert r.pin is None and r.error is not None
    assert "history starts at slot 1200" in r.error
    s = r.supplies[str(m)]
    assert s.error is not None and s.total_supply is None


def test_mint_created_after_the_instant(fresh_solana_node: SolanaNode) -> None:
    node = fresh_solana_node
    at(node, 1_000, T0)
    spl.create_mint(node, program="spl", decimals=2)  # something before, so history reaches
    at(node, 1_200, T0 + 200)
    m = spl.create_mint(node, program="spl", decimals=2)
    r = read_at(node, [dep(m)], from_unix(T0 + 100))
    s = r.supplies[str(m)]
    assert s.error is not None and "did not exist" in s.error


def test_node_lists_signatures_as_agave(fresh_solana_node: SolanaNode) -> None:
    node = fresh_solana_node
    at(node, 1_000, T0)
    m = spl.create_mint(node, program="spl", decimals=0)
    h = spl.create_token_account(node, m, Keypair().pubkey())
    for i in range(5):
        at(node, 1_001 + i, T0 + 1 + i)
        spl.mint_to(node, m, h, 10 + i)
    every = rpc(node, "getSignaturesForAddress", [str(m)])["result"]
    assert len(every) == 7  # create, account, 5 mints
    assert [e["slot"] for e in every] == sorted((e["slot"] for e in every), reverse=True)
    page = rpc(
        node, "getSignaturesForAddress", [str(m), {"limit": 2, "before": every[1]["signature"]}]
    )
    assert [e["signature"] for e in page["result"]] == [
        every[2]["signature"],
        every[3]["signature"],
    ]
    until = rpc(node, "getSignaturesForAddress", [str(m), {"until": every[2]["signature"]}])
    assert [e["signature"] for e in until["result"]] == [
        every[0]["signature"],
        every[1]["signature"],
    ]
    assert (
        rpc(node, "getSignaturesForAddress", [str(m), {"limit": 1001}])["error"]["code"] == -32602
    )
    tx = rpc(
        node,
        "getTransaction",
        [every[0]["signature"], {"encoding": "json", "maxSupportedTransactionVersion": 0}],
    )
    result = tx["result"]
    assert (
        result["version"] == "legacy" and result["slot"] == 1_005 and result["blockTime"] == T0 + 5
    )
    pre = {
        b["accountIndex"]: int(b["uiTokenAmount"]["amount"])
        for b in result["meta"]["preTokenBalances"]
    }
    post = {
        b["accountIndex"]: int(b["uiTokenAmount"]["amount"])
        for b in result["meta"]["postTokenBalances"]
    }
    assert sum(post.values()) - sum(pre.values()) == 14
    keys = result["transaction"]["message"]["accountKeys"]
    assert keys[next(iter(post))] == str(h)
    node.first_available_slot = 1_003
    cut = rpc(node, "getSignaturesForAddress", [str(m)])["result"]
    assert [e["slot"] for e in cut] == [1_005, 1_004, 1_003]
    assert rpc(node, "getTransaction", [every[-1]["signature"], "json"])["result"] is None
    assert rpc(node, "getFirstAvailableBlock", [])["result"] == 1_003
    assert rpc(node, "getBlockTime", [1_001])["error"]["code"] == -32001
