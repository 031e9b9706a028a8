"""The Ethereum JSON-RPC methods `EvmNode` serves, each checked and answered in wire format.

Most run through web3's eth-tester request pipeline (`EvmNode.pipeline`) after their params
are checked the way anvil checks them; block parameters take tags, hex numbers and EIP-1898
objects, and a state read above the head is `-32602 BlockOutOfRangeError`. The chain-control
methods (`evm_mine`, `anvil_mine`/`hardhat_mine`, `evm_increaseTime`,
`evm_setNextBlockTimestamp`, `evm_snapshot`/`evm_revert`) call the node's own controls.
Handlers run with the node's lock held (the dispatcher takes it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from web3.types import RPCEndpoint

from ..rpc_http import INVALID_PARAMS, METHOD_NOT_FOUND, SERVER_ERROR, RpcError
from .wire import (
    BLOCK_TAGS,
    boolean,
    hex_address,
    hex_data,
    hex_hash,
    hex_quantity,
    invalid_params,
    positional,
    result_to_wire,
    transaction,
)

if TYPE_CHECKING:
    from .node import EvmNode

Handler = Callable[[object], object]


def rpc_methods(node: EvmNode) -> dict[str, Handler]:
    """The method table of `node`."""
    return _Methods(node).table()


class _Methods:
    def __init__(self, node: EvmNode) -> None:
        self.node = node

    def table(self) -> dict[str, Handler]:
        return {
            "web3_clientVersion": self._piped("web3_clientVersion", 0),
            "net_version": self._piped("net_version", 0),
            "net_listening": self._constant(True),
            "eth_chainId": self._piped("eth_chainId", 0),
            "eth_syncing": self._constant(False),
            "eth_accounts": self._piped("eth_accounts", 0),
            "eth_blockNumber": self._piped("eth_blockNumber", 0),
            "eth_gasPrice": self._piped("eth_gasPrice", 0),
            "eth_maxPriorityFeePerGas": self._piped("eth_maxPriorityFeePerGas", 0),
            "eth_getBlockByNumber": self._rpc_get_block_by_number,
            "eth_getBlockByHash": self._rpc_get_block_by_hash,
            "eth_getBalance": self._state_read("eth_getBalance"),
            "eth_getCode": self._state_read("eth_getCode"),
            "eth_getTransactionCount": self._state_read("eth_getTransactionCount"),
            "eth_call": self._rpc_call,
            "eth_estimateGas": self._rpc_estimate_gas,
            "eth_sendTransaction": self._rpc_send_transaction,
            "eth_sendRawTransaction": self._rpc_send_raw_transaction,
            "eth_getTransactionByHash": self._tx_lookup("eth_getTransactionByHash"),
            "eth_getTransactionReceipt": self._tx_lookup("eth_getTransactionReceipt"),
            "eth_getLogs": self._rpc_get_logs,
            "evm_mine": self._rpc_evm_mine,
            "anvil_mine": self._rpc_anvil_mine,
            "hardhat_mine": self._rpc_anvil_mine,
            "evm_increaseTime": self._rpc_increase_time,
            "evm_setNextBlockTimestamp": self._rpc_set_next_block_timestamp,
            "evm_snapshot": self._rpc_snapshot,
            "evm_revert": self._rpc_revert,
        }

    def _call_pipeline(self, method: str, params: list[Any]) -> object:
        response = self.node.pipeline(RPCEndpoint(method), params)
        if "error" in response:  # eth-tester: unknown or not implemented endpoint
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        return result_to_wire(method, response.get("result"))

    @staticmethod
    def _constant(value: object) -> Handler:
        def handler(params: object) -> object:
            positional(params, 0)
            return value

        return handler

    def _piped(self, method: str, count: int) -> Handler:
        def handler(params: object) -> object:
            return self._call_pipeline(method, positional(params, count))

        return handler

    def _latest_number(self) -> int:
        return int(self.node.tester.get_block_by_number("latest")["number"])

    def _block(self, value: object, *, state: bool) -> str | int:
        """A block parameter (tag, hex number or EIP-1898 object) as a tag or a number."""
        if value is None:
            return "latest"
        if isinstance(value, dict):
            if "blockHash" in value:
                from eth_tester.exceptions import BlockNotFound  # type: ignore[import-untyped,unused-ignore]

                block_hash = hex_hash(value["blockHash"], "blockHash")
                try:
                    return int(self.node.tester.get_block_by_hash(block_hash)["number"])
                except BlockNotFound:
                    raise RpcError(
                        SERVER_ERROR, f"header for hash {block_hash} not found"
                    ) from None
            if "blockNumber" in value:
                value = value["blockNumber"]
            else:
                raise invalid_params("block: expected blockNumber or blockHash")
        if isinstance(value, str) and value in BLOCK_TAGS:
            return value
        number = hex_quantity(value, "block")
        head = self._latest_number()
        if state and number > head:
            raise RpcError(
                INVALID_PARAMS,
                f"BlockOutOfRangeError: block height is {head} but requested was {number}",
            )
        return number

    def _state_read(self, method: str) -> Handler:
        def handler(params: object) -> object:
            address, block = positional(params, 1, 1)
            return self._call_pipeline(
                method, [hex_address(address, "address"), self._block(block, state=True)]
            )

        return handler

    def _rpc_get_block_by_number(self, params: object) -> object:
        block, full = positional(params, 1, 1)
        number = self._block(block, state=False)
        if isinstance(number, int) and number > self._latest_number():
            return None
        return self._call_pipeline("eth_getBlockByNumber", [number, boolean(full or False, "full")])

    def _rpc_get_block_by_hash(self, params: object) -> object:
        block_hash, full = positional(params, 1, 1)
        return self._call_pipeline(
            "eth_getBlockByHash",
            [hex_hash(block_hash, "block hash"), boolean(full or False, "full")],
        )

    def _tx_lookup(self, method: str) -> Handler:
        def handler(params: object) -> object:
            (tx_hash,) = positional(params, 1)
            return self._call_pipeline(method, [hex_hash(tx_hash, "transaction hash")])

        return handler

    def _rpc_call(self, params: object) -> object:
        tx, block, overrides = positional(params, 1, 2)
        if overrides is not None:
            raise invalid_params("state overrides are not supported")
        return self._call_pipeline("eth_call", [transaction(tx), self._block(block, state=True)])

    def _rpc_estimate_gas(self, params: object) -> object:
        tx, block = positional(params, 1, 1)
        return self._call_pipeline(
            "eth_estimateGas", [transaction(tx), self._block(block, state=True)]
        )

    def _rpc_send_transaction(self, params: object) -> object:
        (raw_tx,) = positional(params, 1)
        tx = transaction(raw_tx)
        if "gas" not in tx:  # a node estimates it; eth-tester requires it
            tx["gas"] = self._call_pipeline("eth_estimateGas", [dict(tx), "latest"])
        return self._call_pipeline("eth_sendTransaction", [tx])

    def _rpc_send_raw_transaction(self, params: object) -> object:
        (raw,) = positional(params, 1)
        return self._call_pipeline("eth_sendRawTransaction", [hex_data(raw, "transaction")])

    def _rpc_get_logs(self, params: object) -> object:
        (query,) = positional(params, 1)
        if not isinstance(query, dict):
            raise invalid_params("filter: expected an object")
        log_filter: dict[str, Any] = {}
        for key in ("fromBlock", "toBlock"):
            if query.get(key) is not None:
                log_filter[key] = self._block(query[key], state=False)
        address = query.get("address")
        if address is not None:
            if isinstance(address, list):
                log_filter["address"] = [hex_address(a, "address") for a in address]
            else:
                log_filter["address"] = hex_address(address, "address")
        if query.get("topics") is not None:
            log_filter["topics"] = query["topics"]
        return self._call_pipeline("eth_getLogs", [log_filter])

    def _rpc_evm_mine(self, params: object) -> object:
        (timestamp,) = positional(params, 0, 1)
        if isinstance(timestamp, dict):  # ganache/anvil's {"timestamp", "blocks"} form
            blocks = hex_quantity(timestamp.get("blocks", 1), "blocks")
            timestamp = timestamp.get("timestamp")
        else:
            blocks = 1
        if timestamp is not None:
            self.node.set_next_timestamp(hex_quantity(timestamp, "timestamp"))
        self.node.mine(blocks)
        return "0x0"

    def _rpc_anvil_mine(self, params: object) -> object:
        count, interval = positional(params, 0, 2)
        blocks = 1 if count is None else hex_quantity(count, "blocks")
        step = 0 if interval is None else hex_quantity(interval, "interval")
        for _ in range(blocks):
            if step:
                self.node.set_next_timestamp(self.node.latest_timestamp() + step)
            self.node.mine()
        return None

    def _rpc_increase_time(self, params: object) -> object:
        (seconds,) = positional(params, 1)
        return self.node.increase_time(hex_quantity(seconds, "seconds"))

    def _rpc_set_next_block_timestamp(self, params: object) -> object:
        (timestamp,) = positional(params, 1)
        self.node.set_next_timestamp(hex_quantity(timestamp, "timestamp"))
        return None

    def _rpc_snapshot(self, params: object) -> object:
        positional(params, 0)
        return self.node.snapshot()

    def _rpc_revert(self, params: object) -> object:
        (snapshot_id,) = positional(params, 1)
        return self.node.revert(hex(hex_quantity(snapshot_id, "snapshot id")))
