"""The Solana JSON-RPC methods `SolanaNode` serves, answered the way Agave answers them.

Reads come from the node's LiteSVM; token amounts are decoded with the node's own parser
(`token_state.py`, independent of the auditor's). Handlers run with the node's lock held (the
dispatcher takes it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from solders.account import Account
from solders.pubkey import Pubkey

from ..rpc_http import INVALID_PARAMS, RpcError
from .ids import NATIVE_MINT, TOKEN_PROGRAM_ID, TOKEN_PROGRAMS
from .token_state import MintState, token_amount_to_ui, unpack_mint, unpack_token_account
from .wire import (
    BLOCK_CLEANED_UP,
    BLOCK_NOT_AVAILABLE,
    MIN_CONTEXT_SLOT_NOT_REACHED,
    account_config,
    b58decode,
    config_object,
    encode_account,
    expect_no_params,
    invalid_params,
    json_type,
    params_list,
    parse_pubkey,
    u64_field,
)

if TYPE_CHECKING:
    from .node import SolanaNode

Handler = Callable[[object], object]


def rpc_methods(node: SolanaNode) -> dict[str, Handler]:
    """The method table of `node` (`SolanaNode.register_method` adds to it)."""
    return _Methods(node).table()


class _Methods:
    def __init__(self, node: SolanaNode) -> None:
        self.node = node

    def table(self) -> dict[str, Handler]:
        return {
            "getAccountInfo": self._rpc_get_account_info,
            "getBalance": self._rpc_get_balance,
            "getBlockHeight": self._rpc_get_block_height,
            "getBlockTime": self._rpc_get_block_time,
            "getFirstAvailableBlock": self._rpc_get_first_available_block,
            "getSignaturesForAddress": self._rpc_get_signatures_for_address,
            "getTransaction": self._rpc_get_transaction,
            "minimumLedgerSlot": self._rpc_minimum_ledger_slot,
            "getGenesisHash": self._rpc_get_genesis_hash,
            "getHealth": self._rpc_get_health,
            "getLatestBlockhash": self._rpc_get_latest_blockhash,
            "getMultipleAccounts": self._rpc_get_multiple_accounts,
            "getSlot": self._rpc_get_slot,
            "getTokenAccountBalance": self._rpc_get_token_account_balance,
            "getTokenAccountsByOwner": self._rpc_get_token_accounts_by_owner,
            "getTokenSupply": self._rpc_get_token_supply,
            "getVersion": self._rpc_get_version,
        }

    def _context(self) -> dict[str, object]:
        return {"apiVersion": self.node.solana_core_version, "slot": self.node.svm.get_clock().slot}

    def _check_min_context_slot(self, min_context_slot: int | None) -> None:
        slot = self.node.svm.get_clock().slot
        if min_context_slot is not None and slot < min_context_slot:
            raise RpcError(
                MIN_CONTEXT_SLOT_NOT_REACHED,
                "Minimum context slot has not been reached",
                {"contextSlot": slot},
            )

    def _rpc_get_genesis_hash(self, params: object) -> object:
        expect_no_params(params)
        return self.node.genesis_hash

    def _rpc_get_health(self, params: object) -> object:
        expect_no_params(params)
        return "ok"

    def _rpc_get_version(self, params: object) -> object:
        expect_no_params(params)
        return {"feature-set": self.node.feature_set, "solana-core": self.node.solana_core_version}

    def _rpc_get_slot(self, params: object) -> object:
        config = config_object(params_list(params), 0, 1)
        self._check_min_context_slot(u64_field(config, "minContextSlot"))
        return self.node.svm.get_clock().slot

    def _rpc_get_block_height(self, params: object) -> object:
        config = config_object(params_list(params), 0, 1)
        self._check_min_context_slot(u64_field(config, "minContextSlot"))
        return self.node.svm.get_clock().slot

    def _rpc_get_block_time(self, params: object) -> object:
        args = params_list(params)
        if len(args) != 1:
            raise invalid_params(f"invalid length {len(args)}, expected a tuple of size 1")
        slot = args[0]
        if isinstance(slot, bool) or not isinstance(slot, int) or slot < 0:
            raise invalid_params(f"invalid type: {json_type(slot)}, expected u64")
        first = self.node.history_start()
        if slot < first:
            raise RpcError(
                BLOCK_CLEANED_UP,
                f"Block {slot} cleaned up, does not exist on node. First available block: {first}",
            )
        block_time = self.node.block_time(slot)
        if block_time is not None:
            return block_time
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")

    def _rpc_get_latest_blockhash(self, params: object) -> object:
        config = config_object(params_list(params), 0, 1)
        self._check_min_context_slot(u64_field(config, "minContextSlot"))
        slot = self.node.svm.get_clock().slot
        return {
            "context": self._context(),
            "value": {
                "blockhash": str(self.node.svm.latest_blockhash()),
                "lastValidBlockHeight": slot + 150,
            },
        }

    def _rpc_get_balance(self, params: object) -> object:
        args = params_list(params)
        if not args:
            raise invalid_params("invalid length 0, expected a public key")
        pubkey = parse_pubkey(args[0])
        config = config_object(args, 1, 2)
        self._check_min_context_slot(u64_field(config, "minContextSlot"))
        account = self.node.get_account(pubkey)
        return {"context": self._context(), "value": account.lamports if account else 0}

    def _rpc_get_account_info(self, params: object) -> object:
        args = params_list(params)
        if not args:
            raise invalid_params("invalid length 0, expected a public key")
        pubkey = parse_pubkey(args[0])
        config = account_config(config_object(args, 1, 2), default_encoding="binary")
        self._check_min_context_slot(config.min_context_slot)
        account = self.node.get_account(pubkey)
        value = encode_account(account, config) if account is not None else None
        return {"context": self._context(), "value": value}

    def _rpc_get_multiple_accounts(self, params: object) -> object:
        args = params_list(params)
        if not args or not isinstance(args[0], list):
            found = json_type(args[0]) if args else "nothing"
            raise invalid_params(f"invalid type: {found}, expected a sequence of public keys")
        keys = args[0]
        if len(keys) > self.node.max_multiple_accounts:
            raise RpcError(
                INVALID_PARAMS, f"Too many inputs provided; max {self.node.max_multiple_accounts}"
            )
        pubkeys = [parse_pubkey(key) for key in keys]
        config = account_config(config_object(args, 1, 2), default_encoding="base64")
        self._check_min_context_slot(config.min_context_slot)
        values: list[object] = []
        for pubkey in pubkeys:
            account = self.node.get_account(pubkey)
            values.append(encode_account(account, config) if account is not None else None)
        return {"context": self._context(), "value": values}

    def _rpc_get_token_supply(self, params: object) -> object:
        # Agave takes only a CommitmentConfig here: minContextSlot is ignored, as on mainnet.
        args = params_list(params)
        if not args:
            raise invalid_params("invalid length 0, expected a mint public key")
        pubkey = parse_pubkey(args[0])
        config_object(args, 1, 2)
        account = self.node.get_account(pubkey)
        if account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find account")
        if account.owner not in TOKEN_PROGRAMS:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a Token mint")
        mint = unpack_mint(bytes(account.data))
        if mint is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: mint could not be unpacked")
        value = token_amount_to_ui(
            mint.supply,
            mint,
            self.node.svm.get_clock().unix_timestamp,
            mode=self.node.ui_amount_mode,
        )
        return {"context": self._context(), "value": value}

    def _mint_for_ui(self, mint_key: Pubkey) -> tuple[Pubkey, MintState | None, int]:
        """Agave's `get_mint_owner_and_additional_data`: (owner, mint, decimals)."""
        if mint_key == NATIVE_MINT:
            return TOKEN_PROGRAM_ID, None, 9
        account = self.node.get_account(mint_key)
        if account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find mint")
        mint = unpack_mint(bytes(account.data))
        if mint is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: Token mint could not be unpacked")
        return account.owner, mint, mint.decimals

    def _rpc_get_token_account_balance(self, params: object) -> object:
        args = params_list(params)
        if not args:
            raise invalid_params("invalid length 0, expected a token account public key")
        pubkey = parse_pubkey(args[0])
        config_object(args, 1, 2)
        account = self.node.get_account(pubkey)
        if account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find account")
        token_account = unpack_token_account(bytes(account.data))
        if account.owner not in TOKEN_PROGRAMS or token_account is None:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a Token account")
        _, mint, decimals = self._mint_for_ui(token_account.mint)
        value = token_amount_to_ui(
            token_account.amount,
            mint,
            self.node.svm.get_clock().unix_timestamp,
            decimals=decimals,
            mode=self.node.ui_amount_mode,
        )
        return {"context": self._context(), "value": value}

    def _rpc_get_token_accounts_by_owner(self, params: object) -> object:
        args = params_list(params)
        if len(args) < 2:
            raise invalid_params(f"invalid length {len(args)}, expected an owner and a filter")
        owner = parse_pubkey(args[0])
        raw_filter = args[1]
        if not isinstance(raw_filter, dict) or len(raw_filter) != 1:
            raise invalid_params("expected a filter with exactly one of `mint`, `programId`")
        ((filter_kind, filter_value),) = raw_filter.items()
        if filter_kind not in ("mint", "programId"):
            raise invalid_params(f"unknown variant `{filter_kind}`, expected `mint` or `programId`")
        filter_key = parse_pubkey(filter_value)
        config = account_config(config_object(args, 2, 3), default_encoding="binary")
        self._check_min_context_slot(config.min_context_slot)
        mint_filter: Pubkey | None = None
        if filter_kind == "mint":
            program_id, _, _ = self._mint_for_ui(filter_key)
            if program_id not in TOKEN_PROGRAMS:
                raise RpcError(INVALID_PARAMS, "Invalid param: not a Token mint")
            mint_filter = filter_key
        elif filter_key in TOKEN_PROGRAMS:
            program_id = filter_key
        else:
            raise RpcError(INVALID_PARAMS, "Invalid param: unrecognized Token program id")
        matches: list[tuple[Pubkey, Account]] = []
        for pubkey, account in self.node.token_accounts(program_id, owner):
            state = unpack_token_account(bytes(account.data))
            if state is None or state.owner != owner:
                continue
            if mint_filter is not None and state.mint != mint_filter:
                continue
            matches.append((pubkey, account))
        matches.sort(key=lambda item: bytes(item[0]))
        value = [
            {"account": encode_account(account, config), "pubkey": str(pubkey)}
            for pubkey, account in matches
        ]
        return {"context": self._context(), "value": value}

    # ---- transaction history (Agave's `--enable-rpc-transaction-history`) -------------------

    def _rpc_get_first_available_block(self, params: object) -> object:
        expect_no_params(params)
        return self.node.history_start()

    def _rpc_minimum_ledger_slot(self, params: object) -> object:
        expect_no_params(params)
        return self.node.history_start()

    @staticmethod
    def _history_commitment(config: dict[str, object]) -> None:
        if config.get("commitment") == "processed":
            raise invalid_params_plain("Method does not support commitment below `confirmed`")

    def _rpc_get_signatures_for_address(self, params: object) -> object:
        """Newest first; `before` and `until` exclusive; `limit` 1..1000 (default 1000). An
        unknown `before` gives an empty list and an unknown `until` is ignored, as Agave's
        blockstore does."""
        args = params_list(params)
        if not args:
            raise invalid_params("invalid length 0, expected an address")
        address = str(parse_pubkey(args[0]))
        config = config_object(args, 1, 2)
        self._history_commitment(config)
        self._check_min_context_slot(u64_field(config, "minContextSlot"))
        limit = u64_field(config, "limit")
        if limit is None:
            limit = MAX_SIGNATURES_LIMIT
        if not 1 <= limit <= MAX_SIGNATURES_LIMIT:
            raise invalid_params_plain(f"Invalid limit; max {MAX_SIGNATURES_LIMIT}")
        ledger = self.node.ledger
        first = self.node.history_start()
        indexes = ledger.by_address.get(address, [])
        end = len(indexes)  # exclusive, counting from the oldest
        before = self._signature_field(config, "before")
        if before is not None:
            at = ledger.by_signature.get(before)
            if at is None or ledger.entries[at].slot < first:
                return []
            end = _position(indexes, at)
        start = 0
        until = self._signature_field(config, "until")
        if until is not None and until in ledger.by_signature:
            start = _position(indexes, ledger.by_signature[until]) + 1
            start = min(start, end)
        out: list[object] = []
        for i in reversed(indexes[start:end]):
            entry = ledger.entries[i]
            if entry.slot < first:
                break
            out.append(
                {
                    "blockTime": entry.block_time,
                    "confirmationStatus": "finalized",
                    "err": entry.err,
                    "memo": None,
                    "signature": entry.signature,
                    "slot": entry.slot,
                }
            )
            if len(out) >= limit:
                break
        return out

    @staticmethod
    def _signature_field(config: dict[str, object], name: str) -> str | None:
        value = config.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid_params(f"invalid type: {json_type(value)}, expected a string")
        try:
            raw = b58decode(value)
        except ValueError:
            raw = b""
        if len(raw) != 64:
            raise invalid_params_plain("Invalid param: WrongSize")
        return value

    def _rpc_get_transaction(self, params: object) -> object:
        args = params_list(params)
        if not args:
            raise invalid_params("invalid length 0, expected a signature")
        if not isinstance(args[0], str):
            raise invalid_params(f"invalid type: {json_type(args[0])}, expected a string")
        signature = self._signature_field({"s": args[0]}, "s")
        encoding: object = "json"
        max_version: int | None = None
        if len(args) > 2:
            raise invalid_params(f"invalid length {len(args)}, expected at most 2 parameters")
        if len(args) == 2 and isinstance(args[1], str):  # the legacy form: an encoding
            encoding = args[1]
        else:
            config = config_object(args, 1, 2)
            self._history_commitment(config)
            encoding = config.get("encoding") or "json"
            max_version = u64_field(config, "maxSupportedTransactionVersion")
        if encoding != "json":
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: encoding `{encoding}` is not supported by the sandbox node; "
                "use json.",
            )
        ledger = self.node.ledger
        at = ledger.by_signature.get(signature or "")
        if at is None:
            return None
        entry = ledger.entries[at]
        if entry.slot < self.node.history_start():
            return None
        if max_version is None:
            return entry.result
        return {**entry.result, "version": "legacy"}


#: Agave's MAX_GET_CONFIRMED_SIGNATURES_FOR_ADDRESS2_LIMIT
MAX_SIGNATURES_LIMIT = 1000


def invalid_params_plain(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def _position(indexes: list[int], ledger_index: int) -> int:
    """Where `ledger_index` is, or would be, in an address's (sorted) ledger indexes."""
    import bisect

    return bisect.bisect_left(indexes, ledger_index)
