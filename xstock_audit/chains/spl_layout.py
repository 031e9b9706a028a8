"""Byte layouts of SPL Token and Token-2022 accounts, parsed locally (pure, no I/O).

Mint: ``0 COption<Pubkey> mint_authority (4+32) | 36 u64 supply | 44 u8 decimals |
45 bool is_initialized | 46 COption<Pubkey> freeze_authority (4+32)`` = 82 bytes (SPL Token
mints are exactly that). Token-2022 pads to 165, puts the account type (1 = Mint,
2 = Account) at 165, then TLV extensions: ``u16 type | u16 length | value`` (little endian),
in any order. Token account: ``0 mint | 32 owner | 64 u64 amount | …`` (165 bytes).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from decimal import Decimal

from .. import amounts

SPL_TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022 = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
CLOCK_SYSVAR = "SysvarC1ock11111111111111111111111111111111"
TOKEN_PROGRAMS = {SPL_TOKEN: "spl-token", TOKEN_2022: "token-2022"}

MINT_LEN = 82
ACCOUNT_LEN = 165
ACCOUNT_TYPE_OFFSET = 165
ACCOUNT_TYPE_MINT = 1
ACCOUNT_TYPE_ACCOUNT = 2

EXTENSION_NAMES = {
    1: "TransferFeeConfig",
    3: "MintCloseAuthority",
    4: "ConfidentialTransferMint",
    6: "DefaultAccountState",
    10: "InterestBearingConfig",
    12: "PermanentDelegate",
    14: "TransferHook",
    16: "ConfidentialTransferFeeConfig",
    18: "MetadataPointer",
    19: "TokenMetadata",
    20: "GroupPointer",
    21: "TokenGroup",
    22: "GroupMemberPointer",
    23: "TokenGroupMember",
    24: "ConfidentialMintBurn",
    25: "ScaledUiAmount",
    26: "Pausable",
    27: "PausableAccount",
}
EXT_INTEREST_BEARING = 10
EXT_CONFIDENTIAL_MINT_BURN = 24
EXT_SCALED_UI_AMOUNT = 25
SCALED_UI_AMOUNT_LEN = 56


class LayoutError(ValueError):
    """Account bytes that are not what they claim to be."""


@dataclass(frozen=True)
class ScaledUiAmount:
    authority: bytes
    multiplier: Decimal
    new_multiplier_effective_timestamp: int
    new_multiplier: Decimal

    def effective(self, unix_timestamp: int) -> Decimal:
        """The multiplier in force at the chain clock's `unix_timestamp`."""
        if unix_timestamp >= self.new_multiplier_effective_timestamp:
            return self.new_multiplier
        return self.multiplier


@dataclass(frozen=True)
class Mint:
    program: str
    supply: int
    decimals: int
    is_initialized: bool
    extensions: tuple[tuple[int, bytes], ...] = ()

    def extension(self, ext_type: int) -> bytes | None:
        for t, value in self.extensions:
            if t == ext_type:
                return value
        return None

    @functools.cached_property  # parsed once (a failure is not cached: it raises again)
    def scaled_ui_amount(self) -> ScaledUiAmount | None:
        value = self.extension(EXT_SCALED_UI_AMOUNT)
        return None if value is None else parse_scaled_ui_amount(value)

    @property
    def extension_names(self) -> list[str]:
        return [EXTENSION_NAMES.get(t, f"type {t}") for t, _ in self.extensions]


@dataclass(frozen=True)
class TokenAccount:
    mint: bytes
    owner: bytes
    amount: int


@dataclass(frozen=True)
class Clock:
    slot: int
    epoch_start_timestamp: int
    epoch: int
    leader_schedule_epoch: int
    unix_timestamp: int


