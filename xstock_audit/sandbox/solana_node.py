"""A real, local Solana JSON-RPC node backed by LiteSVM.

`SolanaNode` wraps one `solders.litesvm.LiteSVM` and serves the read methods the auditor needs
over HTTP POST (JSON-RPC 2.0, single requests and batches) on 127.0.0.1. Replies follow Agave's
shapes, defaults and error codes: base64 accounts with `{"context": {"slot", "apiVersion"},
"value": ...}`, `-32602` for bad params and for more than 100 keys in `getMultipleAccounts`,
`-32016` when `minContextSlot` is ahead of the node, `-32601` for unknown methods, HTTP 200 for
every JSON-RPC error. `getTokenSupply` computes `uiAmountString` the way the node does (Agave's
`token_amount_to_ui_amount_v3`: f64 maths with the ScaledUiAmount or InterestBearing config and
the Clock's `unix_timestamp`).

State only changes through real transactions processed by the programs bundled in LiteSVM (see
`xstock_audit.sandbox.spl`) and through explicit clock moves (`warp_to_slot`,
`set_unix_timestamp`). The context slot is the LiteSVM clock's slot; LiteSVM does not advance
it on its own, so a test controls it completely.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final, Literal

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import (
    FailedTransactionMetadata,
    SimulatedTransactionInfo,
    TransactionMetadata,
)

from .rpc_http import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    RpcError,
    ServedNode,
)

__all__ = [
    "ASSOCIATED_TOKEN_PROGRAM_ID",
    "CLOCK_SYSVAR_ID",
    "DEFAULT_SLOT",
    "DEFAULT_UNIX_TIMESTAMP",
    "NATIVE_MINT",
    "SANDBOX_GENESIS_HASH",
    "SYSTEM_PROGRAM_ID",
    "TOKEN_2022_PROGRAM_ID",
    "TOKEN_PROGRAM_ID",
    "MintState",
    "RpcError",
    "SandboxTransactionError",
    "SolanaNode",
    "TokenAccountState",
    "UiAmountMode",
    "b58decode",
    "b58encode",
    "token_amount_to_ui",
    "unpack_mint",
    "unpack_token_account",
]

TOKEN_PROGRAM_ID: Final = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID: Final = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
ASSOCIATED_TOKEN_PROGRAM_ID: Final = Pubkey.from_string(
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
)
SYSTEM_PROGRAM_ID: Final = Pubkey.from_string("11111111111111111111111111111111")
CLOCK_SYSVAR_ID: Final = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")
SYSVAR_OWNER_ID: Final = Pubkey.from_string("Sysvar1111111111111111111111111111111111111")
NATIVE_MINT: Final = Pubkey.from_string("So11111111111111111111111111111111111111112")
_TOKEN_PROGRAMS: Final = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)

#: Deterministic genesis hash of the sandbox cluster (never a real cluster's).
SANDBOX_GENESIS_HASH: Final = str(Hash.hash(b"xstock-audit sandbox genesis"))
#: 2026-01-01T00:00:00Z: a fixed instant for tests that pin the clock. By default the node's
#: clock starts at the wall clock, as a node in sync would (LiteSVM's own starts at 0).
DEFAULT_UNIX_TIMESTAMP: Final = 1_767_225_600
DEFAULT_SLOT: Final = 1_000
DEFAULT_SOLANA_CORE_VERSION: Final = "2.3.13"
DEFAULT_FEATURE_SET: Final = 3_294_202_862
#: Agave's MAX_MULTIPLE_ACCOUNTS and MAX_REQUEST_BODY_SIZE (50 KiB).
MAX_MULTIPLE_ACCOUNTS: Final = 100
MAX_REQUEST_BODY_BYTES: Final = 50 * 1024
#: Agave refuses `binary`/`base58` account encodings above this many data bytes.
MAX_BASE58_BYTES: Final = 128

# JSON-RPC 2.0 and Agave custom error codes.
BLOCK_NOT_AVAILABLE: Final = -32004
MIN_CONTEXT_SLOT_NOT_REACHED: Final = -32016

UiAmountMode = Literal["node", "exact"]

# Token-2022 layout facts (interface/src/state.rs, interface/src/extension/mod.rs).
_MINT_LEN: Final = 82
_ACCOUNT_LEN: Final = 165
_MULTISIG_LEN: Final = 355
_ACCOUNT_TYPE_MINT: Final = 1
_ACCOUNT_TYPE_ACCOUNT: Final = 2
_EXT_INTEREST_BEARING: Final = 10
_EXT_SCALED_UI_AMOUNT: Final = 25
_MAX_EXTENSION_TYPE: Final = 28  # PermissionedBurn, the newest type in token-2022's enum
_SECONDS_PER_YEAR: Final = 60.0 * 60.0 * 24.0 * 365.24
_I64_MIN: Final = -(2**63)
_I64_MAX: Final = 2**63 - 1

_COMMITMENTS: Final = frozenset({"processed", "confirmed", "finalized"})
_ENCODINGS: Final = frozenset({"binary", "base58", "base64", "base64+zstd", "jsonParsed"})

_B58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58_ALPHABET)}


# --------------------------------------------------------------------------------------------
# Errors


class SandboxTransactionError(RuntimeError):
    """A transaction the LiteSVM runtime rejected; carries the error and program logs."""

    def __init__(self, err: object, logs: Sequence[str]) -> None:
        self.err = err
        self.logs = list(logs)
        tail = "\n  ".join(self.logs[-8:])
        super().__init__(f"transaction failed: {err}\n  {tail}")


def _invalid_params(detail: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {detail}.")


# --------------------------------------------------------------------------------------------
# Base58


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


def _parse_pubkey(value: object) -> Pubkey:
    """Agave's `verify_pubkey`: `Invalid param: WrongSize` / `Invalid param: Invalid`."""
    if not isinstance(value, str):
        raise _invalid_params(f"invalid type: {_json_type(value)}, expected a string")
    if len(value) > 44:
        raise RpcError(INVALID_PARAMS, "Invalid param: WrongSize")
    try:
        raw = b58decode(value)
    except ValueError:
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid") from None
    if len(raw) > 32:
        raise RpcError(INVALID_PARAMS, "Invalid param: Invalid")
    if len(raw) != 32:
        raise RpcError(INVALID_PARAMS, "Invalid param: WrongSize")
    return Pubkey.from_bytes(raw)


