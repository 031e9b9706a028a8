"""Build SPL Token and Token-2022 state inside a `SolanaNode` with real transactions.

Every mint, token account and supply change here is a transaction processed by the SPL Token
(`Tokenkeg…`), Token-2022 (`TokenzQd…`) and Associated Token Account programs bundled in
LiteSVM, so the bytes the RPC serves are laid out by the real programs, not by this module.

Instruction encodings follow `solana-program/token-2022` (`interface/src/instruction.rs` and
`interface/src/extension/*/instruction.rs`): one tag byte (`TokenInstruction`), then for
extension instructions one sub-instruction byte, then the data. `COption<Pubkey>` arguments of
the base instructions are a 1-byte tag + 32 bytes; the Pod `MaybeNull<Address>` of extension
instructions is 32 bytes where all zeroes means None.
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
from solders.system_program import CreateAccountParams, create_account
from solders.token.associated import get_associated_token_address

from xstock_audit.sandbox.solana_node import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    MintState,
    SolanaNode,
    TokenAccountState,
    unpack_mint,
    unpack_token_account,
)

__all__ = [
    "ConfidentialTransferMint",
    "DefaultAccountState",
    "InterestBearingConfig",
    "MetadataPointer",
    "MintCloseAuthority",
    "MintExtension",
    "Pausable",
    "PermanentDelegate",
    "ProgramName",
    "ScaledUiAmount",
    "TokenMetadata",
    "TransferFeeConfig",
    "TransferHook",
    "amount_to_ui_amount",
    "burn",
    "create_mint",
    "create_token_account",
    "get_mint",
    "get_token_account",
    "mint_account_len",
    "mint_to",
    "pause",
    "program_id",
    "resume",
    "transfer_checked",
    "update_scaled_ui_multiplier",
    "xstock_like_extensions",
]

ProgramName = Literal["spl", "token2022"]
KeyLike = Keypair | Pubkey

# TokenInstruction tags (interface/src/instruction.rs, `TokenInstruction::pack`).
_IX_INITIALIZE_MINT2: Final = 20
_IX_MINT_TO_CHECKED: Final = 14
_IX_BURN_CHECKED: Final = 15
_IX_TRANSFER_CHECKED: Final = 12
_IX_INITIALIZE_ACCOUNT3: Final = 18
_IX_GET_ACCOUNT_DATA_SIZE: Final = 21
_IX_AMOUNT_TO_UI_AMOUNT: Final = 23
_IX_INITIALIZE_MINT_CLOSE_AUTHORITY: Final = 25
_IX_TRANSFER_FEE_EXTENSION: Final = 26
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

_BASE_MINT_LEN: Final = 82
_BASE_ACCOUNT_LEN: Final = 165
_MULTISIG_LEN: Final = 355
_ZERO_KEY: Final = bytes(32)
_TOKEN_PROGRAMS: Final = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)


def program_id(program: ProgramName | Pubkey) -> Pubkey:
    """The token program id for "spl" / "token2022" (a Pubkey passes through)."""
    if isinstance(program, Pubkey):
        if program not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            raise ValueError(f"{program} is not a token program")
        return program
    if program == "spl":
        return TOKEN_PROGRAM_ID
    if program == "token2022":
        return TOKEN_2022_PROGRAM_ID
    raise ValueError(f"unknown token program {program!r}")


def _pubkey(node: SolanaNode, key: KeyLike) -> Pubkey:
    """A key's address; keypairs are remembered by the node so it can sign with them later."""
    if isinstance(key, Keypair):
        node.remember(key)
        return key.pubkey()
    return key


def _maybe_null(node: SolanaNode, key: KeyLike | None) -> bytes:
    return _ZERO_KEY if key is None else bytes(_pubkey(node, key))


def _coption(node: SolanaNode, key: KeyLike | None) -> bytes:
    return b"\0" if key is None else b"\1" + bytes(_pubkey(node, key))


def _mint_ix(token_program: Pubkey, mint: Pubkey, data: bytes) -> Instruction:
    return Instruction(token_program, data, [AccountMeta(mint, False, True)])


# --------------------------------------------------------------------------------------------
# Mint extensions, in the order given they are initialised (and laid out in the TLV).


@dataclass(frozen=True)
class TransferFeeConfig:
    """TLV type 1, 108 bytes; `TransferFeeInstruction::InitializeTransferFeeConfig` (26/0)."""

    transfer_fee_config_authority: KeyLike | None
    withdraw_withheld_authority: KeyLike | None
    basis_points: int
    maximum_fee: int
    EXTENSION_TYPE: ClassVar[int] = 1
    LENGTH: ClassVar[int] = 108

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = (
            bytes([_IX_TRANSFER_FEE_EXTENSION, 0])
            + _coption(node, self.transfer_fee_config_authority)
            + _coption(node, self.withdraw_withheld_authority)
            + struct.pack("<HQ", self.basis_points, self.maximum_fee)
        )
        return _mint_ix(TOKEN_2022_PROGRAM_ID, mint, data)


