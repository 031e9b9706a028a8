"""Token-2022 mint extensions: their initialise instructions and the later updates.

Over 400 lines as one cohesive thing: a small class per extension (its TLV type, size and
`Initialize` encoding), kept side by side so that sizes, order and encodings read together.

Each extension class builds its `Initialize` instruction; `spl.create_mint` puts them in the
mint's creating transaction in the order given (the TLV order). `update_scaled_ui_multiplier`,
`pause` and `resume` change an extension afterwards.

Hand-built, except TransferFeeConfig: solana-py (`spl.token.instructions`) builds the base
token program's instructions (used in `spl.py`) and that one extension's, but none of the
others (ScaledUiAmount initialise and update-multiplier, Pausable, MetadataPointer,
TokenMetadata, PermanentDelegate, ...). Encodings follow the Token-2022 program's interface:
one tag byte (`TokenInstruction`), then one sub-instruction byte, then the data; a
`COption<Pubkey>` is a 1-byte tag + 32 bytes, a Pod `MaybeNull<Address>` 32 bytes where all
zeroes means None.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import initialize_transfer_fee_config
from spl.token.models import InitializeTransferFeeConfigParams

from .ids import TOKEN_2022_PROGRAM_ID
from .node import SolanaNode

KeyLike = Keypair | Pubkey

# TokenInstruction tags of the extension instructions.
_IX_INITIALIZE_MINT_CLOSE_AUTHORITY: Final = 25
_IX_CONFIDENTIAL_TRANSFER_EXTENSION: Final = 27
_IX_DEFAULT_ACCOUNT_STATE_EXTENSION: Final = 28
_IX_INTEREST_BEARING_MINT_EXTENSION: Final = 33
_IX_INITIALIZE_PERMANENT_DELEGATE: Final = 35
_IX_TRANSFER_HOOK_EXTENSION: Final = 36
_IX_METADATA_POINTER_EXTENSION: Final = 39
_IX_SCALED_UI_AMOUNT_EXTENSION: Final = 43
_IX_PAUSABLE_EXTENSION: Final = 44
# spl-token-metadata-interface: sha256("spl_token_metadata_interface:initialize_account")[:8]
_TOKEN_METADATA_INITIALIZE: Final = hashlib.sha256(
    b"spl_token_metadata_interface:initialize_account"
).digest()[:8]

BASE_MINT_LEN: Final = 82
BASE_ACCOUNT_LEN: Final = 165
MULTISIG_LEN: Final = 355
_ZERO_KEY: Final = bytes(32)


def pubkey_of(node: SolanaNode, key: KeyLike) -> Pubkey:
    """A key's address; keypairs are remembered by the node so it can sign with them later."""
    if isinstance(key, Keypair):
        node.remember(key)
        return key.pubkey()
    return key


def _maybe_null(node: SolanaNode, key: KeyLike | None) -> bytes:
    return _ZERO_KEY if key is None else bytes(pubkey_of(node, key))


def coption(node: SolanaNode, key: KeyLike | None) -> bytes:
    return b"\0" if key is None else b"\1" + bytes(pubkey_of(node, key))


def _mint_ix(token_program: Pubkey, mint: Pubkey, data: bytes) -> Instruction:
    return Instruction(token_program, data, [AccountMeta(mint, False, True)])


# ---- initialisers, run in the order given (which is the TLV order) ---------------------------


@dataclass(frozen=True)
class TransferFeeConfig:
    """TLV type 1, 108 bytes; `TransferFeeInstruction::InitializeTransferFeeConfig` (26/0),
    built by solana-py."""

    transfer_fee_config_authority: KeyLike | None
    withdraw_withheld_authority: KeyLike | None
    basis_points: int
    maximum_fee: int
    EXTENSION_TYPE: ClassVar[int] = 1
    LENGTH: ClassVar[int] = 108

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        fee_authority, withdraw_authority = (
            None if key is None else pubkey_of(node, key)
            for key in (self.transfer_fee_config_authority, self.withdraw_withheld_authority)
        )
        params = InitializeTransferFeeConfigParams(
            program_id=TOKEN_2022_PROGRAM_ID,
            mint=mint,
            transfer_fee_config_authority=fee_authority,
            withdraw_withheld_authority=withdraw_authority,
            transfer_fee_basis_points=self.basis_points,
            maximum_fee=self.maximum_fee,
        )
        return initialize_transfer_fee_config(params)  # solana-py builds this one