def _json_type(value: object) -> str:
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


# --------------------------------------------------------------------------------------------
# SPL Token / Token-2022 state, read the way Agave's RPC reads it


@dataclass(frozen=True)
class MintState:
    """A mint unpacked like `StateWithExtensions::<Mint>::unpack` (base + raw TLV bytes)."""

    mint_authority: Pubkey | None
    supply: int
    decimals: int
    freeze_authority: Pubkey | None
    tlv: bytes

    def extension(self, extension_type: int) -> bytes | None:
        return _get_extension(self.tlv, extension_type)

    def extension_types(self) -> list[int]:
        return _extension_types(self.tlv)


@dataclass(frozen=True)
class TokenAccountState:
    """A token account unpacked like `StateWithExtensions::<Account>::unpack`."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    state: int
    tlv: bytes


def _coption_pubkey(data: bytes, offset: int) -> tuple[bool, Pubkey | None]:
    tag = data[offset : offset + 4]
    if tag == b"\0\0\0\0":
        return True, None
    if tag == b"\1\0\0\0":
        return True, Pubkey.from_bytes(data[offset + 4 : offset + 36])
    return False, None


def _tlv_after_base(data: bytes, base_len: int, account_type: int) -> bytes | None:
    """The TLV region, or None when padding/account type are invalid (`type_and_tlv_indices`)."""
    rest = data[base_len:]
    if not rest:
        return b""
    type_index = _ACCOUNT_LEN - base_len
    if len(rest) < type_index + 1 or any(rest[:type_index]) or rest[type_index] != account_type:
        return None
    return rest[type_index + 1 :]


def unpack_mint(data: bytes) -> MintState | None:
    """Unpack a (Token or Token-2022) mint, or None where Agave's unpack would fail."""
    if len(data) < _MINT_LEN or len(data) == _MULTISIG_LEN:
        return None
    ok_auth, mint_authority = _coption_pubkey(data, 0)
    ok_freeze, freeze_authority = _coption_pubkey(data, 46)
    if not (ok_auth and ok_freeze) or data[45] != 1:
        return None
    tlv = _tlv_after_base(data, _MINT_LEN, _ACCOUNT_TYPE_MINT)
    if tlv is None:
        return None
    (supply,) = struct.unpack_from("<Q", data, 36)
    return MintState(mint_authority, supply, data[44], freeze_authority, tlv)


