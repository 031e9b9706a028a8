"""The sandbox node's transaction history, kept and served the way Agave keeps and serves it.

`SolanaNode.send_transaction` records every transaction it processes, failed ones included
(`Ledger.record`): signature, slot, block time (the Clock's unix_timestamp), error, the
message (account keys, header, instructions), lamport balances, inner instructions (from
LiteSVM's `TransactionMetadata`), logs, and `preTokenBalances` / `postTokenBalances`:
every token account among the transaction's keys, read before and after it with the node's own
parser (`token_state.py`), as Agave's `collect_token_balances` does.

The JSON-RPC side (`getSignaturesForAddress`, `getTransaction`, `getFirstAvailableBlock`,
`minimumLedgerSlot`) is in `handlers.py`. `first_available_slot` cuts the history short, as a
node whose ledger was pruned: older transactions are no longer listed nor served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from solders.account import Account
from solders.pubkey import Pubkey

from .ids import NATIVE_MINT, TOKEN_PROGRAMS
from .token_state import MintState, token_amount_to_ui, unpack_mint, unpack_token_account
from .wire import b58encode

if TYPE_CHECKING:
    from solders.transaction import Transaction
    from solders.transaction_metadata import InnerInstruction

    from .token_state import UiAmountMode


@dataclass
class Recorded:
    """One processed transaction: what `getTransaction` returns, and its index keys."""

    signature: str
    slot: int
    block_time: int
    err: object
    keys: tuple[str, ...]
    #: the `getTransaction` result (json encoding) without `version`
    result: dict[str, Any]


@dataclass
class Ledger:
    """The node's processed transactions, oldest first, indexed by signature and address."""

    entries: list[Recorded] = field(default_factory=list)
    by_signature: dict[str, int] = field(default_factory=dict)
    by_address: dict[str, list[int]] = field(default_factory=dict)

    def add(self, entry: Recorded) -> None:
        index = len(self.entries)
        self.entries.append(entry)
        self.by_signature[entry.signature] = index
        for key in dict.fromkeys(entry.keys):
            self.by_address.setdefault(key, []).append(index)


def token_balances(
    keys: Sequence[Pubkey],
    get_account: Callable[[Pubkey], Account | None],
    unix_timestamp: int,
    mode: UiAmountMode,
) -> list[dict[str, object]]:
    """Agave's `collect_token_balances`: each key that is a token account of a token program,
    with its mint, owner, program and `uiTokenAmount` (the mint read at the same moment)."""
    out: list[dict[str, object]] = []
    mints: dict[Pubkey, MintState | None] = {}
    for index, key in enumerate(keys):
        account = get_account(key)
        if account is None or account.owner not in TOKEN_PROGRAMS:
            continue
        state = unpack_token_account(bytes(account.data))
        if state is None:
            continue
        if state.mint == NATIVE_MINT:
            mint_state: MintState | None = None
            decimals = 9
        else:
            if state.mint not in mints:
                mint_account = get_account(state.mint)
                mints[state.mint] = (
                    unpack_mint(bytes(mint_account.data)) if mint_account is not None else None
                )
            mint_state = mints[state.mint]
            if mint_state is None:
                continue
            decimals = mint_state.decimals
        out.append(
            {
                "accountIndex": index,
                "mint": str(state.mint),
                "owner": str(state.owner),
                "programId": str(account.owner),
                "uiTokenAmount": token_amount_to_ui(
                    state.amount, mint_state, unix_timestamp, decimals=decimals, mode=mode
                ),
            }
        )
    return out


def error_json(err: object) -> object:
    """A `TransactionError` as Agave writes it in JSON (`{"InstructionError": [0, {"Custom":
    1}]}`, `"AccountNotFound"`, ...); None for success."""
    from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

    if err is None:
        return None
    if isinstance(err, TransactionErrorInstructionError):
        inner = err.err
        detail: object
        if isinstance(inner, InstructionErrorCustom):
            detail = {"Custom": inner.code}
        else:
            detail = _variant(inner)
        return {"InstructionError": [err.index, detail]}
    return _variant(err)


def _variant(value: object) -> str:
    """A field-less Rust enum variant's name (`InstructionErrorFieldless.InvalidArgument`)."""
    return str(value).rsplit(".", 1)[-1]


def compiled(program_id_index: int, accounts: bytes, data: bytes) -> dict[str, object]:
    return {
        "accounts": list(accounts),
        "data": b58encode(data),
        "programIdIndex": program_id_index,
        "stackHeight": None,
    }


def inner_json(inner: Sequence[Sequence[InnerInstruction]]) -> list[dict[str, object]]:
    """LiteSVM's inner instructions, grouped by top-level instruction as Agave groups them
    (only the instructions that made CPIs are listed)."""
    out: list[dict[str, object]] = []
    for index, group in enumerate(inner):
        if not group:
            continue
        items = []
        for item in group:
            ix = item.instruction()
            entry = compiled(ix.program_id_index, bytes(ix.accounts), bytes(ix.data))
            entry["stackHeight"] = item.stack_height()
            items.append(entry)
        out.append({"index": index, "instructions": items})
    return out


def transaction_result(
    tx: Transaction,
    *,
    slot: int,
    block_time: int,
    err: object,
    fee: int,
    pre_balances: list[int],
    post_balances: list[int],
    pre_token: list[dict[str, object]],
    post_token: list[dict[str, object]],
    inner: list[dict[str, object]],
    logs: list[str],
    compute_units: int,
) -> dict[str, Any]:
    """`getTransaction`'s result, `json` encoding, for a legacy transaction."""
    message = tx.message
    header = message.header
    return {
        "blockTime": block_time,
        "meta": {
            "computeUnitsConsumed": compute_units,
            "err": err,
            "fee": fee,
            "innerInstructions": inner,
            "loadedAddresses": {"readonly": [], "writable": []},
            "logMessages": logs,
            "postBalances": post_balances,
            "postTokenBalances": post_token,
            "preBalances": pre_balances,
            "preTokenBalances": pre_token,
            "rewards": [],
            "status": {"Ok": None} if err is None else {"Err": err},
        },
        "slot": slot,
        "transaction": {
            "message": {
                "accountKeys": [str(k) for k in message.account_keys],
                "header": {
                    "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                    "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
                    "numRequiredSignatures": header.num_required_signatures,
                },
                "instructions": [
                    compiled(ix.program_id_index, bytes(ix.accounts), bytes(ix.data))
                    for ix in message.instructions
                ],
                "recentBlockhash": str(message.recent_blockhash),
            },
            "signatures": [str(s) for s in tx.signatures],
        },
    }
