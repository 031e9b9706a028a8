"""Solana JSON-RPC wire format for `SolanaNode`: params checked the way Agave checks them,
accounts encoded the way it encodes them.

Bad params are `-32602` with Agave's messages (`Invalid param: WrongSize` for a short key, the
serde wording for a wrong type); `binary`/`base58` data over 128 bytes is `-32600`;
`jsonParsed` and `base64+zstd` are refused: the sandbox serves raw bytes only, so the auditor
parses them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Final

from solders.account import Account
from solders.pubkey import Pubkey

from ..rpc_http import INVALID_PARAMS, INVALID_REQUEST, RpcError

#: Agave refuses `binary`/`base58` account encodings above this many data bytes.
MAX_BASE58_BYTES: Final = 128

# JSON-RPC 2.0 and Agave custom error codes.
BLOCK_CLEANED_UP: Final = -32001
BLOCK_NOT_AVAILABLE: Final = -32004
MIN_CONTEXT_SLOT_NOT_REACHED: Final = -32016

_COMMITMENTS: Final = frozenset({"processed", "confirmed", "finalized"})
_ENCODINGS: Final = frozenset({"binary", "base58", "base64", "base64+zstd", "jsonParsed"})

_B58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58_ALPHABET)}


def invalid_params(detail: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {detail}.")


# ---- base58 and keys ----------------------------------------------------------------------


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58, as Solana uses for keys, hashes and `base58` account data."""
    n = int.from_bytes(data, "big")
    out: list[str] = []
    while n:
        n, rem = divmod(n, 58)
        out.append(_B58_ALPHABET[rem])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of `b58encode`; raises ValueError on a character outside the alphabet."""
    n = 0
    for char in text:
        try:
            n = n * 58 + _B58_INDEX[char]
        except KeyError:
            raise ValueError(f"invalid base58 character {char!r}") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def parse_pubkey(value: object) -> Pubkey:
    """Agave's `verify_pubkey`: `Invalid param: WrongSize` / `Invalid param: Invalid`."""
    if not isinstance(value, str):
        raise invalid_params(f"invalid type: {json_type(value)}, expected a string")
    if len(value) > 44:
        raise RpcError(INVALID_PARAMS, "Invalid param: WrongSize")
    if len(value) >= 32:  # the usual case, decoded natively; the path below says what's wrong
        try:
            return Pubkey.from_string(value)
        except ValueError:
            pass
    try:
        raw = b58decode(value)
    except ValueError:
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid") from None
    if len(raw) > 32:
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid")
    if len(raw) != 32:
        raise RpcError(INVALID_PARAMS, "Invalid param: WrongSize")
    return Pubkey.from_bytes(raw)


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


# ---- params --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountConfig:
    encoding: str
    data_slice: tuple[int, int] | None
    min_context_slot: int | None


def params_list(params: object) -> list[object]:
    if params is None:
        return []
    if isinstance(params, list):
        return params
    raise invalid_params("invalid type: map, expected a sequence")


def expect_no_params(params: object) -> None:
    if params is None or params == [] or params == {}:
        return
    raise invalid_params("No parameters were expected")


def config_object(params: list[object], index: int, max_len: int) -> dict[str, object]:
    if len(params) > max_len:
        raise invalid_params(f"invalid length {len(params)}, expected at most {max_len} parameters")
    if len(params) <= index or params[index] is None:
        return {}
    config = params[index]
    if not isinstance(config, dict):
        raise invalid_params(f"invalid type: {json_type(config)}, expected a config object")
    commitment = config.get("commitment")
    if commitment is not None and commitment not in _COMMITMENTS:
        raise invalid_params(
            f"unknown variant `{commitment}`, expected one of `processed`, `confirmed`, `finalized`"
        )
    return config


def u64_field(config: dict[str, object], name: str) -> int | None:
    value = config.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise invalid_params(f"invalid value for `{name}`: expected u64")
    return value


def account_config(config: dict[str, object], *, default_encoding: str) -> AccountConfig:
    encoding = config.get("encoding")
    if encoding is None:
        encoding = default_encoding
    if not isinstance(encoding, str) or encoding not in _ENCODINGS:
        raise invalid_params(
            f"unknown variant `{encoding}`, expected one of `binary`, `base58`, `base64`, "
            "`jsonParsed`, `base64+zstd`"
        )
    if encoding in ("jsonParsed", "base64+zstd"):
        # A deliberate gap: the sandbox serves raw bytes only, so the auditor parses them.
        raise RpcError(
            INVALID_PARAMS,
            f"Invalid params: encoding `{encoding}` is not supported by the sandbox node; "
            "use base64.",
        )
    data_slice: tuple[int, int] | None = None
    raw_slice = config.get("dataSlice")
    if raw_slice is not None:
        if not isinstance(raw_slice, dict):
            raise invalid_params("invalid type for `dataSlice`, expected {offset, length}")
        offset = u64_field(raw_slice, "offset")
        length = u64_field(raw_slice, "length")
        if offset is None or length is None:
            raise invalid_params("missing field `offset` or `length` in `dataSlice`")
        data_slice = (offset, length)
    return AccountConfig(encoding, data_slice, u64_field(config, "minContextSlot"))


def encode_account(account: Account, config: AccountConfig) -> dict[str, object]:
    data = bytes(account.data)
    if config.encoding in ("binary", "base58") and len(data) > MAX_BASE58_BYTES:
        raise RpcError(
            INVALID_REQUEST,
            f"Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, "
            "please use Base64 encoding.",
        )
    sliced = data
    if config.data_slice is not None:
        offset, length = config.data_slice
        sliced = data[offset : offset + length] if offset <= len(data) else b""
    encoded: object
    if config.encoding == "binary":
        encoded = b58encode(sliced)
    elif config.encoding == "base58":
        encoded = [b58encode(sliced), "base58"]
    else:
        encoded = [base64.b64encode(sliced).decode("ascii"), "base64"]
    return {
        "data": encoded,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(data),
    }