def unpack_token_account(data: bytes) -> TokenAccountState | None:
    """Unpack an initialised token account, or None (Agave's `TokenAccountState` filter)."""
    if len(data) < _ACCOUNT_LEN or len(data) == _MULTISIG_LEN or data[108] not in (1, 2):
        return None
    tlv = _tlv_after_base(data, _ACCOUNT_LEN, _ACCOUNT_TYPE_ACCOUNT)
    if tlv is None:
        return None
    (amount,) = struct.unpack_from("<Q", data, 64)
    return TokenAccountState(
        Pubkey.from_bytes(data[0:32]), Pubkey.from_bytes(data[32:64]), amount, data[108], tlv
    )


def _get_extension(tlv: bytes, wanted: int) -> bytes | None:
    """First TLV value of `wanted`, mirroring `get_extension_indices` (errors give None)."""
    start = 0
    while start < len(tlv):
        if len(tlv) < start + 4:
            return None
        ext_type, length = struct.unpack_from("<HH", tlv, start)
        if ext_type > _MAX_EXTENSION_TYPE:
            return None
        if ext_type == wanted:
            value = tlv[start + 4 : start + 4 + length]
            return value if len(value) == length else None
        if ext_type == 0:
            return None
        start += 4 + length
    return None


def _extension_types(tlv: bytes) -> list[int]:
    types: list[int] = []
    start = 0
    while start + 4 <= len(tlv):
        ext_type, length = struct.unpack_from("<HH", tlv, start)
        if ext_type == 0:
            break
        types.append(ext_type)
        start += 4 + length
    return types


# --------------------------------------------------------------------------------------------
# UI amounts (token-2022 interface + Agave account-decoder)


def _num_traits_pow(base: float, exp: int) -> float:
    """`num_traits::pow`: exponentiation by squaring, so the f64 result matches bit for bit."""
    if exp == 0:
        return 1.0
    while exp & 1 == 0:
        base = base * base
        exp >>= 1
    if exp == 1:
        return base
    acc = base
    while exp > 1:
        exp >>= 1
        base = base * base
        if exp & 1 == 1:
            acc = acc * base
    return acc


def _format_rust_fixed(value: float, decimals: int) -> str:
    """Rust's `format!("{value:.decimals$}")` then token-2022's `trim_ui_amount_string`."""
    # Python and Rust both print the exact binary value rounded half-to-even; Rust spells NaN.
    text = "NaN" if math.isnan(value) else format(value, f".{decimals}f")
    if decimals > 0:
        text = text.rstrip("0").rstrip(".")
    return text


def _real_number_string_trimmed(amount: int, decimals: int) -> str:
    if decimals == 0:
        return str(amount)
    digits = str(amount).rjust(decimals + 1, "0")
    text = f"{digits[:-decimals]}.{digits[-decimals:]}"
    return text.rstrip("0").rstrip(".")


def _i64(value: int) -> int | None:
    return value if _I64_MIN <= value <= _I64_MAX else None


def _scaled_multiplier(config: bytes, unix_timestamp: int) -> float:
    (multiplier, effective, new_multiplier) = struct.unpack_from("<dqd", config, 32)
    return float(new_multiplier if unix_timestamp >= effective else multiplier)


def _interest_ui_string(config: bytes, amount: int, decimals: int, unix_timestamp: int) -> str:
    """`InterestBearingConfig::amount_to_ui_amount` (continuous compounding, f64)."""
    init_ts, pre_rate, last_ts, current_rate = struct.unpack_from("<qhqh", config, 32)
    pre_span = _i64(last_ts - init_ts)
    post_span = _i64(unix_timestamp - last_ts)
    if pre_span is None or post_span is None:
        return ""
    try:
        pre_exp = math.exp(float(pre_rate * pre_span) / _SECONDS_PER_YEAR / 10_000.0)
        post_exp = math.exp(float(current_rate * post_span) / _SECONDS_PER_YEAR / 10_000.0)
    except OverflowError:
        pre_exp = post_exp = math.inf
    scale = pre_exp * post_exp / _num_traits_pow(10.0, decimals)
    return _format_rust_fixed(float(amount) * scale, decimals)


