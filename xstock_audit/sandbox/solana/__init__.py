"""The sandbox's local Solana node: LiteSVM behind JSON-RPC over HTTP, and SPL builders.

- `node.py`: `SolanaNode`, the served LiteSVM with its clock, keyring and transactions;
- `wire.py`: wire format: base58, params checked as Agave checks them, account encodings;
- `handlers.py`: the JSON-RPC methods served;
- `token_state.py`: the node's own reading of SPL Token / Token-2022 accounts and UI amounts
  (independent of the auditor's `chains/spl_layout.py`, see there why);
- `ids.py`: program and sysvar addresses;
- `spl.py` (with `extensions.py`): mints, token accounts and supply changes built with real
  transactions; imported on its own (`from xstock_audit.sandbox.solana import spl`).
"""

from ..rpc_http import RpcError
from .ids import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    CLOCK_SYSVAR_ID,
    NATIVE_MINT,
    SYSTEM_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
)
from .node import (
    DEFAULT_SLOT,
    DEFAULT_UNIX_TIMESTAMP,
    SANDBOX_GENESIS_HASH,
    SandboxTransactionError,
    SolanaNode,
)
from .token_state import (
    MintState,
    TokenAccountState,
    UiAmountMode,
    token_amount_to_ui,
    unpack_mint,
    unpack_token_account,
)
from .wire import b58decode, b58encode

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
