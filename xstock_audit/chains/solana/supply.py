"""Solana values: a mint and the excluded accounts, as read at one slot, made a supply.

`supply` parses the mint (SPL Token or Token-2022, extensions in any order), checks its
decimals, refuses mints whose plaintext supply is not the whole story, applies the
ScaledUiAmount multiplier in force at the slot's clock, and subtracts the excluded accounts
(listed ones and every account of an excluded owner for that mint and program).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

from ... import amounts
from ...timefmt import from_unix
from ..interface import DeploymentSupply, MultiplierSchedule
from ..spl_layout import (
    EXT_CONFIDENTIAL_MINT_BURN,
    EXT_INTEREST_BEARING,
    SPL_TOKEN,
    TOKEN_2022,
    LayoutError,
    Mint,
    parse_mint,
    parse_token_account,
)
from .models import SolanaDeployment, pubkey_bytes

#: (owner, mint bytes) -> {token account: (token program, raw amount)}
Owned = dict[tuple[str, bytes], dict[str, tuple[str, int]]]


def b58(raw: bytes) -> str:
    from solders.pubkey import Pubkey

    return str(Pubkey.from_bytes(raw))


class Account(NamedTuple):
    """An account as read: its owner program and its data (a tuple: 20,000 are made for a
    10,000-token read)."""

    owner: str
    data: bytes


def pubkey_raw(key: str) -> bytes:
    """The 32 bytes of a base58 key the registry validated (cached since)."""
    return pubkey_bytes(key, "public key")


def supply(
    chain: str,
    d: SolanaDeployment,
    accounts: dict[str, Account | None],
    owned: Owned,
    now: int,
    mints: Mapping[str, Mint] | None = None,
) -> DeploymentSupply:
    """`mints`: accounts of `accounts` parsed as mints already (the reader parses each
    reply part's as it arrives)."""

    def err(message: str) -> DeploymentSupply:
        return DeploymentSupply(chain, d.mint, error=message)

    acc = accounts.get(d.mint)
    if acc is None:
        return err(f"mint {d.mint} not found on {chain}")
    mint = mints.get(d.mint) if mints else None
    if mint is None:
        try:
            mint = parse_mint(acc.owner, acc.data)
        except LayoutError as exc:
            return err(f"{d.mint} is not a token mint: {exc}")
    if not mint.is_initialized:
        return err(f"mint {d.mint} is not initialized")
    if d.decimals is not None and d.decimals != mint.decimals:
        return err(f"decimals mismatch: the registry says {d.decimals}, the chain {mint.decimals}")
    if mint.extension(EXT_CONFIDENTIAL_MINT_BURN) is not None:
        return err(
            "mint has ConfidentialMintBurn: part of its supply is encrypted, so the "
            "plaintext supply is not the whole supply"
        )
    if mint.extension(EXT_INTEREST_BEARING) is not None:
        return err("interest-bearing mints are not supported (UI amounts accrue over time)")
    program_id = TOKEN_2022 if mint.program == "token-2022" else SPL_TOKEN
    messages: list[str] = []
    multiplier = Decimal(1)
    schedule: MultiplierSchedule | None = None
    details: dict[str, str] = {"program": mint.program}
    if mint.extensions:
        details["extensions"] = ",".join(mint.extension_names)
    try:
        scaled = mint.scaled_ui_amount
    except LayoutError as exc:
        return err(str(exc))
    if scaled is not None:
        multiplier = scaled.effective(now)
        if multiplier <= 0:
            return err(f"ScaledUiAmount multiplier {multiplier} is not positive")
        pending = scaled.new_multiplier_effective_timestamp
        if pending > now and scaled.new_multiplier != scaled.multiplier:
            schedule = MultiplierSchedule(
                current=scaled.multiplier, new=scaled.new_multiplier, at=from_unix(pending)
            )

    excluded_raw = 0
    mint_bytes = None
    explicit = set(d.exclude_accounts)
    for key in d.exclude_accounts:
        a = accounts.get(key)
        if a is None:
            messages.append(f"{chain}: excluded account {key} does not exist (counted as 0)")
            continue
        try:
            ta = parse_token_account(a.owner, a.data)
        except LayoutError as exc:
            return err(f"excluded account {key}: {exc}")
        if a.owner != program_id:
            return err(f"excluded account {key} belongs to another token program")
        mint_bytes = mint_bytes or pubkey_raw(d.mint)
        if ta.mint != mint_bytes:
            return err(f"excluded account {key} holds mint {b58(ta.mint)}, not {d.mint}")
        excluded_raw += ta.amount
    mint_bytes = mint_bytes or pubkey_raw(d.mint)
    for owner in d.exclude_owners:
        for key, (program, amount) in owned.get((owner, mint_bytes), {}).items():
            if key not in explicit and program == program_id:
                excluded_raw += amount
    if excluded_raw > mint.supply:
        return err(f"excluded balances ({excluded_raw}) exceed the supply ({mint.supply})")
    total = amounts.scale(mint.supply, mint.decimals)
    excluded = amounts.scale(excluded_raw, mint.decimals)
    return DeploymentSupply(
        chain=chain,
        address=d.mint,
        decimals=mint.decimals,
        total_supply=total,
        excluded=excluded,
        multiplier=multiplier,
        multiplier_applied=scaled is not None,
        has_multiplier=scaled is not None,
        circulating=amounts.mul(amounts.sub(total, excluded), multiplier),
        messages=tuple(messages),
        details=details,
        schedule=schedule,
    )
