"""Ethereum JSON-RPC wire format for `EvmNode`: parameters checked on the way in, results and
errors converted on the way out.

Requests arrive in wire format (hex quantities) and stay in it after checking: web3's
eth-tester pipeline converts them. Its results come back as Python values and leave as wire
format (ints to hex quantities, bytes to 0x data, eth-tester's snake_case keys to the spec's
camelCase), blocks, transactions, receipts and logs with the fields a real node sends.

Errors look like anvil's: a revert in `eth_call`/`eth_estimateGas` is
`{"code": 3, "message": "execution reverted[: reason]", "data": "0x<revert data>"}`, other EVM
failures and unexpected errors `-32000`, bad params `-32602`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from ..rpc_http import INVALID_PARAMS, SERVER_ERROR, RpcError

# JSON-RPC 2.0 codes, plus the EIP-1474/anvil ones.
EXECUTION_REVERTED: Final = 3

BLOCK_TAGS: Final = frozenset({"latest", "earliest", "pending", "safe", "finalized"})
_HEX_QUANTITY: Final = re.compile(r"0x[0-9a-fA-F]+")
_HEX_DATA: Final = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_ADDRESS: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_HASH: Final = re.compile(r"0x[0-9a-fA-F]{64}")
ERROR_STRING_SELECTOR: Final = bytes.fromhex("08c379a0")  # Error(string)
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


def invalid_params(detail: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {detail}")


def decode_error_string(data: bytes) -> str | None:
    from eth_abi import abi

    try:
        (reason,) = abi.decode(["string"], data[4:])
    except Exception:
        return None
    return str(reason)


# ---- results -------------------------------------------------------------------------------


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


def result_to_wire(method: str, result: object) -> object:
    """A pipeline result of `method` in wire format."""
    return _RESULT_CONVERTERS.get(method, _wire)(result)


# ---- errors --------------------------------------------------------------------------------


def _revert_error(data: bytes) -> RpcError:
    message = "execution reverted"
    if data[:4] == ERROR_STRING_SELECTOR:
        reason = decode_error_string(data)
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


def rpc_failure(exc: Exception) -> RpcError:
    """The node's error object for an exception out of the pipeline."""
    from eth.exceptions import Revert
    from eth_tester.exceptions import ValidationError as TesterValidationError  # type: ignore[import-untyped,unused-ignore]

    vm_error = _vm_error(exc)
    if isinstance(vm_error, Revert):
        data = vm_error.args[0] if vm_error.args else b""
        return _revert_error(bytes(data) if isinstance(data, bytes | bytearray) else b"")
    if vm_error is not None:
        return RpcError(SERVER_ERROR, f"EVM error {type(vm_error).__name__}: {vm_error}")
    if isinstance(exc, TesterValidationError):
        return invalid_params(str(exc))
    return RpcError(SERVER_ERROR, str(exc) or type(exc).__name__)


# ---- request parameters (wire format in, wire format out: the pipeline converts) -----------


def hex_quantity(value: object, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _HEX_QUANTITY.fullmatch(value):
        return int(value, 16)
    raise invalid_params(f"{what}: expected a hex quantity, got {json.dumps(value)}")


def hex_address(value: object, what: str) -> str:
    if isinstance(value, str) and _ADDRESS.fullmatch(value):
        return value.lower()
    raise invalid_params(f"{what}: expected a 20-byte hex address, got {json.dumps(value)}")


def hex_data(value: object, what: str) -> str:
    if isinstance(value, str) and _HEX_DATA.fullmatch(value):
        return value.lower()
    raise invalid_params(f"{what}: expected 0x-prefixed hex data, got {json.dumps(value)}")


def hex_hash(value: object, what: str) -> str:
    if isinstance(value, str) and _HASH.fullmatch(value):
        return value.lower()
    raise invalid_params(f"{what}: expected a 32-byte hex hash, got {json.dumps(value)}")


def boolean(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise invalid_params(f"{what}: expected a boolean, got {json.dumps(value)}")


def transaction(value: object) -> dict[str, Any]:
    """A transaction object, checked; stays in wire format (the pipeline converts it)."""
    if not isinstance(value, dict):
        raise invalid_params("transaction: expected an object")
    tx: dict[str, Any] = {}
    for key in _TX_ADDRESS_FIELDS:
        if value.get(key) is not None:
            tx[key] = hex_address(value[key], key)
    for key in _TX_QUANTITY_FIELDS:
        if value.get(key) is not None:
            hex_quantity(value[key], key)
            tx[key] = value[key] if isinstance(value[key], str) else hex(value[key])
    data, input_ = value.get("data"), value.get("input")
    if (
        data is not None
        and input_ is not None
        and hex_data(data, "data") != hex_data(input_, "input")
    ):
        raise invalid_params("both `data` and `input` are set and not equal")
    payload = input_ if input_ is not None else data
    if payload is not None:
        tx["data"] = hex_data(payload, "input")
    if value.get("accessList") is not None:
        if not isinstance(value["accessList"], list):
            raise invalid_params("accessList: expected an array")
        tx["accessList"] = value["accessList"]
    return tx


def positional(params: object, required: int, optional: int = 0) -> list[Any]:
    """Positional params, their count checked; missing optional ones are None."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise invalid_params("expected an array of parameters")
    if not required <= len(params) <= required + optional:
        expected = str(required) if not optional else f"{required} to {required + optional}"
        raise invalid_params(f"expected {expected} parameters, got {len(params)}")
    return list(params) + [None] * (required + optional - len(params))