@dataclass(frozen=True)
class MintCloseAuthority:
    """TLV type 3, 32 bytes; `InitializeMintCloseAuthority` (25) with a COption<Pubkey>."""

    close_authority: KeyLike | None
    EXTENSION_TYPE: ClassVar[int] = 3
    LENGTH: ClassVar[int] = 32

    def instruction(self, node: SolanaNode, mint: Pubkey) -> Instruction:
        data = bytes([_IX_INITIALIZE_MINT_CLOSE_AUTHORITY]) + _coption(node, self.close_authority)
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
        data = bytes([_IX_INITIALIZE_PERMANENT_DELEGATE]) + bytes(_pubkey(node, self.delegate))
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
        data = bytes([_IX_PAUSABLE_EXTENSION, 0]) + bytes(_pubkey(node, self.authority))
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
            else _pubkey(node, self.update_authority)
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
        return _BASE_MINT_LEN
    total = _BASE_ACCOUNT_LEN + 1 + sum(4 + length for length in seen.values())
    return total + 2 if total == _MULTISIG_LEN else total


# --------------------------------------------------------------------------------------------
# Builders


def create_mint(
    node: SolanaNode,
    *,
    program: ProgramName = "token2022",
    decimals: int,
    mint_authority: KeyLike | None = None,
    freeze_authority: KeyLike | None = None,
    extensions: Sequence[MintExtension] = (),
    address: KeyLike | None = None,
) -> Pubkey:
    """Create and initialise a mint in ONE transaction; return its address.

    system CreateAccount (space from `mint_account_len`) → each extension's initialise
    instruction in the given order → InitializeMint2 (20) → TokenMetadata initialise, if any.
    `mint_authority` defaults to a fresh keypair the node remembers. `address` may be a
    Keypair, or a bare Pubkey (e.g. a real mainnet mint) when the node has sigverify=False.
    """
    token_program = program_id(program)
    fixed: list[FixedMintExtension] = []
    metadata: TokenMetadata | None = None
    for extension in extensions:
        if metadata is not None:
            raise ValueError("TokenMetadata must be the last extension")
        if isinstance(extension, TokenMetadata):
            metadata = extension
        else:
            fixed.append(extension)
    if token_program == TOKEN_PROGRAM_ID and extensions:
        raise ValueError("the SPL Token program has no extensions; use program='token2022'")
    if mint_authority is None:
        mint_authority = Keypair()
    authority = _pubkey(node, mint_authority)
    mint_key = _pubkey(node, address if address is not None else Keypair())
    space = mint_account_len([ext.EXTENSION_TYPE for ext in fixed], [ext.LENGTH for ext in fixed])
    funded_space = space + (4 + metadata.length if metadata is not None else 0)
    instructions = [
        create_account(
            CreateAccountParams(
                from_pubkey=node.payer.pubkey(),
                to_pubkey=mint_key,
                lamports=node.minimum_balance_for_rent_exemption(funded_space),
                space=space,
                owner=token_program,
            )
        ),
        *(ext.instruction(node, mint_key) for ext in fixed),
        Instruction(
            token_program,
            bytes([_IX_INITIALIZE_MINT2, decimals])
            + bytes(authority)
            + _coption(node, freeze_authority),
            [AccountMeta(mint_key, False, True)],
        ),
    ]
    if metadata is not None:
        instructions.append(metadata.instruction(node, mint_key, authority))
    node.send_transaction(instructions)
    return mint_key


def get_mint(node: SolanaNode, mint: Pubkey) -> MintState:
    """Unpack a mint as the RPC node would (raises if it is not a mint)."""
    account = node.get_account(mint)
    state = unpack_mint(bytes(account.data)) if account is not None else None
    if account is None or state is None or account.owner not in _TOKEN_PROGRAMS:
        raise ValueError(f"{mint} is not a token mint")
    return state


def get_token_account(node: SolanaNode, account: Pubkey) -> TokenAccountState:
    """Unpack a token account (raises if it is not an initialised token account)."""
    raw = node.get_account(account)
    state = unpack_token_account(bytes(raw.data)) if raw is not None else None
    if raw is None or state is None:
        raise ValueError(f"{account} is not a token account")
    return state


def amount_to_ui_amount(node: SolanaNode, mint: Pubkey, amount: int) -> str:
    """The token program's own UI string for `amount` now: AmountToUiAmount (23), simulated.

    Token-2022 applies InterestBearing / ScaledUiAmount with the Clock exactly as the RPC
    node's `uiAmountString` does, so this is an oracle for the node's (f64) formatting.
    """
    meta = node.simulate_transaction(
        [
            Instruction(
                _token_program_of(node, mint),
                bytes([_IX_AMOUNT_TO_UI_AMOUNT]) + struct.pack("<Q", amount),
                [AccountMeta(mint, False, False)],
            )
        ]
    )
    return bytes(meta.return_data().data).decode()


def _token_program_of(node: SolanaNode, key: Pubkey) -> Pubkey:
    account = node.get_account(key)
    if account is None:
        raise ValueError(f"account {key} does not exist")
    return program_id(account.owner)