def _exact_scaled_ui_string(amount: int, decimals: int, multiplier: float) -> str:
    """amount × multiplier / 10^decimals in exact decimal arithmetic, rounded half-even."""
    if not math.isfinite(multiplier):
        return _format_rust_fixed(
            float(amount) * (multiplier / _num_traits_pow(10.0, decimals)), decimals
        )
    with localcontext(Context(prec=1_000)):
        value = Decimal(amount) * Decimal(multiplier) / (Decimal(10) ** decimals)
        quantum = Decimal(1).scaleb(-decimals)
        text = format(value.quantize(quantum, rounding=ROUND_HALF_EVEN), "f")
    if decimals > 0:
        text = text.rstrip("0").rstrip(".")
    return text


def token_amount_to_ui(
    amount: int,
    mint: MintState | None,
    unix_timestamp: int,
    *,
    decimals: int | None = None,
    mode: UiAmountMode = "node",
) -> dict[str, object]:
    """`UiTokenAmount` JSON as Agave's `token_amount_to_ui_amount_v3` builds it.

    InterestBearingConfig wins over ScaledUiAmount (the programs forbid both on one mint).
    In "exact" mode the ScaledUiAmount string is the exactly rounded decimal product instead
    of the node's f64 result (they differ only when f64 error crosses a rounding boundary).
    """
    dec = mint.decimals if mint is not None else (decimals or 0)
    interest = mint.extension(_EXT_INTEREST_BEARING) if mint is not None else None
    scaled = mint.extension(_EXT_SCALED_UI_AMOUNT) if mint is not None else None
    ui_amount: float | None
    if interest is not None and len(interest) == 52:
        ui_string = _interest_ui_string(interest, amount, dec, unix_timestamp)
        ui_amount = _parse_ui_float(ui_string)
    elif scaled is not None and len(scaled) == 56:
        multiplier = _scaled_multiplier(scaled, unix_timestamp)
        if mode == "exact":
            ui_string = _exact_scaled_ui_string(amount, dec, multiplier)
        else:
            total = multiplier / _num_traits_pow(10.0, dec)
            ui_string = _format_rust_fixed(float(amount) * total, dec)
        ui_amount = _parse_ui_float(ui_string)
    else:
        ui_string = _real_number_string_trimmed(amount, dec)
        ui_amount = float(amount) / float(10**dec) if dec <= 19 else None
    return {
        "amount": str(amount),
        "decimals": dec,
        "uiAmount": ui_amount,
        "uiAmountString": ui_string,
    }


def _parse_ui_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # serde_json writes inf/NaN as null


# --------------------------------------------------------------------------------------------
# Request parameter helpers


@dataclass(frozen=True)
class _AccountConfig:
    encoding: str
    data_slice: tuple[int, int] | None
    min_context_slot: int | None


def _params_list(params: object) -> list[object]:
    if params is None:
        return []
    if isinstance(params, list):
        return params
    raise _invalid_params("invalid type: map, expected a sequence")


def _expect_no_params(params: object) -> None:
    if params is None or params == [] or params == {}:
        return
    raise _invalid_params("No parameters were expected")


def _config_object(params: list[object], index: int, max_len: int) -> dict[str, object]:
    if len(params) > max_len:
        raise _invalid_params(
            f"invalid length {len(params)}, expected at most {max_len} parameters"
        )
    if len(params) <= index or params[index] is None:
        return {}
    config = params[index]
    if not isinstance(config, dict):
        raise _invalid_params(f"invalid type: {_json_type(config)}, expected a config object")
    commitment = config.get("commitment")
    if commitment is not None and commitment not in _COMMITMENTS:
        raise _invalid_params(
            f"unknown variant `{commitment}`, expected one of `processed`, `confirmed`, `finalized`"
        )
    return config


def _u64_field(config: dict[str, object], name: str) -> int | None:
    value = config.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise _invalid_params(f"invalid value for `{name}`: expected u64")
    return value


