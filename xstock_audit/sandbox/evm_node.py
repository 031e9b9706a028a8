"""A real, local Ethereum JSON-RPC node backed by py-evm (through eth-tester).

`EvmNode` runs one `eth_tester.EthereumTester` on a `PyEVMBackend` (Prague rules, automine: one
block per transaction) and serves it over HTTP POST on 127.0.0.1: JSON-RPC 2.0, single requests
and batches, HTTP 200 for every JSON-RPC error. Requests arrive in wire format (hex quantities)
and pass through web3's own request pipeline for eth-tester (`EthereumTesterProvider.request_func`:
the transaction-defaults and request/result formatting middleware), which turns hex quantities
into ints on the way in; the node converts the results back to wire format (ints to hex
quantities, bytes to 0x data, eth-tester's snake_case keys to the spec's camelCase).

Errors look like anvil's: a revert in `eth_call`/`eth_estimateGas` is
`{"code": 3, "message": "execution reverted[: reason]", "data": "0x<revert data>"}`, a state
read above the head is `-32602 BlockOutOfRangeError`, then `-32601` unknown method, `-32602` bad
params, `-32700` parse error, `-32600` invalid request, `-32000` other failures.

The chain matches anvil's defaults: chain id 31337 (configurable: the py-evm chain class gets the
id, so `CHAINID`, transaction signing and `eth_chainId` agree), the ten accounts of the
well-known development mnemonic ("test test ... junk", m/44'/60'/0'/0/i) with 10000 ETH each,
so contract addresses are the same as on a fresh anvil. Block timestamps follow the wall clock
plus an offset that `evm_increaseTime`/`evm_setNextBlockTimestamp` move, as anvil's do (set on
the pending py-evm header; eth-tester's `time_travel` is not used: in eth-tester 0.14 it mines
the block at `ts - 1`). Unlike anvil, py-evm needs strictly increasing block timestamps, so a
burst of blocks runs a few seconds ahead of the wall clock.

py-evm and eth-tester come with the `sandbox` extra (`pip install 'xstock-audit[sandbox]'`);
they are imported when a node is created, not when this module is imported.

The Solidity contracts the sandbox deploys are package data (`contracts/<Name>.json`, compiled by
`npm run build:contracts`); `load_artifact` reads them.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any, Final

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.middleware.base import MiddlewareOnion
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse, TxParams, TxReceipt

from .rpc_http import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    RpcError,
    ServedNode,
)

__all__ = [
    "DEFAULT_ACCOUNT_BALANCE",
    "DEFAULT_CHAIN_ID",
    "DEV_HD_PATH",
    "DEV_MNEMONIC",
    "MULTICALL3_ADDRESS",
    "EvmNode",
    "RpcError",
    "SandboxUnavailable",
    "load_artifact",
]

#: anvil's and hardhat's default chain id.
DEFAULT_CHAIN_ID: Final = 31337
MULTICALL3_ADDRESS: Final = "0xcA11bde05977b3631167028862bE2a173976CA11"
#: The public development mnemonic anvil and hardhat fund by default (not a secret).
DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
DEV_HD_PATH: Final = "m/44'/60'/0'/0"
DEFAULT_ACCOUNT_COUNT: Final = 10
DEFAULT_ACCOUNT_BALANCE: Final = 10_000 * 10**18
MAX_REQUEST_BODY_BYTES: Final = 16 * 1024 * 1024
_CONTRACTS_PACKAGE: Final = "xstock_audit.sandbox"
_CONTRACTS_DIR: Final = "contracts"

# JSON-RPC 2.0 codes, plus the EIP-1474/anvil ones.
EXECUTION_REVERTED: Final = 3

_BLOCK_TAGS: Final = frozenset({"latest", "earliest", "pending", "safe", "finalized"})
_HEX_QUANTITY: Final = re.compile(r"0x[0-9a-fA-F]+")
_HEX_DATA: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_ERROR_STRING_SELECTOR: Final = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR: Final = bytes.fromhex("4e487b71")  # Panic(uint256)
_PANIC_REASONS: Final = {
    0x00: "generic/unspecified error",
    0x01: "assertion failed",
    0x11: "arithmetic underflow or overflow",
    0x12: "division or modulo by zero",
    0x21: "failed to convert value into enum type",
    0x22: "storage byte array that is incorrectly encoded",
    0x31: "called `.pop()` on an empty array",
    0x32: "array out of bounds access",
    0x41: "out of memory",
    0x51: "called a zero-initialized variable of internal function type",
}
# Transaction object fields a node accepts, by kind.
_TX_ADDRESS_FIELDS: Final = ("from", "to")
_TX_QUANTITY_FIELDS: Final = (
    "gas",
    "gasPrice",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "value",
    "nonce",
    "chainId",
)

_QUIET_LOGGERS: Final = ("eth", "eth_tester", "web3.providers.eth_tester", "web3.manager")


# --------------------------------------------------------------------------------------------
# Errors and artifacts


class SandboxUnavailable(RuntimeError):
    """py-evm / eth-tester are not installed (the `sandbox` extra)."""


def _invalid_params(detail: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {detail}")


def load_artifact(name: str) -> dict[str, Any]:
    """The compiled contract `contracts/<name>.json`: {abi, bytecode, contractName, solcVersion}."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a contract name: {name!r}")
    resource = resources.files(_CONTRACTS_PACKAGE).joinpath(_CONTRACTS_DIR, f"{name}.json")
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no compiled contract {name!r} in {_CONTRACTS_PACKAGE}/{_CONTRACTS_DIR} (run "
            "`npm run build:contracts` in a source checkout)"
        ) from None
    artifact: dict[str, Any] = json.loads(text)
    return artifact


