"""The sandbox's local Ethereum node (py-evm behind JSON-RPC over HTTP), spoken to in wire format.

Reverts, error codes and shapes are anvil's (tests/test_evm_chain_support.py runs the same
contract tests on both nodes; here are the node's own protocol details).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from eth_utils.address import to_checksum_address
from support.evm import DEFAULT_CHAIN_ID, EvmNode, RpcError, load_artifact
from web3 import Web3
from web3.exceptions import ContractLogicError

EMPTY = "0x000000000000000000000000000000000000dEaD"
HOLDER = to_checksum_address("0x00000000000000000000000000000000000000a1")


def selector(signature: str) -> str:
    return "0x" + Web3.keccak(text=signature)[:4].hex()


def post(node: EvmNode, payload: object) -> httpx.Response:
    return httpx.post(node.url, json=payload, timeout=10)


def call(node: EvmNode, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    """One wire-format request; the whole response object."""
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": 7, "method": method}
    if params is not None:
        payload["params"] = params
    response = post(node, payload)
    assert response.status_code == 200  # JSON-RPC errors too
    body: dict[str, Any] = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 7
    return body


def quantity(value: str) -> int:
    assert value.startswith("0x") and value != "0x"
    return int(value, 16)


@pytest.fixture(scope="module")
def token(pyevm_node: EvmNode) -> dict[str, Any]:
    """A PlainToken (6 decimals) deployed in-process; 5 minted at `before`, 7 more after."""
    address = pyevm_node.deploy_artifact("PlainToken", "Plain", "PLN", 6)
    contract = pyevm_node.contract("PlainToken", address)
    pyevm_node.transact(contract.functions.mint(HOLDER, 5))
    before = pyevm_node.block_number()
    pyevm_node.transact(contract.functions.mint(HOLDER, 7))
    return {"address": address, "before": before, "after": pyevm_node.block_number()}


# ---------------------------------------------------------------------- wire format


def test_chain_id_and_net_version(pyevm_node: EvmNode) -> None:
    assert call(pyevm_node, "eth_chainId")["result"] == hex(DEFAULT_CHAIN_ID) == "0x7a69"
    assert call(pyevm_node, "eth_chainId", [])["result"] == "0x7a69"
    assert call(pyevm_node, "net_version", [])["result"] == "31337"
    assert pyevm_node.chain_id == DEFAULT_CHAIN_ID


def test_genesis_block_in_wire_format(pyevm_node: EvmNode) -> None:
    block = call(pyevm_node, "eth_getBlockByNumber", ["0x0", False])["result"]
    assert block["number"] == "0x0"
    assert block["parentHash"] == "0x" + "00" * 32
    assert len(block["hash"]) == 66
    assert quantity(block["timestamp"]) > 1_600_000_000
    assert block["gasUsed"] == "0x0"
    assert quantity(block["gasLimit"]) > 0
    assert block["logsBloom"] == "0x" + "00" * 256
    assert block["transactions"] == []
    assert block["miner"] == "0x" + "00" * 20
    for key, value in block.items():  # no Python ints or snake_case keys leak out
        assert "_" not in key
        assert not isinstance(value, int)


def test_block_number_and_blocks_above_head(pyevm_node: EvmNode, token: dict[str, Any]) -> None:
    head = quantity(call(pyevm_node, "eth_blockNumber")["result"])
    assert head == pyevm_node.block_number() >= token["after"]
    assert call(pyevm_node, "eth_getBlockByNumber", [hex(head + 1), False])["result"] is None
    latest = call(pyevm_node, "eth_getBlockByNumber", ["latest", True])["result"]
    assert quantity(latest["number"]) == head
    assert (
        call(pyevm_node, "eth_getBlockByNumber", [hex(head), False])["result"]["hash"]
        == (latest["hash"])
    )
    by_hash = call(pyevm_node, "eth_getBlockByHash", [latest["hash"], False])["result"]
    assert by_hash["number"] == latest["number"]


def test_eth_call_at_a_hex_block_number(pyevm_node: EvmNode, token: dict[str, Any]) -> None:
    data = selector("totalSupply()")
    tx = {"to": token["address"], "data": data}
    before = call(pyevm_node, "eth_call", [tx, hex(token["before"])])["result"]
    after = call(pyevm_node, "eth_call", [tx, hex(token["after"])])["result"]
    assert int(before, 16) == 5
    assert int(after, 16) == 12
    assert len(after) == 66
    assert int(call(pyevm_node, "eth_call", [tx, "latest"])["result"], 16) == 12
    # EIP-1898 block objects, `input` instead of `data`
    block_object = {"blockNumber": hex(token["before"])}
    assert int(call(pyevm_node, "eth_call", [tx, block_object])["result"], 16) == 5
    as_input = {"to": token["address"], "input": data}
    assert int(call(pyevm_node, "eth_call", [as_input, hex(token["after"])])["result"], 16) == 12
    decimals = {"to": token["address"].lower(), "data": selector("decimals()")}
    assert int(call(pyevm_node, "eth_call", [decimals, "latest"])["result"], 16) == 6
    # before the deployment the address has no code: the call "succeeds" with 0x
    assert call(pyevm_node, "eth_call", [tx, "0x0"]) == {"jsonrpc": "2.0", "id": 7, "result": "0x"}


def test_missing_function_reverts_like_anvil(pyevm_node: EvmNode, token: dict[str, Any]) -> None:
    tx = {"to": token["address"], "data": selector("multiplier()")}
    body = call(pyevm_node, "eth_call", [tx, "latest"])
    assert "result" not in body
    assert body["error"] == {"code": 3, "message": "execution reverted", "data": "0x"}
    estimate = call(pyevm_node, "eth_estimateGas", [tx])
    assert estimate["error"] == {"code": 3, "message": "execution reverted", "data": "0x"}


def test_require_revert_carries_reason_and_data(pyevm_node: EvmNode, token: dict[str, Any]) -> None:
    contract = pyevm_node.contract("PlainToken", token["address"])
    data = contract.functions.transfer(HOLDER, 1)._encode_transaction_data()
    error = call(pyevm_node, "eth_call", [{"to": token["address"], "data": data}, "latest"])[
        "error"
    ]
    assert error["code"] == 3
    assert error["message"] == "execution reverted: PlainToken: transfer amount exceeds balance"
    assert error["data"].startswith("0x08c379a0")  # Error(string), ABI-encoded
    assert bytes.fromhex(error["data"][10:]).rstrip(b"\0").endswith(b"exceeds balance")


def test_web3_over_http_sees_reverts_as_contract_logic_errors(
    pyevm_node: EvmNode, token: dict[str, Any]
) -> None:
    abi = load_artifact("BackedAutoFeeToken")["abi"]
    as_backed = pyevm_node.w3.eth.contract(address=token["address"], abi=abi)
    with pytest.raises(ContractLogicError) as info:
        as_backed.functions.multiplier().call()
    assert info.value.message == "execution reverted"
    assert info.value.data == "0x"
    plain = pyevm_node.w3.eth.contract(
        address=token["address"], abi=load_artifact("PlainToken")["abi"]
    )
    with pytest.raises(ContractLogicError, match="caller is not the owner"):
        plain.functions.mint(HOLDER, 1).transact({"from": pyevm_node.accounts[1]})


def test_get_code_and_balance(pyevm_node: EvmNode, token: dict[str, Any]) -> None:
    assert call(pyevm_node, "eth_getCode", [EMPTY, "latest"])["result"] == "0x"
    assert call(pyevm_node, "eth_getCode", [EMPTY.lower(), "0x0"])["result"] == "0x"
    code = call(pyevm_node, "eth_getCode", [token["address"], hex(token["after"])])["result"]
    assert code.startswith("0x60") and len(code) > 1_000
    balance = call(pyevm_node, "eth_getBalance", [pyevm_node.accounts[5], "latest"])["result"]
    assert balance == hex(10_000 * 10**18)
    assert call(pyevm_node, "eth_getBalance", [EMPTY, "latest"])["result"] == "0x0"


def test_state_reads_above_the_head_are_out_of_range(pyevm_node: EvmNode) -> None:
    head = pyevm_node.block_number()
    for method, params in [
        ("eth_call", [{"to": EMPTY, "data": "0x"}, hex(head + 100)]),
        ("eth_getCode", [EMPTY, hex(head + 100)]),
        ("eth_getBalance", [EMPTY, hex(head + 100)]),
    ]:
        error = call(pyevm_node, method, params)["error"]
        assert error["code"] == -32602
        assert error["message"] == (
            f"BlockOutOfRangeError: block height is {head} but requested was {head + 100}"
        )


def test_send_transaction_in_wire_format(pyevm_node: EvmNode) -> None:
    artifact = load_artifact("PlainToken")
    factory = pyevm_node.local_w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = {
        "from": pyevm_node.accounts[2].lower(),
        "data": factory.constructor("W", "W", 0).data_in_transaction,
    }
    tx_hash = call(pyevm_node, "eth_sendTransaction", [tx])["result"]  # no gas: the node estimates
    assert isinstance(tx_hash, str) and len(tx_hash) == 66
    receipt = call(pyevm_node, "eth_getTransactionReceipt", [tx_hash])["result"]
    assert receipt["status"] == "0x1"
    assert receipt["to"] is None
    assert receipt["blockNumber"] == hex(pyevm_node.block_number())
    assert len(receipt["logsBloom"]) == 2 + 512 and receipt["logsBloom"] != "0x" + "00" * 256
    assert receipt["logs"][0]["removed"] is False  # a bool stays a bool
    address = receipt["contractAddress"]
    mint = pyevm_node.contract("PlainToken", address).functions.mint(HOLDER, 3)
    send = {
        "from": pyevm_node.accounts[2],
        "to": address,
        "data": mint._encode_transaction_data(),
        "gas": hex(200_000),
        "maxFeePerGas": hex(10**10),
        "maxPriorityFeePerGas": hex(10**9),
        "value": "0x0",
    }
    mint_hash = call(pyevm_node, "eth_sendTransaction", [send])["result"]
    sent = call(pyevm_node, "eth_getTransactionByHash", [mint_hash])["result"]
    assert sent["chainId"] == "0x7a69"
    assert sent["gas"] == hex(200_000)
    assert sent["input"] == send["data"]
    assert sent["to"].lower() == address.lower()
    assert sent["from"].lower() == pyevm_node.accounts[2].lower()
    assert "_" not in "".join(sent)
    unknown = "0x" + "ab" * 32
    assert call(pyevm_node, "eth_getTransactionReceipt", [unknown])["result"] is None
    assert call(pyevm_node, "eth_getTransactionByHash", [unknown])["result"] is None
    supply = {"to": address, "data": selector("totalSupply()")}
    assert int(call(pyevm_node, "eth_call", [supply, "latest"])["result"], 16) == 3


def test_gas_and_account_methods(pyevm_node: EvmNode) -> None:
    accounts = call(pyevm_node, "eth_accounts", [])["result"]
    assert [to_checksum_address(a) for a in accounts] == pyevm_node.accounts
    assert quantity(call(pyevm_node, "eth_gasPrice", [])["result"]) > 0
    assert quantity(call(pyevm_node, "eth_maxPriorityFeePerGas", [])["result"]) > 0
    estimate = call(
        pyevm_node, "eth_estimateGas", [{"from": accounts[0], "to": EMPTY, "value": "0x1"}]
    )
    assert quantity(estimate["result"]) >= 21_000
    assert call(pyevm_node, "web3_clientVersion", [])["result"].startswith("EthereumTester/")
    assert call(pyevm_node, "net_listening", [])["result"] is True
    assert call(pyevm_node, "eth_syncing", [])["result"] is False


# ---------------------------------------------------------------------- JSON-RPC errors


def test_batch(pyevm_node: EvmNode, token: dict[str, Any]) -> None:
    supply = {"to": token["address"], "data": selector("totalSupply()")}
    response = post(
        pyevm_node,
        [
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": "two", "method": "eth_call", "params": [supply, "latest"]},
            {"jsonrpc": "2.0", "id": 3, "method": "no_suchMethod", "params": []},
            {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification
            {"jsonrpc": "2.0", "id": 4, "method": "eth_getCode", "params": [EMPTY, "latest"]},
        ],
    )
    assert response.status_code == 200
    replies = response.json()
    assert [r["id"] for r in replies] == [1, "two", 3, 4]
    assert replies[0]["result"] == "0x7a69"
    assert int(replies[1]["result"], 16) == 12
    assert replies[2]["error"] == {"code": -32601, "message": "Method not found"}
    assert replies[3]["result"] == "0x"


def test_unknown_method(pyevm_node: EvmNode) -> None:
    body = call(pyevm_node, "eth_definitelyNotAMethod", [])
    assert body["error"] == {"code": -32601, "message": "Method not found"}
    # eth-tester has it but the node does not serve it
    assert call(pyevm_node, "eth_getWork", [])["error"]["code"] == -32601


def test_malformed_json_is_a_parse_error(pyevm_node: EvmNode) -> None:
    response = httpx.post(
        pyevm_node.url,
        content=b'{"jsonrpc": "2.0", "id": 1,',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error"},
    }


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"id": 1, "method": "eth_chainId"},  # no "jsonrpc"
        {"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        "eth_chainId",
    ],
)
def test_invalid_requests(pyevm_node: EvmNode, payload: object) -> None:
    response = post(pyevm_node, payload)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("eth_getCode", []),
        ("eth_getCode", ["0xzz", "latest"]),
        ("eth_getCode", [EMPTY, "0xnothex"]),
        ("eth_getCode", [EMPTY, "latest", "extra"]),
        ("eth_getBalance", [EMPTY, "newest"]),
        ("eth_call", ["not an object", "latest"]),
        ("eth_call", [{"to": EMPTY, "data": "0x123"}, "latest"]),  # odd-length data
        ("eth_getBlockByNumber", ["0x0", "yes"]),
        ("eth_getTransactionReceipt", ["0x1234"]),
        ("eth_chainId", {"a": 1}),
    ],
)
def test_invalid_params(pyevm_node: EvmNode, method: str, params: Any) -> None:
    error = call(pyevm_node, method, params)["error"]
    assert error["code"] == -32602
    assert error["message"].startswith("Invalid params")


def test_notification_gets_no_reply_and_other_failures(pyevm_node: EvmNode) -> None:
    response = post(pyevm_node, {"jsonrpc": "2.0", "method": "eth_chainId", "params": []})
    assert response.status_code == 200 and response.content == b""
    # an unknown sender cannot sign: a server error with a message, not a crash
    tx = {"from": EMPTY, "to": EMPTY, "value": "0x1", "gas": "0x5208"}
    error = call(pyevm_node, "eth_sendTransaction", [tx])["error"]
    assert error["code"] in (-32000, -32602) and error["message"]
    assert httpx.get(pyevm_node.url).status_code == 405
    wrong_type = httpx.post(pyevm_node.url, content=b"{}", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


def test_rpc_helper_raises_rpc_error(pyevm_node: EvmNode) -> None:
    with pytest.raises(RpcError) as info:
        pyevm_node.rpc("eth_call", [{"to": EMPTY, "data": "0x"}, hex(10**6)])
    assert info.value.code == -32602
    assert "BlockOutOfRangeError" in info.value.message
    assert pyevm_node.rpc_raw("eth_chainId", [])["result"] == "0x7a69"


# ---------------------------------------------------------------------- time and mining


def test_time_travel_over_rpc(pyevm_node: EvmNode) -> None:
    start = pyevm_node.block_number()
    assert call(pyevm_node, "evm_mine", [])["result"] == "0x0"
    assert pyevm_node.block_number() == start + 1
    assert call(pyevm_node, "anvil_mine", ["0x3"])["result"] is None
    assert pyevm_node.block_number() == start + 4

    target = pyevm_node.latest_timestamp() + 86_400
    assert call(pyevm_node, "evm_setNextBlockTimestamp", [hex(target)])["result"] is None
    assert pyevm_node.block_number() == start + 4  # not mined yet
    call(pyevm_node, "evm_mine", [])
    assert pyevm_node.latest_timestamp() == target
    too_early = call(pyevm_node, "evm_setNextBlockTimestamp", [hex(target)])["error"]
    assert too_early["code"] == -32602 and "Timestamp error" in too_early["message"]

    offset = call(pyevm_node, "evm_increaseTime", [3_600])["result"]
    assert isinstance(offset, int) and offset >= 86_400 + 3_600 - 60  # anvil: a JSON number
    call(pyevm_node, "evm_mine", [])
    assert pyevm_node.latest_timestamp() >= target + 3_600

    pyevm_node.warp(target + 10 * 86_400)
    assert pyevm_node.latest_timestamp() == target + 10 * 86_400
    later = call(pyevm_node, "eth_getBlockByNumber", ["latest", False])["result"]
    assert quantity(later["timestamp"]) == target + 10 * 86_400

    snapshot = call(pyevm_node, "evm_snapshot", [])["result"]
    pyevm_node.mine(2)
    assert call(pyevm_node, "evm_revert", [snapshot])["result"] is True
    assert (
        call(pyevm_node, "eth_getBlockByNumber", ["latest", False])["result"]["hash"]
        == later["hash"]
    )
    assert call(pyevm_node, "evm_revert", ["0x999"])["result"] is False


def test_transactions_take_the_warped_time(pyevm_node: EvmNode) -> None:
    token = pyevm_node.contract(
        "BackedAutoFeeToken",
        pyevm_node.deploy_artifact("BackedAutoFeeToken", "B", "B", 86_400, 0, 0),
    )
    deployed_at = token.functions.lastTimeFeeApplied().call()
    assert deployed_at == pyevm_node.latest_timestamp()
    pyevm_node.set_next_timestamp(deployed_at + 1_000)
    pyevm_node.transact(token.functions.mint(HOLDER, 10**18))
    assert pyevm_node.latest_timestamp() == deployed_at + 1_000


# ---------------------------------------------------------------------- the node object


@pytest.mark.slow
def test_custom_chain_id_reaches_signing_and_the_evm() -> None:
    with EvmNode(chain_id=1) as mainnet_id:
        assert mainnet_id.rpc("eth_chainId", []) == "0x1"
        assert mainnet_id.rpc("net_version", []) == "1"
        assert mainnet_id.w3.eth.chain_id == 1
        address = mainnet_id.deploy_artifact("PlainToken", "P", "P", 18)
        block = mainnet_id.rpc("eth_getBlockByNumber", ["latest", True])
        assert block["transactions"][0]["chainId"] == "0x1"
        assert mainnet_id.rpc("eth_getCode", [address, "latest"]) != "0x"
        # CHAINID (0x46) as seen by contract code: a 0-to-address call with init code
        # returning chainid is just an eth_call without "to".
        init = "0x" + "46" + "5f52" + "60205ff3"  # CHAINID PUSH0 MSTORE PUSH1 32 PUSH0 RETURN
        assert int(mainnet_id.rpc("eth_call", [{"data": init}, "latest"]), 16) == 1


@pytest.mark.slow
def test_startup_is_fast() -> None:
    started = time.perf_counter()
    with EvmNode(timestamp=1_767_225_600) as fresh:
        plain = fresh.deploy_artifact("PlainToken", "Plain", "P", 6)
        backed = fresh.deploy_artifact("BackedAutoFeeToken", "Backed", "B", 86_400, 0, 0)
        elapsed = time.perf_counter() - started
        assert plain == "0x5FbDB2315678afecb367f032d93F642f64180aa3"  # anvil's first address
        assert backed == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        genesis = fresh.rpc("eth_getBlockByNumber", ["0x0", False])
        assert genesis["timestamp"] == hex(1_767_225_600)
    assert elapsed < 10, f"EvmNode start + 2 deployments took {elapsed:.2f}s"


def test_local_w3_and_http_share_the_chain(pyevm_node: EvmNode) -> None:
    address = pyevm_node.deploy_artifact("PlainToken", "Local", "L", 18)
    pyevm_node.transact(pyevm_node.contract("PlainToken", address).functions.mint(HOLDER, 42))
    over_http = pyevm_node.w3.eth.contract(address=address, abi=load_artifact("PlainToken")["abi"])
    assert over_http.functions.totalSupply().call() == 42
    assert (
        pyevm_node.local_w3.eth.block_number
        == pyevm_node.w3.eth.block_number
        == pyevm_node.block_number()
    )
    with pytest.raises(RuntimeError, match="failed"):
        pyevm_node.transact(
            pyevm_node.contract("PlainToken", address).functions.transfer(HOLDER, 1),
            sender=pyevm_node.accounts[3],
        )


def test_concurrent_requests_are_serialised(pyevm_node: EvmNode, token: dict[str, Any]) -> None:
    supply = {"to": token["address"], "data": selector("totalSupply()")}
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with httpx.Client(timeout=10) as client:
                for _ in range(15):
                    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_call"}
                    payload["params"] = [supply, hex(token["after"])]
                    assert int(client.post(pyevm_node.url, json=payload).json()["result"], 16) == 12
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def miner() -> None:
        try:
            for _ in range(10):
                pyevm_node.mine()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)] + [threading.Thread(target=miner)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_load_artifact() -> None:
    artifact = load_artifact("PlainToken")
    assert artifact["contractName"] == "PlainToken"
    assert {"abi", "bytecode"} <= set(artifact)
    with pytest.raises(FileNotFoundError, match="NoSuchContract"):
        load_artifact("NoSuchContract")
    with pytest.raises(ValueError):
        load_artifact("../PlainToken")


@pytest.mark.slow
def test_stopped_node_is_not_served() -> None:
    evm = EvmNode()
    with pytest.raises(RuntimeError, match="not running"):
        _ = evm.url
    with pytest.raises(RuntimeError, match="not running"):
        evm.rpc("eth_chainId", [])
    evm.start()
    assert evm.rpc("eth_chainId", []) == "0x7a69"
    evm.stop()
    evm.stop()