@dataclass(frozen=True)
class MintCloseAuthority:
    """TLV type 3, 32 bytes; `InitializeMintCloseAuthority` (25) with a COption<Pubkey>."""

    close_authority: KeyLike | None
    EXTENSION_TYPE: ClassVar[int] = 3
    LENGTH: ClassVar[int] = 32

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = bytes([_IX_INITIALIZE_MINT_CLOSE_AUTHORITY]) + coption(node, self.close_authority)
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class ConfidentialTransferMint:
    """TLV type 4, 65 bytes; `ConfidentialTransferInstruction::InitializeMint` (27/0)."""

    authority: KeyLike | None
    auto_approve_new_accounts: bool = True
    auditor_elgamal_pubkey: bytes | None = None
    EXTENSION_TYPE: ClassVar[int] = 4
    LENGTH: ClassVar[int] = 65

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        auditor = self.auditor_elgamal_pubkey or _ZERO_KEY
        if len(auditor) != 32:
            raise ValueError("auditor_elgamal_pubkey must be 32 bytes")
        data = (
            bytes([_IX_CONFIDENTIAL_TRANSFER_EXTENSION, 0])
            + _maybe_null(node, self.authority)
            + bytes([1 if self.auto_approve_new_accounts else 0])
            + auditor
        )
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class DefaultAccountState:
    """TLV type 6, 1 byte; `DefaultAccountStateInstruction::Initialize` (28/0) + AccountState."""

    state: Literal["initialized", "frozen"] = "initialized"
    EXTENSION_TYPE: ClassVar[int] = 6
    LENGTH: ClassVar[int] = 1

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        state = {"initialized": 1, "frozen": 2}[self.state]
        data = bytes([_IX_DEFAULT_ACCOUNT_STATE_EXTENSION, 0, state])
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class InterestBearingConfig:
    """TLV type 10, 52 bytes; `InterestBearingMintInstruction::Initialize` (33/0): key + i16.

    Token-2022 refuses it together with ScaledUiAmount (InvalidExtensionCombination).
    """

    rate_authority: KeyLike | None
    rate_bps: int
    EXTENSION_TYPE: ClassVar[int] = 10
    LENGTH: ClassVar[int] = 52

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = (
            bytes([_IX_INTEREST_BEARING_MINT_EXTENSION, 0])
            + _maybe_null(node, self.rate_authority)
            + struct.pack("<h", self.rate_bps)
        )
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class PermanentDelegate:
    """TLV type 12, 32 bytes; `InitializePermanentDelegate` (35) + 32-byte delegate."""

    delegate: KeyLike
    EXTENSION_TYPE: ClassVar[int] = 12
    LENGTH: ClassVar[int] = 32

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = bytes([_IX_INITIALIZE_PERMANENT_DELEGATE]) + bytes(pubkey_of(node, self.delegate))
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class TransferHook:
    """TLV type 14, 64 bytes; `TransferHookInstruction::Initialize` (36/0): authority, program.

    Leave `hook_program_id` None unless that program is loaded: transfers would invoke it.
    """

    authority: KeyLike | None
    hook_program_id: Pubkey | None = None
    EXTENSION_TYPE: ClassVar[int] = 14
    LENGTH: ClassVar[int] = 64

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = (
            bytes([_IX_TRANSFER_HOOK_EXTENSION, 0])
            + _maybe_null(node, self.authority)
            + _maybe_null(node, self.hook_program_id)
        )
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class MetadataPointer:
    """TLV type 18, 64 bytes; `MetadataPointerInstruction::Initialize` (39/0).

    `metadata_address="self"` points at the mint itself (needed for `TokenMetadata`).
    """

    authority: KeyLike | None
    metadata_address: Pubkey | Literal["self"] | None = "self"
    EXTENSION_TYPE: ClassVar[int] = 18
    LENGTH: ClassVar[int] = 64

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        target = mint if self.metadata_address == "self" else self.metadata_address
        data = (
            bytes([_IX_METADATA_POINTER_EXTENSION, 0])
            + _maybe_null(node, self.authority)
            + _maybe_null(node, target)
        )
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class ScaledUiAmount:
    """TLV type 25, 56 bytes; `ScaledUiAmountMintInstruction::Initialize` (43/0): key + f64.

    The program stores authority | multiplier f64 | new_multiplier_effective_timestamp i64 (0)
    | new_multiplier f64 (= multiplier).
    """

    authority: KeyLike | None
    multiplier: float
    EXTENSION_TYPE: ClassVar[int] = 25
    LENGTH: ClassVar[int] = 56

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = (
            bytes([_IX_SCALED_UI_AMOUNT_EXTENSION, 0])
            + _maybe_null(node, self.authority)
            + struct.pack("<d", self.multiplier)
        )
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class Pausable:
    """TLV type 26, 33 bytes (authority + paused flag); `PausableInstruction::Initialize` (44/0).

    Token accounts of a pausable mint carry PausableAccount (type 27, empty).
    """

    authority: KeyLike
    EXTENSION_TYPE: ClassVar[int] = 26
    LENGTH: ClassVar[int] = 33

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = bytes([_IX_PAUSABLE_EXTENSION, 0]) + bytes(pubkey_of(node, self.authority))
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class TokenMetadata:
    """TLV type 19, variable length, initialised AFTER InitializeMint2 (so always last).

    Needs a `MetadataPointer` to the mint itself; the program reallocates the mint, which is
    pre-funded for the larger size. Value: update_authority | mint | name | symbol | uri |
    additional_metadata (Borsh strings, u32 length prefixes; empty additional list).
    """

    name: str
    symbol: str
    uri: str
    update_authority: KeyLike | None = None  # None: the mint authority
    EXTENSION_TYPE: ClassVar[int] = 19

    @property
    def length(self) -> int:
        strings = (self.name, self.symbol, self.uri)
        return 64 + sum(4 + len(s.encode()) for s in strings) + 4

    def instruction(self, node: SolanaNode, mint: Pubkey, mint_authority: Pubkey) -> Instruction:
        update_authority = (
            mint_authority
            if self.update_authority is None
            else pubkey_of(node, self.update_authority)
        )
        data = _TOKEN_METADATA_INITIALIZE + b"".join(
            struct.pack("<I", len(raw)) + raw
            for raw in (self.name.encode(), self.symbol.encode(), self.uri.encode())
        )
        return Instruction(
            TOKEN_2022_PROGRAM_ID,
            data,
            [
                AccountMeta(mint, False, True),
                AccountMeta(update_authority, False, False),
                AccountMeta(mint, False, False),
                AccountMeta(mint_authority, True, False),
            ],
        )