# --------------------------------------------------------------------------------------------
# eth-tester / py-evm plumbing (imported lazily: the `sandbox` extra)


class _Clock:
    """Timestamps for new blocks: wall clock + offset, unless the next one was pinned."""

    def __init__(self) -> None:
        self.offset = 0
        self.pinned = False  # evm_setNextBlockTimestamp fixed the pending block's timestamp

    def now(self) -> int:
        return int(time.time()) + self.offset


@functools.cache
def _dev_account_keys(count: int) -> tuple[Any, ...]:
    from eth_tester.backends.pyevm.main import (  # type: ignore[import-untyped,unused-ignore]
        get_account_keys_from_mnemonic,
    )

    return tuple(get_account_keys_from_mnemonic(DEV_MNEMONIC, quantity=count, hd_path=DEV_HD_PATH))


def _import_tester() -> tuple[Any, Any, Any]:
    try:
        from eth_tester import EthereumTester, PyEVMBackend  # type: ignore[import-untyped,unused-ignore]
        from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise SandboxUnavailable(
            "the local Ethereum node needs py-evm and eth-tester: "
            "pip install 'xstock-audit[sandbox]'"
        ) from exc
    return EthereumTester, PyEVMBackend, TransactionFailed


def _revert_reason(error: BaseException) -> str:
    """eth-tester's TransactionFailed text for a failed call: the Error(string) reason or repr."""
    from eth.exceptions import Revert

    if isinstance(error, Revert) and error.args and isinstance(error.args[0], bytes):
        data = error.args[0]
        if data[:4] == _ERROR_STRING_SELECTOR:
            decoded = _decode_error_string(data)
            if decoded is not None:
                return decoded
    return str(error)


def _decode_error_string(data: bytes) -> str | None:
    from eth_abi import abi

    try:
        (reason,) = abi.decode(["string"], data[4:])
    except Exception:
        return None
    return str(reason)


