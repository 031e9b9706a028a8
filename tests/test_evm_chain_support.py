"""The EVM test chain tooling (tests/support/evm.py + tests/contracts) against both local nodes:
anvil and the package's py-evm node (xstock_audit.sandbox.evm). Tests taking `fresh_evm_node`
(tests/conftest.py) run on both, each on a new node; the lifecycle tests of each node are
separate."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from support.evm import (
    ARTIFACTS_DIR,
    MULTIPLIER_ONE,
    NODE_KINDS,
    AnvilError,
    AnvilNode,
    EvmNode,
    EvmTestNode,
    NodeKind,
    RpcError,
    anvil_binary,
    deploy_backed_token,
    deploy_plain_token,
    load_artifact,
    make_node,
    transact,
)
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BadFunctionCallOutput, ContractLogicError
from web3.logs import DISCARD

DAY = 86_400
M_105 = 1_050_000_000_000_000_000  # 1.05e18
M_110 = 1_100_000_000_000_000_000  # 1.10e18
NO_CODE = Web3.to_checksum_address("0x000000000000000000000000000000000000dead")


def selector(signature: str) -> str:
    return "0x" + Web3.keccak(text=signature)[:4].hex()


def raw_eth_call(node: EvmTestNode, to: str, data: str, block: str = "latest") -> dict[str, Any]:
    """A bare JSON-RPC eth_call over httpx, returning the whole response object."""
    payload = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"to": to, "data": data}, block],
    }
    response = httpx.post(node.url, json=payload, timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def uint(result_hex: str) -> int:
    return int(result_hex, 16)


# ---------------------------------------------------------------------- node lifecycle


@pytest.mark.slow
def test_node_starts_answers_and_stops() -> None:
    with AnvilNode(chain_id=1337) as anvil:
        assert anvil.url.startswith("http://127.0.0.1:")
        assert anvil.chain_id == 1337
        assert anvil.w3.eth.chain_id == 1337
        assert anvil.w3.is_connected()
        assert len(anvil.accounts) == 10
        assert anvil.accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        assert anvil.w3.eth.get_balance(anvil.accounts[0]) == 10_000 * 10**18
        process = anvil.process
        assert process is not None and process.poll() is None
    assert process.poll() is not None  # terminated and reaped
    anvil.stop()  # idempotent


@pytest.mark.slow
def test_pyevm_node_starts_answers_and_stops() -> None:
    with EvmNode(chain_id=1337) as evm:
        assert evm.url.startswith("http://127.0.0.1:")
        assert evm.chain_id == 1337
        assert evm.w3.eth.chain_id == 1337
        assert evm.w3.is_connected()
        assert len(evm.accounts) == 10
        # anvil's dev accounts and balances, so both nodes deploy to the same addresses
        assert evm.accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        assert evm.w3.eth.get_balance(evm.accounts[0]) == 10_000 * 10**18
        url = evm.url
    with pytest.raises(httpx.TransportError):
        httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=2)
    evm.stop()  # idempotent


@pytest.mark.slow
@pytest.mark.parametrize("kind", NODE_KINDS)
def test_two_nodes_get_distinct_ports(kind: NodeKind) -> None:
    with make_node(kind) as first, make_node(kind) as second:
        assert first.url != second.url
        assert first.block_number() == second.block_number() == 0


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XSTOCK_AUDIT_ANVIL", "/nonexistent/anvil")
    with pytest.raises(AnvilError, match="npm ci"):
        anvil_binary()


@pytest.mark.slow
def test_startup_failure_reports_anvil_output() -> None:
    with pytest.raises(AnvilError, match="exited with code"):
        AnvilNode(extra_args=("--definitely-not-a-flag",)).start()


def test_time_and_mining_helpers(fresh_evm_node: EvmTestNode) -> None:
    start_block = fresh_evm_node.block_number()
    assert fresh_evm_node.mine(3) == start_block + 3

    t0 = fresh_evm_node.latest_timestamp()
    fresh_evm_node.increase_time(3_600)
    fresh_evm_node.mine()
    assert fresh_evm_node.latest_timestamp() >= t0 + 3_600

    target = fresh_evm_node.latest_timestamp() + 10 * DAY
    fresh_evm_node.set_next_timestamp(target)
    fresh_evm_node.mine()
    assert fresh_evm_node.latest_timestamp() == target

    fresh_evm_node.warp(target + 5)
    assert fresh_evm_node.latest_timestamp() == target + 5

    snap = fresh_evm_node.snapshot()
    fresh_evm_node.mine(2)
    assert fresh_evm_node.revert(snap)
    assert fresh_evm_node.latest_timestamp() == target + 5


def test_rpc_error_is_raised(fresh_evm_node: EvmTestNode) -> None:
    with pytest.raises(RpcError) as info:
        fresh_evm_node.rpc("eth_call", [{"to": NO_CODE, "data": "0x"}, hex(10_000)])
    assert info.value.code == -32602
    assert "BlockOutOfRangeError" in info.value.message


# ---------------------------------------------------------------------- artifacts


@pytest.mark.parametrize("name", ["PlainToken", "BackedAutoFeeToken", "Aggregate3"])
def test_artifacts_are_well_formed(name: str) -> None:
    artifact = load_artifact(name)  # package data, read through importlib.resources
    assert (ARTIFACTS_DIR / f"{name}.json").is_file()  # where `npm run build:contracts` writes
    assert sorted(artifact) == [
        "abi",
        "bytecode",
        "contractName",
        "deployedBytecode",
        "solcVersion",
    ]
    assert artifact["deployedBytecode"].startswith("0x60")
    assert artifact["contractName"] == name
    assert artifact["bytecode"].startswith("0x60")
    assert len(artifact["bytecode"]) > 1_000
    assert artifact["solcVersion"].startswith("0.8.37+")


# ---------------------------------------------------------------------- plain ERC-20


@pytest.mark.parametrize("decimals", [18, 6, 0])
def test_plain_token_mint_transfer_burn(fresh_evm_node: EvmTestNode, decimals: int) -> None:
    alice, bob = fresh_evm_node.accounts[1], fresh_evm_node.accounts[2]
    unit = 10**decimals
    token = deploy_plain_token(fresh_evm_node, f"Plain {decimals}", f"P{decimals}", decimals)

    assert token.functions.decimals().call() == decimals
    assert token.functions.name().call() == f"Plain {decimals}"
    assert token.functions.symbol().call() == f"P{decimals}"
    assert token.functions.totalSupply().call() == 0

    transact(fresh_evm_node, token.functions.mint(alice, 1_000 * unit))
    transact(fresh_evm_node, token.functions.transfer(bob, 250 * unit), sender=alice)
    assert token.functions.balanceOf(alice).call() == 750 * unit
    assert token.functions.balanceOf(bob).call() == 250 * unit
    assert token.functions.totalSupply().call() == 1_000 * unit

    transact(fresh_evm_node, token.functions.approve(bob, 100 * unit), sender=alice)
    transact(fresh_evm_node, token.functions.transferFrom(alice, bob, 40 * unit), sender=bob)
    assert token.functions.allowance(alice, bob).call() == 60 * unit

    transact(fresh_evm_node, token.functions.burn(bob, 90 * unit))
    assert token.functions.balanceOf(bob).call() == 200 * unit
    assert token.functions.totalSupply().call() == 910 * unit


def test_plain_token_only_owner_mints(fresh_evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(fresh_evm_node, "Plain", "P", 18)
    with pytest.raises(ContractLogicError, match="caller is not the owner"):
        token.functions.mint(fresh_evm_node.accounts[1], 1).transact(
            {"from": fresh_evm_node.accounts[1]}
        )


def test_plain_token_total_supply_at_older_block(fresh_evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(fresh_evm_node, "Plain", "P", 6)
    transact(fresh_evm_node, token.functions.mint(fresh_evm_node.accounts[0], 5_000_000))
    pinned = fresh_evm_node.block_number()
    transact(fresh_evm_node, token.functions.mint(fresh_evm_node.accounts[0], 7_000_000))

    assert token.functions.totalSupply().call() == 12_000_000
    assert token.functions.totalSupply().call(block_identifier=pinned) == 5_000_000
    data = selector("totalSupply()")
    assert (
        uint(raw_eth_call(fresh_evm_node, token.address, data, hex(pinned))["result"]) == 5_000_000
    )
    # Before the deployment block the address has no code: the call "succeeds" with 0x.
    assert raw_eth_call(fresh_evm_node, token.address, data, "0x0") == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": "0x",
    }


# ---------------------------------------------------------------------- how reverts look


def test_missing_function_reverts_with_code_3_and_empty_data(fresh_evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(fresh_evm_node, "Plain", "P", 18)
    body = raw_eth_call(fresh_evm_node, token.address, selector("multiplier()"))
    assert "result" not in body
    assert body["error"] == {"code": 3, "message": "execution reverted", "data": "0x"}

    # web3 surfaces the same thing as ContractLogicError with data "0x".
    as_backed = fresh_evm_node.w3.eth.contract(
        address=token.address, abi=load_artifact("BackedAutoFeeToken")["abi"]
    )
    with pytest.raises(ContractLogicError) as info:
        as_backed.functions.multiplier().call()
    assert info.value.message == "execution reverted"
    assert info.value.data == "0x"


def test_require_revert_carries_error_string(fresh_evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(fresh_evm_node, "Plain", "P", 18)
    data = token.functions.transfer(fresh_evm_node.accounts[1], 1)._encode_transaction_data()
    body = raw_eth_call(fresh_evm_node, token.address, data)
    error = body["error"]
    assert error["code"] == 3
    assert error["message"] == "execution reverted: PlainToken: transfer amount exceeds balance"
    assert error["data"].startswith("0x08c379a0")  # Error(string)


def test_call_to_address_without_code_returns_empty_result(fresh_evm_node: EvmTestNode) -> None:
    body = raw_eth_call(fresh_evm_node, NO_CODE, selector("multiplier()"))
    assert body == {"jsonrpc": "2.0", "id": 1, "result": "0x"}  # no error at all
    contract = fresh_evm_node.w3.eth.contract(
        address=NO_CODE, abi=load_artifact("PlainToken")["abi"]
    )
    with pytest.raises(BadFunctionCallOutput):
        contract.functions.totalSupply().call()


# ---------------------------------------------------------------------- Backed auto-fee token


def assert_share_math(token: Contract, holders: list[str]) -> int:
    """balanceOf/totalSupply follow shares * currentMultiplier / 1e18; returns that multiplier."""
    current, _, _ = token.functions.getCurrentMultiplier().call()
    for holder in holders:
        shares = token.functions.sharesOf(holder).call()
        assert token.functions.balanceOf(holder).call() == shares * current // MULTIPLIER_ONE
    total_shares = sum(token.functions.sharesOf(h).call() for h in holders)
    assert token.functions.totalSupply().call() == total_shares * current // MULTIPLIER_ONE
    return int(current)


def test_backed_token_initial_state(fresh_evm_node: EvmTestNode) -> None:
    token = deploy_backed_token(fresh_evm_node, "Backed Apple", "AAPLx")
    deployer = fresh_evm_node.accounts[0]
    f = token.functions
    assert (f.name().call(), f.symbol().call(), f.decimals().call()) == (
        "Backed Apple",
        "AAPLx",
        18,
    )
    assert f.multiplier().call() == MULTIPLIER_ONE
    assert f.lastMultiplier().call() == MULTIPLIER_ONE
    assert f.newMultiplier().call() == MULTIPLIER_ONE
    assert f.newMultiplierActivationTime().call() == 0
    assert f.multiplierNonce().call() == 0
    assert f.feePerPeriod().call() == 0
    assert f.periodLength().call() == DAY
    assert (
        f.lastTimeFeeApplied().call() == fresh_evm_node.latest_timestamp()
    )  # 0 -> deployment time
    assert f.getCurrentMultiplier().call() == [MULTIPLIER_ONE, 0, 0]
    assert f.multiplierUpdatesLength().call() == 1
    for role in ("owner", "minter", "burner", "pauser", "multiplierUpdater"):
        assert getattr(f, role)().call() == deployer
    assert f.isPaused().call() is False


def test_backed_token_multiplier_now_and_scheduled(fresh_evm_node: EvmTestNode) -> None:
    alice, bob = fresh_evm_node.accounts[1], fresh_evm_node.accounts[2]
    token = deploy_backed_token(fresh_evm_node, "Backed Tesla", "TSLAx")
    f = token.functions

    transact(fresh_evm_node, f.mint(alice, 100 * 10**18))
    assert f.sharesOf(alice).call() == 100 * 10**18
    assert assert_share_math(token, [alice]) == MULTIPLIER_ONE

    # Immediate update (activation time 0): oldMultiplier must match the current one.
    receipt = transact(fresh_evm_node, f.updateMultiplierValue(M_105, MULTIPLIER_ONE, 0))
    (event,) = token.events.MultiplierUpdated().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["value"] == M_105
    assert f.multiplier().call() == M_105
    assert f.lastMultiplier().call() == M_105
    assert f.multiplierNonce().call() == 1
    assert f.balanceOf(alice).call() == 105 * 10**18
    assert assert_share_math(token, [alice]) == M_105

    # Mint and transfer in underlying units -> shares = amount * 1e18 / multiplier (floor).
    transact(fresh_evm_node, f.mint(bob, 10 * 10**18))
    assert f.sharesOf(bob).call() == 10 * 10**18 * MULTIPLIER_ONE // M_105
    transact(fresh_evm_node, f.transfer(bob, 5 * 10**18), sender=alice)
    assert f.getSharesByUnderlyingAmount(10**18).call() == MULTIPLIER_ONE * 10**18 // M_105
    assert f.getUnderlyingAmountByShares(10**18).call() == M_105
    assert_share_math(token, [alice, bob])

    # Schedule 1.10 one hour ahead (must be before lastTimeFeeApplied + periodLength).
    activation = fresh_evm_node.latest_timestamp() + 3_600
    receipt = transact(fresh_evm_node, f.updateMultiplierValue(M_110, M_105, activation))
    (event,) = token.events.MultiplierScheduled().process_receipt(receipt, errors=DISCARD)
    assert (event["args"]["newMultiplier"], event["args"]["activationTime"]) == (M_110, activation)
    assert f.newMultiplier().call() == M_110
    assert f.newMultiplierActivationTime().call() == activation
    assert f.multiplier().call() == M_105  # not active yet
    assert f.multiplierNonce().call() == 1
    assert assert_share_math(token, [alice, bob]) == M_105
    supply_before = f.totalSupply().call()
    pinned = fresh_evm_node.block_number()

    # Past the activation time every view switches to the new multiplier without any tx ...
    fresh_evm_node.warp(activation)
    assert f.multiplier().call() == M_110
    assert f.multiplierNonce().call() == 2
    assert f.getCurrentMultiplier().call() == [M_110, 0, 2]
    assert assert_share_math(token, [alice, bob]) == M_110
    assert f.lastMultiplier().call() == M_105  # ... while storage is only updated lazily
    assert f.newMultiplierActivationTime().call() == activation

    # Pinned reads at the older block still see the old state.
    assert f.multiplier().call(block_identifier=pinned) == M_105
    assert f.totalSupply().call(block_identifier=pinned) == supply_before
    body = raw_eth_call(fresh_evm_node, token.address, selector("multiplier()"), hex(pinned))
    assert uint(body["result"]) == M_105

    # The next state-changing call runs the updateMultiplier modifier and persists it.
    receipt = transact(fresh_evm_node, f.transfer(alice, 10**18), sender=bob)
    (event,) = token.events.MultiplierUpdated().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["value"] == M_110
    assert f.lastMultiplier().call() == M_110
    assert f.newMultiplierActivationTime().call() == 0
    assert f.multiplierUpdatesLength().call() == 3
    assert f.multiplierUpdates(2).call() == [M_105, M_110, activation]
    assert_share_math(token, [alice, bob])


def test_backed_token_management_fee_decays_per_period(fresh_evm_node: EvmTestNode) -> None:
    alice, bob = fresh_evm_node.accounts[1], fresh_evm_node.accounts[2]
    fee = 10**15  # 0.1 % per period
    token = deploy_backed_token(
        fresh_evm_node, "Backed Fee", "FEEx", period_length=DAY, fee_per_period=fee
    )
    f = token.functions
    transact(fresh_evm_node, f.mint(alice, 1_000 * 10**18))
    start = f.lastTimeFeeApplied().call()

    fresh_evm_node.warp(start + DAY - 1)  # less than one full period: no decay
    assert f.getCurrentMultiplier().call() == [MULTIPLIER_ONE, 0, 0]

    fresh_evm_node.warp(start + 3 * DAY + 5)
    expected = MULTIPLIER_ONE
    for _ in range(3):
        expected = expected * (MULTIPLIER_ONE - fee) // MULTIPLIER_ONE
    assert f.getCurrentMultiplier().call() == [expected, 3, 3]
    assert assert_share_math(token, [alice]) == expected
    assert f.totalSupply().call() < 1_000 * 10**18
    # Like the original, multiplier()/multiplierNonce() return the stored values: no fee decay.
    assert f.multiplier().call() == MULTIPLIER_ONE
    assert f.multiplierNonce().call() == 0

    transact(fresh_evm_node, f.transfer(bob, 10**18), sender=alice)  # persists the decay
    assert f.lastMultiplier().call() == expected
    assert f.multiplier().call() == expected
    assert f.multiplierNonce().call() == 3
    assert f.lastTimeFeeApplied().call() == start + 3 * DAY
    assert_share_math(token, [alice, bob])


def test_backed_token_update_guards(fresh_evm_node: EvmTestNode) -> None:
    token = deploy_backed_token(fresh_evm_node)
    f = token.functions
    with pytest.raises(ContractLogicError, match="Multiplier changed in the meantime"):
        f.updateMultiplierValue(M_105, M_110, 0).transact()
    with pytest.raises(ContractLogicError, match="Only multiplier updater"):
        f.updateMultiplierValue(M_105, MULTIPLIER_ONE, 0).transact(
            {"from": fresh_evm_node.accounts[1]}
        )
    too_late = f.lastTimeFeeApplied().call() + f.periodLength().call()
    with pytest.raises(ContractLogicError, match="Activation time needs to be before next period"):
        f.updateMultiplierValue(M_105, MULTIPLIER_ONE, too_late).transact()
    with pytest.raises(ContractLogicError, match="Multiplier nonce is outdated"):
        f.updateMultiplierWithNonce(M_105, MULTIPLIER_ONE, 0, 0).transact()

    transact(fresh_evm_node, f.updateMultiplierWithNonce(M_105, MULTIPLIER_ONE, 7, 0))
    assert f.multiplierNonce().call() == 7
    assert f.multiplier().call() == M_105


def test_backed_token_burn_and_pause(fresh_evm_node: EvmTestNode) -> None:
    deployer, alice = fresh_evm_node.accounts[0], fresh_evm_node.accounts[1]
    token = deploy_backed_token(fresh_evm_node)
    f = token.functions
    transact(fresh_evm_node, f.mint(deployer, 50 * 10**18))
    transact(fresh_evm_node, f.updateMultiplierValue(M_105, MULTIPLIER_ONE, 0))
    transact(fresh_evm_node, f.burn(deployer, 21 * 10**18))  # underlying units -> shares
    assert f.sharesOf(deployer).call() == 50 * 10**18 - 21 * 10**18 * MULTIPLIER_ONE // M_105
    assert_share_math(token, [deployer])
    with pytest.raises(ContractLogicError, match="Cannot burn account"):
        f.burn(alice, 1).transact()

    transact(fresh_evm_node, f.setPause(True))
    with pytest.raises(ContractLogicError, match="token transfer while paused"):
        f.transfer(alice, 1).transact()
