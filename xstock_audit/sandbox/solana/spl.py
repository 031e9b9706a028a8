"""Build SPL Token and Token-2022 state inside a `SolanaNode` with real transactions.

Every mint, token account and supply change here is a transaction processed by the SPL Token
(`Tokenkeg…`), Token-2022 (`TokenzQd…`) and Associated Token Account programs bundled in
LiteSVM, so the bytes the RPC serves are laid out by the real programs, not by this module.
Token-2022 mint extensions and their updates are in `extensions.py` (re-exported here).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final, Literal

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.token.associated import get_associated_token_address

from .extensions import (
    BASE_ACCOUNT_LEN,
    ConfidentialTransferMint,
    DefaultAccountState,
    FixedMintExtension,
    InterestBearingConfig,
    KeyLike,
    MetadataPointer,
    MintCloseAuthority,
    MintExtension,
    Pausable,
    PermanentDelegate,
    ScaledUiAmount,
    TokenMetadata,
    TransferFeeConfig,
    TransferHook,
    coption,
    mint_account_len,
    pause,
    pubkey_of,
    resume,
    update_scaled_ui_multiplier,
    xstock_like_extensions,
)
from .ids import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    TOKEN_PROGRAMS,
)
from .node import SolanaNode
from .token_state import MintState, TokenAccountState, unpack_mint, unpack_token_account

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

# TokenInstruction tags (`TokenInstruction::pack`).
_IX_INITIALIZE_MINT2: Final = 20
_IX_MINT_TO_CHECKED: Final = 14
_IX_BURN_CHECKED: Final = 15
_IX_TRANSFER_CHECKED: Final = 12
_IX_INITIALIZE_ACCOUNT3: Final = 18
_IX_GET_ACCOUNT_DATA_SIZE: Final = 21
_IX_AMOUNT_TO_UI_AMOUNT: Final = 23


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
    authority = pubkey_of(node, mint_authority)
    mint_key = pubkey_of(node, address if address is not None else Keypair())
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
            + coption(node, freeze_authority),
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
    if account is None or state is None or account.owner not in TOKEN_PROGRAMS:
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
    owner_key = pubkey_of(node, owner)
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
    space = BASE_ACCOUNT_LEN
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
        pubkey_of(node, authority) if authority is not None else get_mint(node, mint).mint_authority
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
        pubkey_of(node, authority)
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
        pubkey_of(node, authority)
        if authority is not None
        else get_token_account(node, source).owner
    )
    metas = [
        AccountMeta(source, False, True),
        AccountMeta(mint, False, False),
        AccountMeta(destination, False, True),
    ]
    _send_checked(node, mint, _IX_TRANSFER_CHECKED, amount, metas, signer)