def _build_tester(
    chain_id: int,
    timestamp: int | None,
    account_count: int,
    balance: int,
    clock: _Clock,
    *,
    multicall: bool = True,
) -> Any:
    """An EthereumTester over a PyEVMBackend whose chain has `chain_id` and follows `clock`."""
    ethereum_tester_cls, backend_cls, transaction_failed = _import_tester()
    from eth.vm.spoof import SpoofTransaction
    from eth_tester.backends.pyevm.main import (  # type: ignore[import-untyped,unused-ignore]
        generate_genesis_state_for_keys,
    )
    from eth_tester.exceptions import BlockNotFound  # type: ignore[import-untyped,unused-ignore]

    class SandboxBackend(backend_cls):  # type: ignore[misc,valid-type]
        """PyEVMBackend whose `call` keeps the VM error (revert data) as the exception cause."""

        def _header_for(self, block_number: object) -> Any:
            chain = self.chain
            pending = chain.get_block()
            if block_number in ("latest", "safe", "finalized"):
                return chain.get_canonical_block_header_by_number(max(0, pending.number - 1))
            if block_number == "earliest":
                return chain.get_canonical_block_header_by_number(0)
            if block_number == "pending":
                return pending.header
            if isinstance(block_number, int) and 0 <= block_number < pending.number:
                return chain.get_canonical_block_header_by_number(block_number)
            raise BlockNotFound(f"No block found for block number: {block_number}")

        def call(self, transaction: dict[str, Any], block_number: object = "latest") -> bytes:
            # PyEVMBackend.call, except that the VM error stays attached (`from error`).
            defaulted = dict(transaction)
            defaulted.setdefault("gas", self._max_available_gas())
            unsigned = self._get_normalized_and_unsigned_evm_transaction(defaulted, block_number)
            spoofed = SpoofTransaction(unsigned, from_=transaction["from"])
            state = self.chain.get_vm(at_header=self._header_for(block_number)).state
            snapshot = state.snapshot()
            try:
                computation = state.apply_transaction(spoofed)
            finally:
                state.revert(snapshot)
            if computation.is_error:
                error = computation.error
                raise transaction_failed(_revert_reason(error)) from error
            return bytes(computation.output)

    keys = _dev_account_keys(account_count)
    genesis_state = generate_genesis_state_for_keys(keys, overrides={"balance": balance})
    if multicall:  # Multicall3-compatible code at the canonical address, as on real chains
        code = bytes.fromhex(load_artifact("Aggregate3")["deployedBytecode"][2:])
        genesis_state[bytes.fromhex(MULTICALL3_ADDRESS[2:])] = {
            "balance": 0,
            "nonce": 1,
            "code": code,
            "storage": {},
        }
    genesis_params = None
    if timestamp is not None:
        genesis_params = backend_cls.generate_genesis_params(overrides={"timestamp": timestamp})
    backend = SandboxBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
    backend.account_keys = keys
    base_chain_cls = type(backend.chain)

    class SandboxChain(base_chain_cls):  # type: ignore[misc,valid-type]
        """eth-tester's chain with our chain id and anvil-like block timestamps."""

        def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
            header_params.setdefault("timestamp", max(clock.now(), parent_header.timestamp + 1))
            clock.pinned = False
            return super().create_header_from_parent(parent_header, **header_params)

        def _refresh_timestamp(self) -> None:
            # The pending header is made when the previous block is mined; an empty pending
            # block takes the time at which it is actually filled or mined.
            chain: Any = self  # (the base class is eth-tester's, untyped)
            header = chain.header
            if not clock.pinned and header.gas_used == 0 and clock.now() > header.timestamp:
                chain.header = header.copy(timestamp=clock.now())

        def apply_transaction(self, transaction: Any) -> Any:
            self._refresh_timestamp()
            return super().apply_transaction(transaction)

        def mine_block_extended(self, *args: Any, **kwargs: Any) -> Any:
            self._refresh_timestamp()
            return super().mine_block_extended(*args, **kwargs)

    SandboxChain.chain_id = chain_id
    backend.chain = SandboxChain(backend.chain.chaindb.db)
    return ethereum_tester_cls(backend)


def _api_endpoints(chain_id: int) -> dict[str, dict[str, Callable[..., Any]]]:
    from web3.providers.eth_tester.defaults import API_ENDPOINTS

    endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
    endpoints["eth"]["chainId"] = lambda tester, params: chain_id
    endpoints["net"]["version"] = lambda tester, params: str(chain_id)
    return endpoints