def parse_tlv(data: bytes, start: int) -> tuple[tuple[int, bytes], ...]:
    """Walk TLV entries from `start`; a zero type means the rest is padding."""
    out: list[tuple[int, bytes]] = []
    pos = start
    while pos + 4 <= len(data):
        ext_type, length = struct.unpack_from("<HH", data, pos)
        if ext_type == 0:
            break
        value = data[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise LayoutError(
                f"extension {EXTENSION_NAMES.get(ext_type, ext_type)} at byte {pos} claims "
                f"{length} bytes, only {len(data) - pos - 4} remain"
            )
        out.append((ext_type, value))
        pos += 4 + length
    return tuple(out)


def parse_scaled_ui_amount(value: bytes) -> ScaledUiAmount:
    if len(value) != SCALED_UI_AMOUNT_LEN:
        raise LayoutError(f"ScaledUiAmount config is {len(value)} bytes, expected 56")
    (ts,) = struct.unpack_from("<q", value, 40)
    try:
        return ScaledUiAmount(
            authority=value[:32],
            multiplier=amounts.f64_from_le_bytes(value[32:40]),
            new_multiplier_effective_timestamp=ts,
            new_multiplier=amounts.f64_from_le_bytes(value[48:56]),
        )
    except ValueError as exc:
        raise LayoutError(f"ScaledUiAmount: {exc}") from None


def parse_mint(owner_program: str, data: bytes) -> Mint:
    if owner_program not in TOKEN_PROGRAMS:
        raise LayoutError(f"account is owned by {owner_program}, not a token program")
    program = TOKEN_PROGRAMS[owner_program]
    if len(data) < MINT_LEN:
        raise LayoutError(f"account is {len(data)} bytes, a mint has at least {MINT_LEN}")
    extensions: tuple[tuple[int, bytes], ...] = ()
    if len(data) != MINT_LEN:
        if owner_program == SPL_TOKEN:
            raise LayoutError(f"SPL Token account of {len(data)} bytes is not a mint (82)")
        if len(data) <= ACCOUNT_TYPE_OFFSET:
            raise LayoutError(f"Token-2022 account of {len(data)} bytes is not a mint")
        if data[ACCOUNT_TYPE_OFFSET] != ACCOUNT_TYPE_MINT:
            raise LayoutError(
                f"Token-2022 account type is {data[ACCOUNT_TYPE_OFFSET]}, not 1 (mint): "
                "is this a token account rather than a mint?"
            )
        if any(data[MINT_LEN:ACCOUNT_TYPE_OFFSET]):
            raise LayoutError("Token-2022 mint padding is not zero")
        extensions = parse_tlv(data, ACCOUNT_TYPE_OFFSET + 1)
    (supply,) = struct.unpack_from("<Q", data, 36)
    return Mint(
        program=program,
        supply=supply,
        decimals=data[44],
        is_initialized=data[45] == 1,
        extensions=extensions,
    )


def parse_token_account(owner_program: str, data: bytes) -> TokenAccount:
    if owner_program not in TOKEN_PROGRAMS:
        raise LayoutError(f"account is owned by {owner_program}, not a token program")
    if len(data) < ACCOUNT_LEN:
        raise LayoutError(f"account is {len(data)} bytes, a token account has {ACCOUNT_LEN}")
    if len(data) > ACCOUNT_LEN and data[ACCOUNT_TYPE_OFFSET] != ACCOUNT_TYPE_ACCOUNT:
        raise LayoutError("Token-2022 account type is not 2 (token account)")
    if owner_program == SPL_TOKEN and len(data) != ACCOUNT_LEN:
        raise LayoutError(f"SPL Token account of {len(data)} bytes is not a token account")
    state = data[108]
    if state == 0:
        raise LayoutError("token account is not initialized")
    (amount,) = struct.unpack_from("<Q", data, 64)
    return TokenAccount(mint=data[0:32], owner=data[32:64], amount=amount)


def parse_clock(data: bytes) -> Clock:
    if len(data) < 40:
        raise LayoutError(f"Clock sysvar is {len(data)} bytes, expected 40")
    slot, start, epoch, leader, ts = struct.unpack_from("<QqQQq", data, 0)
    return Clock(slot, start, epoch, leader, ts)
