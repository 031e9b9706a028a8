"""SPL Token / Token-2022 state read the way Agave's RPC reads it: the node's own parser.

This is a second parser of token accounts, separate from the product's
`xstock_audit.chains.spl_layout`, on purpose: it is the tests' independent oracle. The sandbox
node answers `getTokenSupply`, `getTokenAccountBalance` and `getTokenAccountsByOwner` with it,
as a real node answers with its own code, and the tests compare what the auditor parses (with
`spl_layout`) against what the node serves and what the SPL programs wrote. Were the node to
use `spl_layout`, a bug there would show up on both sides of those comparisons and hide
itself. So keep the two apart: do not import `spl_layout` here, nor this module from the
product.

It also mirrors Agave, not the auditor: `unpack_*` return None wherever
`StateWithExtensions::unpack` fails (a 355-byte multisig, a bad `COption` tag, an
uninitialised mint or account, non-zero padding, a wrong account type, an unknown extension
type), where `spl_layout` raises with a reason or accepts more; `MintState` keeps the mint
authority (which the builders need and the auditor does not read). `token_amount_to_ui` builds
`UiTokenAmount` as Agave's `token_amount_to_ui_amount_v3` does: f64 maths with the
InterestBearing or ScaledUiAmount config and the Clock's `unix_timestamp`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Final, Literal

from solders.pubkey import Pubkey

UiAmountMode = Literal["node", "exact"]

# Token-2022 layout facts (the program's account state and extension type enum).
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


# ---- UI amounts (Token-2022 interface and Agave's account decoder) ------------------------


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