def _account_config(config: dict[str, object], *, default_encoding: str) -> _AccountConfig:
    encoding = config.get("encoding")
    if encoding is None:
        encoding = default_encoding
    if not isinstance(encoding, str) or encoding not in _ENCODINGS:
        raise _invalid_params(
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
            raise _invalid_params("invalid type for `dataSlice`, expected {offset, length}")
        offset = _u64_field(raw_slice, "offset")
        length = _u64_field(raw_slice, "length")
        if offset is None or length is None:
            raise _invalid_params("missing field `offset` or `length` in `dataSlice`")
        data_slice = (offset, length)
    return _AccountConfig(encoding, data_slice, _u64_field(config, "minContextSlot"))


def _encode_account(account: Account, config: _AccountConfig) -> dict[str, object]:
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


# --------------------------------------------------------------------------------------------
# The node


_Handler = Callable[[object], object]


class SolanaNode(ServedNode):
    """One LiteSVM served as a Solana JSON-RPC endpoint on 127.0.0.1.

    Every touch of the LiteSVM goes through `self.lock` (re-entrant): the HTTP server is
    threaded. `send_transaction` signs with the funded fee payer plus any keypair known to the
    node (`remember`); with `sigverify=False` signers whose key is unknown get a placeholder
    signature, so a sandbox can create mints at real mainnet addresses or act as a real
    authority (the programs still see the signer flag).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        genesis_hash: str = SANDBOX_GENESIS_HASH,
        slot: int = DEFAULT_SLOT,
        unix_timestamp: int | None = None,
        sigverify: bool = True,
        ui_amount_mode: UiAmountMode = "node",
        solana_core_version: str = DEFAULT_SOLANA_CORE_VERSION,
        feature_set: int = DEFAULT_FEATURE_SET,
        max_multiple_accounts: int = MAX_MULTIPLE_ACCOUNTS,
        max_request_body_bytes: int = MAX_REQUEST_BODY_BYTES,
        payer_lamports: int = 100_000 * 10**9,
    ) -> None:
        if len(b58decode(genesis_hash)) != 32:
            raise ValueError("genesis_hash must be a base58-encoded 32-byte hash")
        self.lock = threading.RLock()
        self.svm = LiteSVM().with_sigverify(sigverify)
        self.sigverify = sigverify
        self.genesis_hash = genesis_hash
        self.ui_amount_mode: UiAmountMode = ui_amount_mode
        self.solana_core_version = solana_core_version
        self.feature_set = feature_set
        self.max_multiple_accounts = max_multiple_accounts
        self.max_request_body_bytes = max_request_body_bytes
        self._requested_port = port
        self._server_name = "solana-node"
        self._keyring: dict[Pubkey, Keypair] = {}
        self._block_times: dict[int, int] = {}
        if unix_timestamp is None:
            unix_timestamp = int(time.time())
        clock = self.svm.get_clock()
        self.set_clock(
            Clock(
                slot=slot,
                epoch_start_timestamp=unix_timestamp,
                epoch=clock.epoch,
                leader_schedule_epoch=clock.leader_schedule_epoch,
                unix_timestamp=unix_timestamp,
            )
        )
        self.payer = Keypair()
        self.remember(self.payer)
        self.airdrop(self.payer.pubkey(), payer_lamports)
        self._methods: dict[str, _Handler] = {
            "getAccountInfo": self._rpc_get_account_info,
            "getBalance": self._rpc_get_balance,
            "getBlockHeight": self._rpc_get_block_height,
            "getBlockTime": self._rpc_get_block_time,
            "getGenesisHash": self._rpc_get_genesis_hash,
            "getHealth": self._rpc_get_health,
            "getLatestBlockhash": self._rpc_get_latest_blockhash,
            "getMultipleAccounts": self._rpc_get_multiple_accounts,
            "getSlot": self._rpc_get_slot,
            "getTokenAccountBalance": self._rpc_get_token_account_balance,
            "getTokenAccountsByOwner": self._rpc_get_token_accounts_by_owner,
            "getTokenSupply": self._rpc_get_token_supply,
            "getVersion": self._rpc_get_version,
        }

    def register_method(self, name: str, handler: Callable[[object], object]) -> None:
        """Serve an extra JSON-RPC method (e.g. the sandbox's control methods).

        The handler gets the request's params and runs with `lock` held; raise `RpcError`
        for a JSON-RPC error reply.
        """
        self._methods[name] = handler

    # ---- lifecycle -------------------------------------------------------------------------

    # ---- clock -----------------------------------------------------------------------------

    def get_clock(self) -> Clock:
        with self.lock:
            return self.svm.get_clock()

    def set_clock(self, clock: Clock) -> None:
        with self.lock:
            self.svm.set_clock(clock)
            self._block_times[clock.slot] = clock.unix_timestamp

    @property
    def slot(self) -> int:
        return self.get_clock().slot

    @property
    def unix_timestamp(self) -> int:
        return self.get_clock().unix_timestamp

    def warp_to_slot(self, slot: int) -> None:
        """Move the clock's slot (other Clock fields are kept, like LiteSVM's warp)."""
        with self.lock:
            self.svm.warp_to_slot(slot)
            self._block_times[slot] = self.svm.get_clock().unix_timestamp

    def set_unix_timestamp(self, unix_timestamp: int) -> None:
        """Set the Clock's unix_timestamp (what programs and ScaledUiAmount maths read)."""
        with self.lock:
            clock = self.svm.get_clock()
            self.set_clock(
                Clock(
                    slot=clock.slot,
                    epoch_start_timestamp=clock.epoch_start_timestamp,
                    epoch=clock.epoch,
                    leader_schedule_epoch=clock.leader_schedule_epoch,
                    unix_timestamp=unix_timestamp,
                )
            )

    # ---- accounts and transactions ------------------------------------------------------------

    def remember(self, *keypairs: Keypair) -> None:
        """Make keypairs available as signers to `send_transaction` (and the spl builders)."""
        with self.lock:
            for keypair in keypairs:
                self._keyring[keypair.pubkey()] = keypair

    def keypair_for(self, pubkey: Pubkey) -> Keypair | None:
        with self.lock:
            return self._keyring.get(pubkey)

    def get_account(self, pubkey: Pubkey) -> Account | None:
        """The account as the RPC serves it (the Clock sysvar always mirrors `get_clock`)."""
        with self.lock:
            account = self.svm.get_account(pubkey)
            if pubkey != CLOCK_SYSVAR_ID:
                return account
            clock = self.svm.get_clock()
            data = struct.pack(
                "<QqQQq",
                clock.slot,
                clock.epoch_start_timestamp,
                clock.epoch,
                clock.leader_schedule_epoch,
                clock.unix_timestamp,
            )
            if account is not None and bytes(account.data) == data:
                return account
            return Account(
                lamports=account.lamports if account is not None else 1_169_280,
                data=data,
                owner=SYSVAR_OWNER_ID,
                executable=False,
                rent_epoch=account.rent_epoch if account is not None else 0,
            )

    def airdrop(self, pubkey: Pubkey, lamports: int) -> None:
        with self.lock:
            result = self.svm.airdrop(pubkey, lamports)
            if isinstance(result, FailedTransactionMetadata):
                raise SandboxTransactionError(result.err(), result.meta().logs())

    def minimum_balance_for_rent_exemption(self, data_len: int) -> int:
        with self.lock:
            return self.svm.minimum_balance_for_rent_exemption(data_len)

    def _build_transaction(
        self, instructions: Sequence[Instruction], signers: Iterable[Keypair]
    ) -> Transaction:
        known = dict(self._keyring)
        for signer in signers:
            known[signer.pubkey()] = signer
        message = Message.new_with_blockhash(
            list(instructions), self.payer.pubkey(), self.svm.latest_blockhash()
        )
        message_bytes = bytes(message)
        signatures: list[Signature] = []
        for key in message.account_keys[: message.header.num_required_signatures]:
            keypair = known.get(key)
            if keypair is not None:
                signatures.append(keypair.sign_message(message_bytes))
            elif not self.sigverify:
                signatures.append(Signature.default())
            else:
                raise KeyError(
                    f"no keypair for required signer {key}; remember() it or create the node "
                    "with sigverify=False"
                )
        return Transaction.populate(message, signatures)

    def send_transaction(
        self, instructions: Sequence[Instruction], signers: Iterable[Keypair] = ()
    ) -> TransactionMetadata:
        """Sign (payer + `signers` + remembered keys), process, raise on failure.

        LiteSVM keeps one blockhash until told otherwise and refuses an identical transaction
        as AlreadyProcessed, so the blockhash is expired after every transaction.
        """
        with self.lock:
            tx = self._build_transaction(instructions, signers)
            result = self.svm.send_transaction(tx)
            self.svm.expire_blockhash()
            if isinstance(result, FailedTransactionMetadata):
                raise SandboxTransactionError(result.err(), result.meta().logs())
            return result

    def simulate_transaction(
        self, instructions: Sequence[Instruction], signers: Iterable[Keypair] = ()
    ) -> TransactionMetadata:
        """Run without committing (e.g. to read a program's return data); raise on failure."""
        with self.lock:
            tx = self._build_transaction(instructions, signers)
            result = self.svm.simulate_transaction(tx)
            if isinstance(result, FailedTransactionMetadata):
                raise SandboxTransactionError(result.err(), result.meta().logs())
            assert isinstance(result, SimulatedTransactionInfo)
            return result.meta()

    # ---- JSON-RPC transport-free entry points ------------------------------------------------

    # ---- method implementations (called with self.lock held) -------------------------------

    def _context(self) -> dict[str, object]:
        return {"apiVersion": self.solana_core_version, "slot": self.svm.get_clock().slot}

    def _check_min_context_slot(self, min_context_slot: int | None) -> None:
        slot = self.svm.get_clock().slot
        if min_context_slot is not None and slot < min_context_slot:
            raise RpcError(
                MIN_CONTEXT_SLOT_NOT_REACHED,
                "Minimum context slot has not been reached",
                {"contextSlot": slot},
            )

    def _rpc_get_genesis_hash(self, params: object) -> object:
        _expect_no_params(params)
        return self.genesis_hash

    def _rpc_get_health(self, params: object) -> object:
        _expect_no_params(params)
        return "ok"

    def _rpc_get_version(self, params: object) -> object:
        _expect_no_params(params)
        return {"feature-set": self.feature_set, "solana-core": self.solana_core_version}

    def _rpc_get_slot(self, params: object) -> object:
        config = _config_object(_params_list(params), 0, 1)
        self._check_min_context_slot(_u64_field(config, "minContextSlot"))
        return self.svm.get_clock().slot

    def _rpc_get_block_height(self, params: object) -> object:
        config = _config_object(_params_list(params), 0, 1)
        self._check_min_context_slot(_u64_field(config, "minContextSlot"))
        return self.svm.get_clock().slot

    def _rpc_get_block_time(self, params: object) -> object:
        args = _params_list(params)
        if len(args) != 1:
            raise _invalid_params(f"invalid length {len(args)}, expected a tuple of size 1")
        slot = args[0]
        if isinstance(slot, bool) or not isinstance(slot, int) or slot < 0:
            raise _invalid_params(f"invalid type: {_json_type(slot)}, expected u64")
        clock = self.svm.get_clock()
        if slot == clock.slot:
            return clock.unix_timestamp
        if slot < clock.slot and slot in self._block_times:
            return self._block_times[slot]
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")

    def _rpc_get_latest_blockhash(self, params: object) -> object:
        config = _config_object(_params_list(params), 0, 1)
        self._check_min_context_slot(_u64_field(config, "minContextSlot"))
        slot = self.svm.get_clock().slot
        return {
            "context": self._context(),
            "value": {
                "blockhash": str(self.svm.latest_blockhash()),
                "lastValidBlockHeight": slot + 150,
            },
        }

    def _rpc_get_balance(self, params: object) -> object:
        args = _params_list(params)
        if not args:
            raise _invalid_params("invalid length 0, expected a public key")
        pubkey = _parse_pubkey(args[0])
        config = _config_object(args, 1, 2)
        self._check_min_context_slot(_u64_field(config, "minContextSlot"))
        account = self.get_account(pubkey)
        return {"context": self._context(), "value": account.lamports if account else 0}

    def _rpc_get_account_info(self, params: object) -> object:
        args = _params_list(params)
        if not args:
            raise _invalid_params("invalid length 0, expected a public key")
        pubkey = _parse_pubkey(args[0])
        config = _account_config(_config_object(args, 1, 2), default_encoding="binary")
        self._check_min_context_slot(config.min_context_slot)
        account = self.get_account(pubkey)
        value = _encode_account(account, config) if account is not None else None
        return {"context": self._context(), "value": value}

    def _rpc_get_multiple_accounts(self, params: object) -> object:
        args = _params_list(params)
        if not args or not isinstance(args[0], list):
            found = _json_type(args[0]) if args else "nothing"
            raise _invalid_params(f"invalid type: {found}, expected a sequence of public keys")
        keys = args[0]
        if len(keys) > self.max_multiple_accounts:
            raise RpcError(
                INVALID_PARAMS, f"Too many inputs provided; max {self.max_multiple_accounts}"
            )
        pubkeys = [_parse_pubkey(key) for key in keys]
        config = _account_config(_config_object(args, 1, 2), default_encoding="base64")
        self._check_min_context_slot(config.min_context_slot)
        values: list[object] = []
        for pubkey in pubkeys:
            account = self.get_account(pubkey)
            values.append(_encode_account(account, config) if account is not None else None)
        return {"context": self._context(), "value": values}

    def _rpc_get_token_supply(self, params: object) -> object:
        # Agave takes only a CommitmentConfig here: minContextSlot is ignored, as on mainnet.
        args = _params_list(params)
        if not args:
            raise _invalid_params("invalid length 0, expected a mint public key")
        pubkey = _parse_pubkey(args[0])
        _config_object(args, 1, 2)
        account = self.get_account(pubkey)
        if account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find account")
        if account.owner not in _TOKEN_PROGRAMS:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a Token mint")
        mint = unpack_mint(bytes(account.data))
        if mint is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: mint could not be unpacked")
        value = token_amount_to_ui(
            mint.supply, mint, self.svm.get_clock().unix_timestamp, mode=self.ui_amount_mode
        )
        return {"context": self._context(), "value": value}

    def _mint_for_ui(self, mint_key: Pubkey) -> tuple[Pubkey, MintState | None, int]:
        """Agave's `get_mint_owner_and_additional_data`: (owner, mint, decimals)."""
        if mint_key == NATIVE_MINT:
            return TOKEN_PROGRAM_ID, None, 9
        account = self.get_account(mint_key)
        if account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find mint")
        mint = unpack_mint(bytes(account.data))
        if mint is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: Token mint could not be unpacked")
        return account.owner, mint, mint.decimals

    def _rpc_get_token_account_balance(self, params: object) -> object:
        args = _params_list(params)
        if not args:
            raise _invalid_params("invalid length 0, expected a token account public key")
        pubkey = _parse_pubkey(args[0])
        _config_object(args, 1, 2)
        account = self.get_account(pubkey)
        if account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find account")
        token_account = unpack_token_account(bytes(account.data))
        if account.owner not in _TOKEN_PROGRAMS or token_account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a Token account")
        _, mint, decimals = self._mint_for_ui(token_account.mint)
        value = token_amount_to_ui(
            token_account.amount,
            mint,
            self.svm.get_clock().unix_timestamp,
            decimals=decimals,
            mode=self.ui_amount_mode,
        )
        return {"context": self._context(), "value": value}

    def _rpc_get_token_accounts_by_owner(self, params: object) -> object:
        args = _params_list(params)
        if len(args) < 2:
            raise _invalid_params(f"invalid length {len(args)}, expected an owner and a filter")
        owner = _parse_pubkey(args[0])
        raw_filter = args[1]
        if not isinstance(raw_filter, dict) or len(raw_filter) != 1:
            raise _invalid_params("expected a filter with exactly one of `mint`, `programId`")
        ((filter_kind, filter_value),) = raw_filter.items()
        if filter_kind not in ("mint", "programId"):
            raise _invalid_params(
                f"unknown variant `{filter_kind}`, expected `mint` or `programId`"
            )
        filter_key = _parse_pubkey(filter_value)
        config = _account_config(_config_object(args, 2, 3), default_encoding="binary")
        self._check_min_context_slot(config.min_context_slot)
        mint_filter: Pubkey | None = None
        if filter_kind == "mint":
            program_id, _, _ = self._mint_for_ui(filter_key)
            if program_id not in _TOKEN_PROGRAMS:
                raise RpcError(INVALID_PARAMS, "Invalid param: not a Token mint")
            mint_filter = filter_key
        elif filter_key in _TOKEN_PROGRAMS:
            program_id = filter_key
        else:
            raise RpcError(INVALID_PARAMS, "Invalid param: unrecognized Token program id")
        matches: list[tuple[Pubkey, Account]] = []
        for pubkey, account in self.svm.get_program_accounts(program_id):
            state = unpack_token_account(bytes(account.data))
            if state is None or state.owner != owner:
                continue
            if mint_filter is not None and state.mint != mint_filter:
                continue
            matches.append((pubkey, account))
        matches.sort(key=lambda item: bytes(item[0]))
        value = [
            {"account": _encode_account(account, config), "pubkey": str(pubkey)}
            for pubkey, account in matches
        ]
        return {"context": self._context(), "value": value}
