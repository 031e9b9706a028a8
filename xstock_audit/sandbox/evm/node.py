"""A real, local Ethereum JSON-RPC node backed by py-evm (through eth-tester).

`EvmNode` runs one py-evm chain (`chain.py`: anvil's defaults, accounts and clock) and serves it
over HTTP POST on 127.0.0.1 (`..rpc_http`): JSON-RPC 2.0, single requests and batches, HTTP 200
for every JSON-RPC error. Requests arrive in wire format and pass through web3's own request
pipeline for eth-tester (`EthereumTesterProvider.request_func`: the transaction-defaults and
request/result formatting middleware), which turns hex quantities into ints on the way in; the
handlers (`handlers.py`) check params and convert results back to wire format (`wire.py`).

Errors look like anvil's: a revert in `eth_call`/`eth_estimateGas` is
`{"code": 3, "message": "execution reverted[: reason]", "data": "0x<revert data>"}`, a state
read above the head is `-32602 BlockOutOfRangeError`, then `-32601` unknown method, `-32602` bad
params, `-32700` parse error, `-32600` invalid request, `-32000` other failures.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Final

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxParams, TxReceipt

from ..rpc_http import INVALID_PARAMS, RpcError, ServedNode
from .chain import (
    DEFAULT_ACCOUNT_BALANCE,
    DEFAULT_ACCOUNT_COUNT,
    DEFAULT_CHAIN_ID,
    BlockClock,
    LockedTesterProvider,
    api_endpoints,
    build_tester,
    load_artifact,
)
from .handlers import rpc_methods
from .wire import rpc_failure

MAX_REQUEST_BODY_BYTES: Final = 16 * 1024 * 1024
_QUIET_LOGGERS: Final = ("eth", "eth_tester", "web3.providers.eth_tester", "web3.manager")


class EvmNode(ServedNode):
    """One py-evm chain served as an Ethereum JSON-RPC endpoint on 127.0.0.1.

    The same interface as the test suite's `AnvilNode` (the tests add their JSON-RPC client,
    `rpc`/`rpc_raw`): context manager, `start()`/`stop()`, `url`, `port`, `chain_id`,
    `accounts`, `w3` (an HTTP client of this node, default account `accounts[0]`),
    `block_number`, `latest_timestamp`, `mine`, `warp`, `increase_time`, `set_next_timestamp`,
    `snapshot`/`revert`. In-process, without HTTP: `local_w3` (a web3 on the same chain) and
    `deploy_artifact`/`contract`/`transact`.

    Every touch of the chain holds `self.lock` (re-entrant; `local_w3` takes it itself). Do not
    call the node over HTTP while holding it.
    """

    def __init__(
        self,
        *,
        chain_id: int | None = None,
        timestamp: int | None = None,
        port: int = 0,
        accounts: int = DEFAULT_ACCOUNT_COUNT,
        balance: int = DEFAULT_ACCOUNT_BALANCE,
        max_request_body_bytes: int = MAX_REQUEST_BODY_BYTES,
        multicall: bool = True,
    ) -> None:
        for name in _QUIET_LOGGERS:
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET or logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)
        self.chain_id = DEFAULT_CHAIN_ID if chain_id is None else chain_id
        if not 0 < self.chain_id < 2**64:
            raise ValueError(f"chain_id out of range: {self.chain_id}")
        self.lock = threading.RLock()
        self.max_request_body_bytes = max_request_body_bytes
        self._clock = BlockClock()
        if timestamp is not None:  # like anvil --timestamp: later blocks count on from there
            self._clock.offset = timestamp - int(time.time())
        self.tester: Any = build_tester(
            self.chain_id, timestamp, accounts, balance, self._clock, multicall=multicall
        )
        endpoints = api_endpoints(self.chain_id)
        # The raw pipeline: web3's eth-tester request/result formatting and nothing else.
        pipe_w3 = Web3(LockedTesterProvider(self.tester, endpoints, self.lock))
        pipe_w3.middleware_onion.clear()
        self.pipeline = pipe_w3.provider.request_func(pipe_w3, pipe_w3.middleware_onion)
        #: A web3 on the same chain, in-process (no HTTP), with web3's default middleware.
        self.local_w3 = Web3(LockedTesterProvider(self.tester, endpoints, self.lock))
        self._accounts = [
            to_checksum_address(key.public_key.to_checksum_address())
            for key in self.tester.backend.account_keys
        ]
        self.local_w3.eth.default_account = self._accounts[0]
        self._requested_port = port
        self._server_name = "evm-node"
        self._w3: Web3 | None = None
        self._methods = rpc_methods(self)

    # ---- lifecycle -------------------------------------------------------------------------

    def _on_stop(self) -> None:
        self._w3 = None

    @property
    def w3(self) -> Web3:
        """A web3 client of this node over HTTP (default account `accounts[0]`)."""
        if self._w3 is None:
            w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))
            w3.eth.default_account = self._accounts[0]
            self._w3 = w3
        return self._w3

    @property
    def accounts(self) -> list[ChecksumAddress]:
        """The funded development accounts (anvil's defaults); [0] is the default sender."""
        return list(self._accounts)

    # ---- chain control (in-process) ---------------------------------------------------------

    def block_number(self) -> int:
        with self.lock:
            return int(self.tester.get_block_by_number("latest")["number"])

    def latest_timestamp(self) -> int:
        with self.lock:
            return int(self.tester.get_block_by_number("latest")["timestamp"])

    def mine(self, n: int = 1) -> int:
        """Mine `n` empty blocks now; returns the new block number."""
        if n < 0:
            raise ValueError("cannot mine a negative number of blocks")
        with self.lock:
            if n:
                self.tester.mine_blocks(n)
            return self.block_number()

    def set_next_timestamp(self, ts: int) -> None:
        """The next block gets timestamp `ts` (no mining); later blocks continue from there."""
        with self.lock:
            latest = self.latest_timestamp()
            if ts <= latest:
                raise RpcError(
                    INVALID_PARAMS,
                    f"Timestamp error: {ts} is lower than or equal to previous block's timestamp",
                )
            self.tester.backend.chain.set_header_timestamp(ts)
            self._clock.offset = ts - int(time.time())
            self._clock.pinned = True

    def increase_time(self, seconds: int) -> int:
        """Move the clock of future blocks forward (no mining); returns the total offset."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self.lock:
            self._clock.offset += seconds
            chain = self.tester.backend.chain
            header = chain.header
            if header.gas_used == 0:  # the pending block is empty: it moves too
                # py-evm blocks need strictly increasing timestamps, so a burst of blocks runs
                # ahead of the wall clock: count from the latest block, not only from now.
                base = header.timestamp if self._clock.pinned else self.latest_timestamp()
                chain.set_header_timestamp(max(self._clock.now(), base + seconds, header.timestamp))
            return self._clock.offset

    def warp(self, ts: int) -> int:
        """Mine one block with timestamp `ts`; returns the new block number."""
        with self.lock:
            self.set_next_timestamp(ts)
            return self.mine()

    def snapshot(self) -> str:
        """`evm_snapshot`: an id for `revert`."""
        with self.lock:
            return hex(self.tester.take_snapshot())

    def revert(self, snapshot_id: str) -> bool:
        """`evm_revert` to a snapshot; False if the id is unknown."""
        from eth_tester.exceptions import SnapshotNotFound  # type: ignore[import-untyped,unused-ignore]

        with self.lock:
            try:
                self.tester.revert_to_snapshot(int(snapshot_id, 16))
            except SnapshotNotFound:
                return False
            return True

    # ---- in-process contracts (fast seeding, no HTTP) ----------------------------------------

    def deploy_artifact(
        self, name: str, *args: Any, sender: ChecksumAddress | None = None
    ) -> ChecksumAddress:
        """Deploy package contract `name` with constructor `args`; returns its address."""
        artifact = load_artifact(name)
        factory = self.local_w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        try:
            tx_hash = factory.constructor(*args).transact({"from": sender or self._accounts[0]})
        except Exception as exc:  # eth-tester's TransactionFailed, web3's validation errors
            raise RuntimeError(f"deployment of {name} failed: {exc}") from exc
        receipt = self.local_w3.eth.get_transaction_receipt(tx_hash)
        if receipt["status"] != 1 or receipt["contractAddress"] is None:
            raise RuntimeError(f"deployment of {name} failed: {receipt}")
        return receipt["contractAddress"]

    def contract(self, name: str, address: str) -> Contract:
        """Package contract `name` at `address`, bound to `local_w3`."""
        abi = load_artifact(name)["abi"]
        return self.local_w3.eth.contract(address=to_checksum_address(address), abi=abi)

    def transact(
        self, call: ContractFunction, *, sender: ChecksumAddress | None = None
    ) -> TxReceipt:
        """Send a `local_w3` contract function call as a transaction and return its receipt.

        Raises RuntimeError if it reverts (the message has the revert reason).
        """
        params: TxParams = {"from": sender or self._accounts[0]}
        try:
            tx_hash = call.transact(params)
        except Exception as exc:  # a revert shows in gas estimation: eth-tester's TransactionFailed
            raise RuntimeError(f"transaction {call.fn_name} failed: {exc}") from exc
        receipt = self.local_w3.eth.get_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.to_0x_hex()} failed: {receipt}")
        return receipt

    # ---- JSON-RPC ------------------------------------------------------------------------------

    def _failure(self, exc: Exception) -> RpcError:
        return rpc_failure(exc)