FixedMintExtension = (
    TransferFeeConfig
    | MintCloseAuthority
    | ConfidentialTransferMint
    | DefaultAccountState
    | InterestBearingConfig
    | PermanentDelegate
    | TransferHook
    | MetadataPointer
    | ScaledUiAmount
    | Pausable
)
MintExtension = FixedMintExtension | TokenMetadata


def xstock_like_extensions(
    authority: KeyLike,
    *,
    multiplier: float = 1.0,
    name: str = "Example xStock",
    symbol: str = "EXAMPLEx",
    uri: str = "https://example.invalid/xstock.json",
) -> list[MintExtension]:
    """The extension set of a real xStocks mint (NVDAx), in that TLV order.

    metadataPointer, permanentDelegate, defaultAccountState, scaledUiAmountConfig,
    pausableConfig, confidentialTransferMint, transferHook (no hook program), tokenMetadata.
    """
    return [
        MetadataPointer(authority, "self"),
        PermanentDelegate(authority),
        DefaultAccountState("initialized"),
        ScaledUiAmount(authority, multiplier),
        Pausable(authority),
        ConfidentialTransferMint(authority, auto_approve_new_accounts=False),
        TransferHook(authority, None),
        TokenMetadata(name, symbol, uri),
    ]


def mint_account_len(extension_types: Sequence[int], lengths: Sequence[int]) -> int:
    """`ExtensionType::try_calculate_account_len::<Mint>` for fixed-size extensions.

    82 with no extension; otherwise 165 (Account::LEN) + 1 (AccountType) + Σ(2 + 2 + length)
    over distinct types, plus 2 if that total equals Multisig::LEN (355).
    """
    seen: dict[int, int] = {}
    for ext_type, length in zip(extension_types, lengths, strict=True):
        seen.setdefault(ext_type, length)
    if not seen:
        return BASE_MINT_LEN
    total = BASE_ACCOUNT_LEN + 1 + sum(4 + length for length in seen.values())
    return total + 2 if total == MULTISIG_LEN else total


# ---- updates --------------------------------------------------------------------------------


def update_scaled_ui_multiplier(
    node: SolanaNode,
    mint: Pubkey,
    authority: KeyLike,
    multiplier: float,
    effective_timestamp: int,
) -> None:
    """`ScaledUiAmountMintInstruction::UpdateMultiplier` (43/1): f64 multiplier, i64 timestamp.

    The program first promotes a new_multiplier whose time has come, then stores the new one
    with its timestamp (negative floors to 0); if that timestamp is already due, it also
    becomes the current multiplier.
    """
    data = bytes([_IX_SCALED_UI_AMOUNT_EXTENSION, 1]) + struct.pack(
        "<dq", multiplier, effective_timestamp
    )
    node.send_transaction(
        [
            Instruction(
                TOKEN_2022_PROGRAM_ID,
                data,
                [
                    AccountMeta(mint, False, True),
                    AccountMeta(pubkey_of(node, authority), True, False),
                ],
            )
        ]
    )


def _pausable(node: SolanaNode, mint: Pubkey, authority: KeyLike, sub: int) -> None:
    node.send_transaction(
        [
            Instruction(
                TOKEN_2022_PROGRAM_ID,
                bytes([_IX_PAUSABLE_EXTENSION, sub]),
                [
                    AccountMeta(mint, False, True),
                    AccountMeta(pubkey_of(node, authority), True, False),
                ],
            )
        ]
    )


def pause(node: SolanaNode, mint: Pubkey, authority: KeyLike) -> None:
    """`PausableInstruction::Pause` (44/1)."""
    _pausable(node, mint, authority, 1)


def resume(node: SolanaNode, mint: Pubkey, authority: KeyLike) -> None:
    """`PausableInstruction::Resume` (44/2)."""
    _pausable(node, mint, authority, 2)
