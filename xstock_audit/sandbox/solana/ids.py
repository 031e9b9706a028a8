"""Well-known Solana addresses the sandbox node and its builders use."""

from __future__ import annotations

from typing import Final

from solders.pubkey import Pubkey

TOKEN_PROGRAM_ID: Final = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID: Final = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS: Final = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
ASSOCIATED_TOKEN_PROGRAM_ID: Final = Pubkey.from_string(
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
)
SYSTEM_PROGRAM_ID: Final = Pubkey.from_string("11111111111111111111111111111111")
CLOCK_SYSVAR_ID: Final = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")
SYSVAR_OWNER_ID: Final = Pubkey.from_string("Sysvar1111111111111111111111111111111111111")
NATIVE_MINT: Final = Pubkey.from_string("So11111111111111111111111111111111111111112")