class _LockedTesterProvider(EthereumTesterProvider):
    """EthereumTesterProvider whose whole request pipeline runs under the node's lock."""

    def __init__(
        self,
        tester: Any,
        api_endpoints: dict[str, dict[str, Callable[..., RPCResponse]]],
        lock: threading.RLock,
    ) -> None:
        super().__init__(tester, api_endpoints)
        self._lock = lock

    def request_func(
        self, w3: Web3, middleware_onion: MiddlewareOnion
    ) -> Callable[..., RPCResponse]:
        inner = super().request_func(w3, middleware_onion)
        lock = self._lock

        def locked(method: RPCEndpoint, params: Any) -> RPCResponse:
            with lock:
                return inner(method, params)

        return locked


# --------------------------------------------------------------------------------------------
# Wire format


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _wire(value: object) -> object:
    """Results to wire format: ints -> hex quantities, bytes -> 0x data, camelCase keys."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {_camel(str(k)): _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _bloom_hex(bloom: object) -> object:
    if isinstance(bloom, int) and not isinstance(bloom, bool):
        return "0x" + bloom.to_bytes(256, "big").hex()
    return _wire(bloom)


def _wire_transaction(tx: object) -> object:
    if not isinstance(tx, Mapping):
        return _wire(tx)  # a hash, in a block without full transactions
    from web3.providers.eth_tester.middleware import (
        transaction_result_formatter,
        transaction_result_remapper,
    )

    out: dict[str, Any] = transaction_result_formatter(transaction_result_remapper(dict(tx)))
    if out.get("to") == "":
        out["to"] = None
    return _wire(out)


def _wire_block(block: object) -> object:
    if not isinstance(block, Mapping):
        return _wire(block)
    out = {k: v for k, v in block.items() if k not in ("logsBloom", "transactions")}
    wired = _wire(out)
    assert isinstance(wired, dict)
    wired["logsBloom"] = _bloom_hex(block.get("logsBloom", 0))
    wired["transactions"] = [_wire_transaction(tx) for tx in block.get("transactions", [])]
    return wired


def _wire_log(log: object) -> object:
    if not isinstance(log, Mapping):
        return _wire(log)
    out = {k: v for k, v in log.items() if k != "type"}  # eth-tester's "mined"/"pending"
    out["removed"] = False
    return _wire(out)


def _logs_bloom(logs: Iterable[Mapping[str, Any]]) -> str:
    from eth_bloom.bloom import BloomFilter

    bloom = BloomFilter()
    for log in logs:
        bloom.add(bytes.fromhex(str(log["address"])[2:]))
        for topic in log.get("topics", []):
            bloom.add(bytes.fromhex(str(topic)[2:]))
    return "0x" + int(bloom).to_bytes(256, "big").hex()


def _wire_receipt(receipt: object) -> object:
    if not isinstance(receipt, Mapping):
        return _wire(receipt)
    logs = list(receipt.get("logs", []))
    # state_root is eth-tester's status placeholder; post-Byzantium receipts have no root.
    out = {k: v for k, v in receipt.items() if k not in ("logs", "state_root", "stateRoot")}
    if out.get("to") == "":
        out["to"] = None
    wired = _wire(out)
    assert isinstance(wired, dict)
    wired["logs"] = [_wire_log(log) for log in logs]
    wired["logsBloom"] = _logs_bloom(logs)
    return wired


_RESULT_CONVERTERS: Final[dict[str, Callable[[object], object]]] = {
    "eth_getBlockByNumber": _wire_block,
    "eth_getBlockByHash": _wire_block,
    "eth_getTransactionByHash": _wire_transaction,
    "eth_getTransactionReceipt": _wire_receipt,
    "eth_getLogs": lambda logs: (
        [_wire_log(log) for log in logs] if isinstance(logs, list) else logs
    ),
}


def _revert_error(data: bytes) -> RpcError:
    message = "execution reverted"
    if data[:4] == _ERROR_STRING_SELECTOR:
        reason = _decode_error_string(data)
        if reason is not None:
            message += f": {reason}"
    elif data[:4] == _PANIC_SELECTOR and len(data) == 36:
        code = int.from_bytes(data[4:], "big")
        what = _PANIC_REASONS.get(code, "unknown panic code")
        message += f": panic: {what} (0x{code:02x})"
    return RpcError(EXECUTION_REVERTED, message, "0x" + data.hex())


def _vm_error(exc: BaseException) -> BaseException | None:
    """The py-evm VMError behind an exception (eth-tester and web3 wrap it), if any."""
    from eth.exceptions import VMError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, VMError):
            return current
        for arg in current.args:
            if isinstance(arg, VMError):
                return arg
        current = current.__cause__ or current.__context__
    return None


# ---- request parameters (wire format in, wire format out: the pipeline converts) -----------


def _quantity(value: object, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _HEX_QUANTITY.fullmatch(value):
        return int(value, 16)
    raise _invalid_params(f"{what}: expected a hex quantity, got {json.dumps(value)}")


def _address(value: object, what: str) -> str:
    if isinstance(value, str) and _ADDRESS.fullmatch(value):
        return value.lower()
    raise _invalid_params(f"{what}: expected a 20-byte hex address, got {json.dumps(value)}")


def _data(value: object, what: str) -> str:
    if isinstance(value, str) and _HEX_DATA.fullmatch(value):
        return value.lower()
    raise _invalid_params(f"{what}: expected 0x-prefixed hex data, got {json.dumps(value)}")


def _hash(value: object, what: str) -> str:
    if isinstance(value, str) and _HASH.fullmatch(value):
        return value.lower()
    raise _invalid_params(f"{what}: expected a 32-byte hex hash, got {json.dumps(value)}")


def _bool(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _invalid_params(f"{what}: expected a boolean, got {json.dumps(value)}")


def _transaction(value: object) -> dict[str, Any]:
    """A transaction object, checked; stays in wire format (the pipeline converts it)."""
    if not isinstance(value, dict):
        raise _invalid_params("transaction: expected an object")
    tx: dict[str, Any] = {}
    for key in _TX_ADDRESS_FIELDS:
        if value.get(key) is not None:
            tx[key] = _address(value[key], key)
    for key in _TX_QUANTITY_FIELDS:
        if value.get(key) is not None:
            _quantity(value[key], key)
            tx[key] = value[key] if isinstance(value[key], str) else hex(value[key])
    data, input_ = value.get("data"), value.get("input")
    if data is not None and input_ is not None and _data(data, "data") != _data(input_, "input"):
        raise _invalid_params("both `data` and `input` are set and not equal")
    payload = input_ if input_ is not None else data
    if payload is not None:
        tx["data"] = _data(payload, "input")
    if value.get("accessList") is not None:
        if not isinstance(value["accessList"], list):
            raise _invalid_params("accessList: expected an array")
        tx["accessList"] = value["accessList"]
    return tx


def _params(params: object, required: int, optional: int = 0) -> list[Any]:
    """Positional params, their count checked; missing optional ones are None."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise _invalid_params("expected an array of parameters")
    if not required <= len(params) <= required + optional:
        expected = str(required) if not optional else f"{required} to {required + optional}"
        raise _invalid_params(f"expected {expected} parameters, got {len(params)}")
    return list(params) + [None] * (required + optional - len(params))


