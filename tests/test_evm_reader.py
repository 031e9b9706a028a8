"""The EVM reader against real local nodes (anvil and the package's py-evm node) with real
ERC-20 and Backed-style contracts: every test runs on both."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from eth_utils.address import to_checksum_address
from support.evm import (
    MULTIPLIER_ONE,
    EvmTestNode,
    deploy_backed_token,
    deploy_plain_token,
    transact,
)

from xstock_audit.chains import ChainRead, MultiplierSchedule
from xstock_audit.chains.evm import EvmChain, EvmDeployment, EvmReader
from xstock_audit.rpc import make_client

HOLDER = to_checksum_address("0x00000000000000000000000000000000000000a1")
TREASURY = to_checksum_address("0x00000000000000000000000000000000000000b2")
BRIDGE = to_checksum_address("0x00000000000000000000000000000000000000c3")


@pytest.fixture(params=["deployless", "multicall", "batch"])
def via(request: pytest.FixtureRequest) -> str:
    """Read through deployless batch calls (the default), Multicall3 aggregate3, or with
    plain eth_calls in JSON-RPC batches."""
    mode: str = request.param
    return mode


def chain(node: EvmTestNode, via: str = "deployless", **kw: object) -> EvmChain:
    if via == "batch":
        kw.setdefault("multicall", False)
    elif via == "multicall":
        kw.setdefault("deployless", False)
    return EvmChain.model_validate({"type": "evm", "chain_id": 31337, "rpc": [node.url], **kw})


def read(c: EvmChain, deps: list[EvmDeployment], at: int | None = None) -> ChainRead:
    async def go() -> ChainRead:
        async with make_client() as client:
            return await EvmReader("ethereum", c, client).read(deps, at)

    return asyncio.run(go())


def dep(address: str, **kw: object) -> EvmDeployment:
    return EvmDeployment.model_validate({"chain": "ethereum", "address": address, **kw})


@pytest.mark.parametrize("decimals", [18, 6, 0])
def test_plain_erc20_supply_minus_excluded(evm_node: EvmTestNode, decimals: int, via: str) -> None:
    token = deploy_plain_token(evm_node, decimals=decimals)
    unit = 10**decimals
    transact(evm_node, token.functions.mint(HOLDER, 1000 * unit + 7))
    transact(evm_node, token.functions.mint(TREASURY, 250 * unit))
    transact(evm_node, token.functions.mint(BRIDGE, 3))
    r = read(
        chain(evm_node, via), [dep(token.address, decimals=decimals, exclude=[TREASURY, BRIDGE])]
    )
    s = r.supplies[token.address]
    assert s.error is None
    assert s.decimals == decimals
    assert s.total_supply * unit == 1250 * unit + 10
    assert s.excluded * unit == 250 * unit + 3
    assert s.circulating * unit == 1000 * unit + 7
    assert s.multiplier == 1 and not s.multiplier_applied
    assert r.pin is not None and r.pin.kind == "evm"
    assert r.pin.number == evm_node.block_number()


def test_read_is_pinned_to_one_block(evm_node: EvmTestNode, via: str) -> None:
    token = deploy_plain_token(evm_node, decimals=6)
    transact(evm_node, token.functions.mint(HOLDER, 5_000_000))
    before = evm_node.block_number()
    transact(evm_node, token.functions.mint(HOLDER, 1_000_000))
    old = read(chain(evm_node, via), [dep(token.address)], at=before).supplies[token.address]
    new = read(chain(evm_node, via), [dep(token.address)]).supplies[token.address]
    assert old.total_supply == Decimal("5")
    assert new.total_supply == Decimal("6")


def test_confirmations_read_behind_head(evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(evm_node, decimals=0)
    transact(evm_node, token.functions.mint(HOLDER, 10))
    transact(evm_node, token.functions.mint(HOLDER, 10))  # head: 20, head-1: 10
    r = read(chain(evm_node, confirmations=1), [dep(token.address)])
    assert r.pin is not None and r.pin.number == evm_node.block_number() - 1
    assert r.supplies[token.address].total_supply == 10


def test_backed_multiplier_token(evm_node: EvmTestNode, via: str) -> None:
    token = deploy_backed_token(evm_node)
    transact(evm_node, token.functions.mint(HOLDER, 100 * MULTIPLIER_ONE))
    transact(evm_node, token.functions.mint(TREASURY, 40 * MULTIPLIER_ONE))
    new_mult = 1_050_000_000_000_000_000
    transact(evm_node, token.functions.updateMultiplierValue(new_mult, MULTIPLIER_ONE, 0))
    # balances are shares x multiplier / 1e18: read them as the contract computes them
    total = token.functions.totalSupply().call()
    treasury = token.functions.balanceOf(TREASURY).call()
    assert (
        total
        == token.functions.getUnderlyingAmountByShares(
            token.functions.sharesOf(HOLDER).call() + token.functions.sharesOf(TREASURY).call()
        ).call()
    )
    s = read(chain(evm_node, via), [dep(token.address, decimals=18, exclude=[TREASURY])]).supplies[
        token.address
    ]
    assert s.error is None
    assert s.multiplier == Decimal("1.05")
    assert not s.multiplier_applied  # already inside totalSupply/balanceOf
    assert s.total_supply == Decimal(total) / Decimal(10**18)
    assert s.excluded == Decimal(treasury) / Decimal(10**18)
    assert s.circulating == s.total_supply - s.excluded
    assert s.messages == ()


def test_backed_scheduled_multiplier_is_reported(evm_node: EvmTestNode, via: str) -> None:
    token = deploy_backed_token(evm_node)
    transact(evm_node, token.functions.mint(HOLDER, 10 * MULTIPLIER_ONE))
    activation = evm_node.latest_timestamp() + 3600
    transact(
        evm_node,
        token.functions.updateMultiplierValue(2 * MULTIPLIER_ONE, MULTIPLIER_ONE, activation),
    )
    s = read(chain(evm_node, via), [dep(token.address)]).supplies[token.address]
    assert s.multiplier == 1
    assert s.total_supply == 10
    # the reader returns the change as data; the report formats write the sentence
    assert s.schedule == MultiplierSchedule(
        Decimal(1), Decimal(2), datetime.fromtimestamp(activation, UTC)
    )
    evm_node.warp(activation + 1)
    after = read(chain(evm_node, via), [dep(token.address)]).supplies[token.address]
    assert after.multiplier == 2
    assert after.total_supply == 20
    assert after.schedule is None


def test_backed_fee_decay_uses_current_multiplier(evm_node: EvmTestNode) -> None:
    fee = 10**15  # 0.1 % a period
    token = deploy_backed_token(evm_node, period_length=86_400, fee_per_period=fee)
    transact(evm_node, token.functions.mint(HOLDER, 1000 * MULTIPLIER_ONE))
    evm_node.warp(evm_node.latest_timestamp() + 2 * 86_400 + 10)
    current, periods, _nonce = token.functions.getCurrentMultiplier().call()
    assert periods >= 2 and current < MULTIPLIER_ONE
    s = read(chain(evm_node), [dep(token.address)]).supplies[token.address]
    assert s.multiplier == Decimal(current) / Decimal(10**18)
    assert s.total_supply == Decimal(token.functions.totalSupply().call()) / Decimal(10**18)
    assert s.details["multiplier_raw"] == str(token.functions.multiplier().call())


def test_errors_are_per_deployment(evm_node: EvmTestNode, via: str) -> None:
    good = deploy_plain_token(evm_node, decimals=6)
    transact(evm_node, good.functions.mint(HOLDER, 1))
    empty = "0x000000000000000000000000000000000000dEaD"
    r = read(chain(evm_node, via), [dep(good.address, decimals=8), dep(empty)])
    assert "decimals mismatch" in (r.supplies[good.address].error or "")
    assert "no contract" in (r.supplies[empty].error or "")


def test_wrong_chain_id_is_refused(evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(evm_node)
    c = EvmChain.model_validate({"type": "evm", "chain_id": 1, "rpc": [evm_node.url]})
    r = read(c, [dep(token.address)])
    assert r.pin is None
    assert r.error is not None and "chain id 31337" in r.error and "says 1" in r.error
    assert r.supplies[token.address].error == r.error


def test_failover_to_the_next_endpoint(evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(evm_node, decimals=0)
    transact(evm_node, token.functions.mint(HOLDER, 42))
    c = EvmChain.model_validate(
        {"type": "evm", "chain_id": 31337, "rpc": ["http://127.0.0.1:9/dead", evm_node.url]}
    )
    r = read(c, [dep(token.address)])
    assert r.supplies[token.address].total_supply == 42
    assert r.pin is not None and r.pin.rpc == evm_node.url.rstrip("/")