def create_token_account(
    node: SolanaNode,
    mint: Pubkey,
    owner: KeyLike,
    program: ProgramName | Pubkey | None = None,
    *,
    ata: bool = False,
) -> Pubkey:
    """Create a token account for `owner`; return its address.

    `ata=True`: the associated token account via the ATA program's CreateIdempotent (1),
    which sizes it (Token-2022 adds ImmutableOwner). Otherwise a fresh keypair account sized
    by the token program's own GetAccountDataSize (21, simulated) + InitializeAccount3 (18).
    `program` defaults to the mint's owner program.
    """
    token_program = _token_program_of(node, mint)
    if program is not None and program_id(program) != token_program:
        raise ValueError(f"mint {mint} belongs to {token_program}, not {program_id(program)}")
    owner_key = _pubkey(node, owner)
    if ata:
        address = get_associated_token_address(owner_key, mint, token_program)
        node.send_transaction(
            [
                Instruction(
                    ASSOCIATED_TOKEN_PROGRAM_ID,
                    bytes([1]),
                    [
                        AccountMeta(node.payer.pubkey(), True, True),
                        AccountMeta(address, False, True),
                        AccountMeta(owner_key, False, False),
                        AccountMeta(mint, False, False),
                        AccountMeta(SYSTEM_PROGRAM_ID, False, False),
                        AccountMeta(token_program, False, False),
                    ],
                )
            ]
        )
        return address
    space = _BASE_ACCOUNT_LEN
    if token_program == TOKEN_2022_PROGRAM_ID:
        meta = node.simulate_transaction(
            [
                Instruction(
                    token_program,
                    bytes([_IX_GET_ACCOUNT_DATA_SIZE]),
                    [AccountMeta(mint, False, False)],
                )
            ]
        )
        (space,) = struct.unpack("<Q", bytes(meta.return_data().data))
    account = Keypair()
    node.remember(account)
    node.send_transaction(
        [
            create_account(
                CreateAccountParams(
                    from_pubkey=node.payer.pubkey(),
                    to_pubkey=account.pubkey(),
                    lamports=node.minimum_balance_for_rent_exemption(space),
                    space=space,
                    owner=token_program,
                )
            ),
            Instruction(
                token_program,
                bytes([_IX_INITIALIZE_ACCOUNT3]) + bytes(owner_key),
                [AccountMeta(account.pubkey(), False, True), AccountMeta(mint, False, False)],
            ),
        ]
    )
    return account.pubkey()


def _send_checked(
    node: SolanaNode,
    mint: Pubkey,
    opcode: int,
    amount: int,
    accounts: list[AccountMeta],
    signer: Pubkey,
) -> None:
    """A "checked" token instruction: opcode, u64 raw amount, the mint's decimals; the
    given accounts then the signer."""
    node.send_transaction(
        [
            Instruction(
                _token_program_of(node, mint),
                bytes([opcode]) + struct.pack("<QB", amount, get_mint(node, mint).decimals),
                [*accounts, AccountMeta(signer, True, False)],
            )
        ]
    )


def mint_to(
    node: SolanaNode,
    mint: Pubkey,
    account: Pubkey,
    amount: int,
    *,
    authority: KeyLike | None = None,
) -> None:
    """MintToChecked (14): raw `amount` (never scaled) signed by the mint authority."""
    signer = (
        _pubkey(node, authority) if authority is not None else get_mint(node, mint).mint_authority
    )
    if signer is None:
        raise ValueError(f"mint {mint} has no mint authority")
    metas = [AccountMeta(mint, False, True), AccountMeta(account, False, True)]
    _send_checked(node, mint, _IX_MINT_TO_CHECKED, amount, metas, signer)


def burn(
    node: SolanaNode,
    mint: Pubkey,
    account: Pubkey,
    amount: int,
    *,
    authority: KeyLike | None = None,
) -> None:
    """BurnChecked (15) from `account`, signed by its owner unless `authority` is given
    (e.g. a permanent delegate)."""
    signer = (
        _pubkey(node, authority)
        if authority is not None
        else get_token_account(node, account).owner
    )
    metas = [AccountMeta(account, False, True), AccountMeta(mint, False, True)]
    _send_checked(node, mint, _IX_BURN_CHECKED, amount, metas, signer)


def transfer_checked(
    node: SolanaNode,
    mint: Pubkey,
    source: Pubkey,
    destination: Pubkey,
    amount: int,
    *,
    authority: KeyLike | None = None,
) -> None:
    """TransferChecked (12), signed by the source's owner unless `authority` is given."""
    signer = (
        _pubkey(node, authority) if authority is not None else get_token_account(node, source).owner
    )
    metas = [
        AccountMeta(source, False, True),
        AccountMeta(mint, False, False),
        AccountMeta(destination, False, True),
    ]
    _send_checked(node, mint, _IX_TRANSFER_CHECKED, amount, metas, signer)


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
                    AccountMeta(_pubkey(node, authority), True, False),
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
                    AccountMeta(_pubkey(node, authority), True, False),
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