# --------------------------------------------------------------------------------------------
# The node


_Handler = Callable[[object], object]


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
        self._clock = _Clock()
        if timestamp is not None:  # like anvil --timestamp: later blocks count on from there
            self._clock.offset = timestamp - int(time.time())
        self.tester: Any = _build_tester(
            self.chain_id, timestamp, accounts, balance, self._clock, multicall=multicall
        )
        endpoints = _api_endpoints(self.chain_id)
        # The raw pipeline: web3's eth-tester request/result formatting and nothing else.
        self._pipe_w3 = Web3(_LockedTesterProvider(self.tester, endpoints, self.lock))
        self._pipe_w3.middleware_onion.clear()
        self._pipe = self._pipe_w3.provider.request_func(
            self._pipe_w3, self._pipe_w3.middleware_onion
        )
        #: A web3 on the same chain, in-process (no HTTP), with web3's default middleware.
        self.local_w3 = Web3(_LockedTesterProvider(self.tester, endpoints, self.lock))
        self._accounts = [
            to_checksum_address(key.public_key.to_checksum_address())
            for key in self.tester.backend.account_keys
        ]
        self.local_w3.eth.default_account = self._accounts[0]
        self._requested_port = port
        self._server_name = "evm-node"
        self._w3: Web3 | None = None
        self._methods: dict[str, _Handler] = {
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

    # ---- JSON-RPC transport-free entry points ------------------------------------------------

    def _failure(self, exc: Exception) -> RpcError:
        """A node's error object for an exception out of the pipeline."""
        from eth.exceptions import Revert
        from eth_tester.exceptions import ValidationError as TesterValidationError  # type: ignore[import-untyped,unused-ignore]

        vm_error = _vm_error(exc)
        if isinstance(vm_error, Revert):
            data = vm_error.args[0] if vm_error.args else b""
            return _revert_error(bytes(data) if isinstance(data, bytes | bytearray) else b"")
        if vm_error is not None:
            return RpcError(SERVER_ERROR, f"EVM error {type(vm_error).__name__}: {vm_error}")
        if isinstance(exc, TesterValidationError):
            return _invalid_params(str(exc))
        return RpcError(SERVER_ERROR, str(exc) or type(exc).__name__)

    # ---- method implementations (called with self.lock held) -------------------------------

    def _call_pipeline(self, method: str, params: list[Any]) -> object:
        response = self._pipe(RPCEndpoint(method), params)
        if "error" in response:  # eth-tester: unknown or not implemented endpoint
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        result: object = response.get("result")
        convert = _RESULT_CONVERTERS.get(method, _wire)
        return convert(result)

    @staticmethod
    def _constant(value: object) -> _Handler:
        def handler(params: object) -> object:
            _params(params, 0)
            return value

        return handler

    def _piped(self, method: str, count: int) -> _Handler:
        def handler(params: object) -> object:
            return self._call_pipeline(method, _params(params, count))

        return handler

    def _latest_number(self) -> int:
        return int(self.tester.get_block_by_number("latest")["number"])

    def _block(self, value: object, *, state: bool) -> str | int:
        """A block parameter (tag, hex number or EIP-1898 object) as a tag or a number."""
        if value is None:
            return "latest"
        if isinstance(value, dict):
            if "blockHash" in value:
                from eth_tester.exceptions import BlockNotFound  # type: ignore[import-untyped,unused-ignore]

                block_hash = _hash(value["blockHash"], "blockHash")
                try:
                    return int(self.tester.get_block_by_hash(block_hash)["number"])
                except BlockNotFound:
                    raise RpcError(
                        SERVER_ERROR, f"header for hash {block_hash} not found"
                    ) from None
            if "blockNumber" in value:
                value = value["blockNumber"]
            else:
                raise _invalid_params("block: expected blockNumber or blockHash")
        if isinstance(value, str) and value in _BLOCK_TAGS:
            return value
        number = _quantity(value, "block")
        head = self._latest_number()
        if state and number > head:
            raise RpcError(
                INVALID_PARAMS,
                f"BlockOutOfRangeError: block height is {head} but requested was {number}",
            )
        return number

    def _state_read(self, method: str) -> _Handler:
        def handler(params: object) -> object:
            address, block = _params(params, 1, 1)
            return self._call_pipeline(
                method, [_address(address, "address"), self._block(block, state=True)]
            )

        return handler

    def _rpc_get_block_by_number(self, params: object) -> object:
        block, full = _params(params, 1, 1)
        number = self._block(block, state=False)
        if isinstance(number, int) and number > self._latest_number():
            return None
        return self._call_pipeline("eth_getBlockByNumber", [number, _bool(full or False, "full")])

    def _rpc_get_block_by_hash(self, params: object) -> object:
        block_hash, full = _params(params, 1, 1)
        return self._call_pipeline(
            "eth_getBlockByHash",
            [_hash(block_hash, "block hash"), _bool(full or False, "full")],
        )

    def _tx_lookup(self, method: str) -> _Handler:
        def handler(params: object) -> object:
            (tx_hash,) = _params(params, 1)
            return self._call_pipeline(method, [_hash(tx_hash, "transaction hash")])

        return handler

    def _rpc_call(self, params: object) -> object:
        tx, block, overrides = _params(params, 1, 2)
        if overrides is not None:
            raise _invalid_params("state overrides are not supported")
        return self._call_pipeline("eth_call", [_transaction(tx), self._block(block, state=True)])

    def _rpc_estimate_gas(self, params: object) -> object:
        tx, block = _params(params, 1, 1)
        return self._call_pipeline(
            "eth_estimateGas", [_transaction(tx), self._block(block, state=True)]
        )

    def _rpc_send_transaction(self, params: object) -> object:
        (raw_tx,) = _params(params, 1)
        tx = _transaction(raw_tx)
        if "gas" not in tx:  # a node estimates it; eth-tester requires it
            tx["gas"] = self._call_pipeline("eth_estimateGas", [dict(tx), "latest"])
        return self._call_pipeline("eth_sendTransaction", [tx])

    def _rpc_send_raw_transaction(self, params: object) -> object:
        (raw,) = _params(params, 1)
        return self._call_pipeline("eth_sendRawTransaction", [_data(raw, "transaction")])

    def _rpc_get_logs(self, params: object) -> object:
        (query,) = _params(params, 1)
        if not isinstance(query, dict):
            raise _invalid_params("filter: expected an object")
        log_filter: dict[str, Any] = {}
        for key in ("fromBlock", "toBlock"):
            if query.get(key) is not None:
                log_filter[key] = self._block(query[key], state=False)
        address = query.get("address")
        if address is not None:
            if isinstance(address, list):
                log_filter["address"] = [_address(a, "address") for a in address]
            else:
                log_filter["address"] = _address(address, "address")
        if query.get("topics") is not None:
            log_filter["topics"] = query["topics"]
        return self._call_pipeline("eth_getLogs", [log_filter])

    def _rpc_evm_mine(self, params: object) -> object:
        (timestamp,) = _params(params, 0, 1)
        if isinstance(timestamp, dict):  # ganache/anvil's {"timestamp", "blocks"} form
            blocks = _quantity(timestamp.get("blocks", 1), "blocks")
            timestamp = timestamp.get("timestamp")
        else:
            blocks = 1
        if timestamp is not None:
            self.set_next_timestamp(_quantity(timestamp, "timestamp"))
        self.mine(blocks)
        return "0x0"

    def _rpc_anvil_mine(self, params: object) -> object:
        count, interval = _params(params, 0, 2)
        blocks = 1 if count is None else _quantity(count, "blocks")
        step = 0 if interval is None else _quantity(interval, "interval")
        for _ in range(blocks):
            if step:
                self.set_next_timestamp(self.latest_timestamp() + step)
            self.mine()
        return None

    def _rpc_increase_time(self, params: object) -> object:
        (seconds,) = _params(params, 1)
        return self.increase_time(_quantity(seconds, "seconds"))

    def _rpc_set_next_block_timestamp(self, params: object) -> object:
        (timestamp,) = _params(params, 1)
        self.set_next_timestamp(_quantity(timestamp, "timestamp"))
        return None

    def _rpc_snapshot(self, params: object) -> object:
        _params(params, 0)
        return self.snapshot()

    def _rpc_revert(self, params: object) -> object:
        (snapshot_id,) = _params(params, 1)
        return self.revert(hex(_quantity(snapshot_id, "snapshot id")))
