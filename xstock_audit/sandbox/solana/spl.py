"""Build SPL Token and Token-2022 state inside a `SolanaNode` with real transactions.

Every mint, token account and supply change here is a transaction processed by the SPL Token
(`Tokenkeg…`), Token-2022 (`TokenzQd…`) and Associated Token Account programs bundled in
LiteSVM, so the bytes the RPC serves are laid out by the real programs, not by this module.

The instructions of the base token program and of the Associated Token Account program
(InitializeMint2, InitializeAccount3, GetAccountDataSize, AmountToUiAmount, MintToChecked,
BurnChecked, TransferChecked, CreateIdempotent) come from solana-py's `spl.token.instructions`
(the `sandbox` extra), each given the mint's program id, SPL Token or Token-2022. Token-2022
mint extensions and their updates, which solana-py does not build, are in `extensions.py`
(re-exported here).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Literal

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

try:  # solana-py; its import name is `spl`, which is another project's name on PyPI
    from spl.token import instructions as token_ix
    from spl.token.models import (
        AmountToUiAmountParams,
        BurnCheckedParams,
        GetAccountDataSizeParams,
        InitializeAccount3Params,
        InitializeMint2Params,
        MintToCheckedParams,
        TransferCheckedParams,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("solana-py is not installed (the `sandbox` extra)", name="solana") from exc

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
    mint_account_len,
    pause,
    pubkey_of,
    resume,
    update_scaled_ui_multiplier,
    xstock_like_extensions,
)
from .ids import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, TOKEN_PROGRAMS
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
    instruction in the given order → InitializeMint2 → TokenMetadata initialise, if any.
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
        token_ix.initialize_mint2(
            InitializeMint2Params(
                program_id=token_program,
                mint=mint_key,
                decimals=decimals,
                mint_authority=authority,
                freeze_authority=(
                    None if freeze_authority is None else pubkey_of(node, freeze_authority)
                ),
            )
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
    """The token program's own UI string for `amount` now: AmountToUiAmount, simulated.

    Token-2022 applies InterestBearing / ScaledUiAmount with the Clock exactly as the RPC
    node's `uiAmountString` does, so this is an oracle for the node's (f64) formatting.
    """
    params = AmountToUiAmountParams(
        program_id=_token_program_of(node, mint), mint=mint, amount=amount
    )
    meta = node.simulate_transaction([token_ix.amount_to_ui_amount(params)])
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

    `ata=True`: the associated token account via the ATA program's CreateIdempotent, which
    sizes it (Token-2022 adds ImmutableOwner). Otherwise a fresh keypair account sized by the
    token program's own GetAccountDataSize (simulated) + InitializeAccount3.
    `program` defaults to the mint's owner program.
    """
    token_program = _token_program_of(node, mint)
    if program is not None and program_id(program) != token_program:
        raise ValueError(f"mint {mint} belongs to {token_program}, not {program_id(program)}")
    owner_key = pubkey_of(node, owner)
    if ata:
        node.send_transaction(
            [
                token_ix.create_idempotent_associated_token_account(
                    node.payer.pubkey(), owner_key, mint, token_program
                )
            ]
        )
        return token_ix.get_associated_token_address(owner_key, mint, token_program)
    space = BASE_ACCOUNT_LEN
    if token_program == TOKEN_2022_PROGRAM_ID:
        size = GetAccountDataSizeParams(program_id=token_program, mint=mint)
        meta = node.simulate_transaction([token_ix.get_account_data_size(size)])
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
            token_ix.initialize_account3(
                InitializeAccount3Params(
                    program_id=token_program, account=account.pubkey(), mint=mint, owner=owner_key
                )
            ),
        ]
    )
    return account.pubkey()


def mint_to(
    node: SolanaNode,
    mint: Pubkey,
    account: Pubkey,
    amount: int,
    *,
    authority: KeyLike | None = None,
) -> None:
    """MintToChecked: raw `amount` (never scaled) signed by the mint authority."""
    state = get_mint(node, mint)
    signer = pubkey_of(node, authority) if authority is not None else state.mint_authority
    if signer is None:
        raise ValueError(f"mint {mint} has no mint authority")
    params = MintToCheckedParams(
        program_id=_token_program_of(node, mint),
        mint=mint,
        dest=account,
        mint_authority=signer,
        amount=amount,
        decimals=state.decimals,
    )
    node.send_transaction([token_ix.mint_to_checked(params)])


def _owner_or(node: SolanaNode, account: Pubkey, authority: KeyLike | None) -> Pubkey:
    """Who signs for a token account: `authority` when given, else the account's owner."""
    if authority is not None:
        return pubkey_of(node, authority)
    return get_token_account(node, account).owner


def burn(
    node: SolanaNode,
    mint: Pubkey,
    account: Pubkey,
    amount: int,
    *,
    authority: KeyLike | None = None,
) -> None:
    """BurnChecked from `account`, signed by its owner unless `authority` is given (e.g. a
    permanent delegate)."""
    signer = _owner_or(node, account, authority)
    params = BurnCheckedParams(
        program_id=_token_program_of(node, mint),
        mint=mint,
        account=account,
        owner=signer,
        amount=amount,
        decimals=get_mint(node, mint).decimals,
    )
    node.send_transaction([token_ix.burn_checked(params)])


def transfer_checked(
    node: SolanaNode,
    mint: Pubkey,
    source: Pubkey,
    destination: Pubkey,
    amount: int,
    *,
    authority: KeyLike | None = None,
) -> None:
    """TransferChecked, signed by the source's owner unless `authority` is given."""
    signer = _owner_or(node, source, authority)
    params = TransferCheckedParams(
        program_id=_token_program_of(node, mint),
        source=source,
        mint=mint,
        dest=destination,
        owner=signer,
        amount=amount,
        decimals=get_mint(node, mint).decimals,
    )
    node.send_transaction([token_ix.transfer_checked(params)])
