"""A real, local Solana JSON-RPC node backed by LiteSVM.

`SolanaNode` wraps one `solders.litesvm.LiteSVM` and serves the read methods the auditor needs
over HTTP POST (JSON-RPC 2.0, single requests and batches) on 127.0.0.1 (`..rpc_http`). Replies
follow Agave's shapes, defaults and error codes (`handlers.py`, `wire.py`): base64 accounts
with `{"context": {"slot", "apiVersion"}, "value": ...}`, `-32602` for bad params and for more
than 100 keys in `getMultipleAccounts`, `-32016` when `minContextSlot` is ahead of the node,
`-32601` for unknown methods, HTTP 200 for every JSON-RPC error. `getTokenSupply` computes
`uiAmountString` the way the node does (`token_state.py`).

State only changes through real transactions processed by the programs bundled in LiteSVM (see
`spl.py`) and through explicit clock moves (`warp_to_slot`, `set_unix_timestamp`). The context
slot is the LiteSVM clock's slot; LiteSVM does not advance it on its own, so a test controls it
completely.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import (
    FailedTransactionMetadata,
    SimulatedTransactionInfo,
    TransactionMetadata,
)

from ..rpc_http import ServedNode
from .handlers import rpc_methods
from .history import (
    Ledger,
    Recorded,
    error_json,
    inner_json,
    token_balances,
    transaction_result,
)
from .ids import CLOCK_SYSVAR_ID, SYSVAR_OWNER_ID, TOKEN_PROGRAMS
from .token_state import UiAmountMode, unpack_token_account
from .wire import b58decode

#: Deterministic genesis hash of the sandbox cluster (never a real cluster's).
SANDBOX_GENESIS_HASH: Final = str(Hash.hash(b"xstock-audit sandbox genesis"))
#: 2026-01-01T00:00:00Z: a fixed instant for tests that pin the clock. By default the node's
#: clock starts at the wall clock, as a node in sync would (LiteSVM's own starts at 0).
DEFAULT_UNIX_TIMESTAMP: Final = 1_767_225_600
DEFAULT_SLOT: Final = 1_000
DEFAULT_SOLANA_CORE_VERSION: Final = "2.3.13"
DEFAULT_FEATURE_SET: Final = 3_294_202_862
#: Agave's MAX_MULTIPLE_ACCOUNTS and MAX_REQUEST_BODY_SIZE (50 KiB).
MAX_MULTIPLE_ACCOUNTS: Final = 100
MAX_REQUEST_BODY_BYTES: Final = 50 * 1024


class SandboxTransactionError(RuntimeError):
    """A transaction the LiteSVM runtime rejected; carries the error and program logs."""

    def __init__(self, err: object, logs: Sequence[str]) -> None:
        self.err = err
        self.logs = list(logs)
        tail = "\n  ".join(self.logs[-8:])
        super().__init__(f"transaction failed: {err}\n  {tail}")


class SolanaNode(ServedNode):
    """One LiteSVM served as a Solana JSON-RPC endpoint on 127.0.0.1.

    Every touch of the LiteSVM goes through `self.lock` (re-entrant): the HTTP server is
    threaded. `send_transaction` signs with the funded fee payer plus any keypair known to the
    node (`remember`); with `sigverify=False` signers whose key is unknown get a placeholder
    signature, so a sandbox can create mints at real mainnet addresses or act as a real
    authority (the programs still see the signer flag).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        genesis_hash: str = SANDBOX_GENESIS_HASH,
        slot: int = DEFAULT_SLOT,
        unix_timestamp: int | None = None,
        sigverify: bool = True,
        ui_amount_mode: UiAmountMode = "node",
        solana_core_version: str = DEFAULT_SOLANA_CORE_VERSION,
        feature_set: int = DEFAULT_FEATURE_SET,
        max_multiple_accounts: int = MAX_MULTIPLE_ACCOUNTS,
        max_request_body_bytes: int = MAX_REQUEST_BODY_BYTES,
        payer_lamports: int = 100_000 * 10**9,
        first_available_slot: int | None = None,
    ) -> None:
        if len(b58decode(genesis_hash)) != 32:
            raise ValueError("genesis_hash must be a base58-encoded 32-byte hash")
        self.lock = threading.RLock()
        self.svm = LiteSVM().with_sigverify(sigverify)
        self.sigverify = sigverify
        self.genesis_hash = genesis_hash
        self.ui_amount_mode: UiAmountMode = ui_amount_mode
        self.solana_core_version = solana_core_version
        self.feature_set = feature_set
        self.max_multiple_accounts = max_multiple_accounts
        self.max_request_body_bytes = max_request_body_bytes
        self._requested_port = port
        self._server_name = "solana-node"
        self._keyring: dict[Pubkey, Keypair] = {}
        self._block_times: dict[int, int] = {}
        #: every transaction processed (`getSignaturesForAddress`, `getTransaction`)
        self.ledger = Ledger()
        #: the oldest slot whose transactions and block time the node still serves (None: all
        #: of them, from the slot it started at); set it later to cut the history short
        self.first_available_slot = first_available_slot
        #: token accounts by (token program, owner), as Agave's `spl-token-owner` account
        #: index keeps them: brought up to date after every transaction and airdrop from
        #: the accounts it names, so `getTokenAccountsByOwner` does not scan every account
        self._by_owner: dict[tuple[Pubkey, Pubkey], set[Pubkey]] = {}
        self._owner_of: dict[Pubkey, tuple[Pubkey, Pubkey]] = {}
        if unix_timestamp is None:
            unix_timestamp = int(time.time())
        clock = self.svm.get_clock()
        self.set_clock(
            Clock(
                slot=slot,
                epoch_start_timestamp=unix_timestamp,
                epoch=clock.epoch,
                leader_schedule_epoch=clock.leader_schedule_epoch,
                unix_timestamp=unix_timestamp,
            )
        )
        self.start_slot = slot
        self.payer = Keypair()
        self.remember(self.payer)
        self.airdrop(self.payer.pubkey(), payer_lamports)
        self._methods = rpc_methods(self)

    def register_method(self, name: str, handler: Callable[[object], object]) -> None:
        """Serve an extra JSON-RPC method (e.g. the sandbox's control methods).

        The handler gets the request's params and runs with `lock` held; raise `RpcError`
        for a JSON-RPC error reply.
        """
        self._methods[name] = handler

    # ---- clock -----------------------------------------------------------------------------

    def get_clock(self) -> Clock:
        with self.lock:
            return self.svm.get_clock()

    def set_clock(self, clock: Clock) -> None:
        with self.lock:
            self.svm.set_clock(clock)
            self._block_times[clock.slot] = clock.unix_timestamp

    @property
    def slot(self) -> int:
        return self.get_clock().slot

    @property
    def unix_timestamp(self) -> int:
        return self.get_clock().unix_timestamp

    def block_time(self, slot: int) -> int | None:
        """The Clock's unix_timestamp at `slot`: now, or when the clock was last set there."""
        with self.lock:
            clock = self.svm.get_clock()
            if slot == clock.slot:
                return clock.unix_timestamp
            if slot < clock.slot:
                return self._block_times.get(slot)
            return None

    def warp_to_slot(self, slot: int) -> None:
        """Move the clock's slot (other Clock fields are kept, like LiteSVM's warp)."""
        with self.lock:
            self.svm.warp_to_slot(slot)
            self._block_times[slot] = self.svm.get_clock().unix_timestamp

    def set_unix_timestamp(self, unix_timestamp: int) -> None:
        """Set the Clock's unix_timestamp (what programs and ScaledUiAmount maths read)."""
        with self.lock:
            clock = self.svm.get_clock()
            self.set_clock(
                Clock(
                    slot=clock.slot,
                    epoch_start_timestamp=clock.epoch_start_timestamp,
                    epoch=clock.epoch,
                    leader_schedule_epoch=clock.leader_schedule_epoch,
                    unix_timestamp=unix_timestamp,
                )
            )

    # ---- accounts and transactions ------------------------------------------------------------

    def remember(self, *keypairs: Keypair) -> None:
        """Make keypairs available as signers to `send_transaction` (and the spl builders)."""
        with self.lock:
            for keypair in keypairs:
                self._keyring[keypair.pubkey()] = keypair

    def keypair_for(self, pubkey: Pubkey) -> Keypair | None:
        with self.lock:
            return self._keyring.get(pubkey)

    def get_account(self, pubkey: Pubkey) -> Account | None:
        """The account as the RPC serves it (the Clock sysvar always mirrors `get_clock`)."""
        with self.lock:
            account = self.svm.get_account(pubkey)
            if pubkey != CLOCK_SYSVAR_ID:
                return account
            clock = self.svm.get_clock()
            data = struct.pack(
                "<QqQQq",
                clock.slot,
                clock.epoch_start_timestamp,
                clock.epoch,
                clock.leader_schedule_epoch,
                clock.unix_timestamp,
            )
            if account is not None and bytes(account.data) == data:
                return account
            return Account(
                lamports=account.lamports if account is not None else 1_169_280,
                data=data,
                owner=SYSVAR_OWNER_ID,
                executable=False,
                rent_epoch=account.rent_epoch if account is not None else 0,
            )

    def token_accounts(self, program: Pubkey, owner: Pubkey) -> list[tuple[Pubkey, Account]]:
        """The accounts of token `program` that the owner index lists for `owner`, by key
        (the caller checks each one's state, as a scan would)."""
        with self.lock:
            keys = sorted(self._by_owner.get((program, owner), ()), key=bytes)
            return [(k, a) for k in keys if (a := self.svm.get_account(k)) is not None]

    def _reindex(self, keys: Iterable[Pubkey]) -> None:
        """Bring the owner index up to date for `keys` (the accounts a transaction named:
        only those can have changed)."""
        for key in keys:
            account = self.svm.get_account(key)
            entry = None
            if account is not None and account.owner in TOKEN_PROGRAMS:
                state = unpack_token_account(bytes(account.data))
                if state is not None:
                    entry = (account.owner, state.owner)
            old = self._owner_of.get(key)
            if old == entry:
                continue
            if old is not None:
                self._by_owner[old].discard(key)
                del self._owner_of[key]
            if entry is not None:
                self._owner_of[key] = entry
                self._by_owner.setdefault(entry, set()).add(key)

    def airdrop(self, pubkey: Pubkey, lamports: int) -> None:
        with self.lock:
            result = self.svm.airdrop(pubkey, lamports)
            self._reindex([pubkey])
            if isinstance(result, FailedTransactionMetadata):
                raise SandboxTransactionError(result.err(), result.meta().logs())

    def minimum_balance_for_rent_exemption(self, data_len: int) -> int:
        with self.lock:
            return self.svm.minimum_balance_for_rent_exemption(data_len)

    def _build_transaction(
        self, instructions: Sequence[Instruction], signers: Iterable[Keypair]
    ) -> Transaction:
        known = dict(self._keyring)
        for signer in signers:
            known[signer.pubkey()] = signer
        message = Message.new_with_blockhash(
            list(instructions), self.payer.pubkey(), self.svm.latest_blockhash()
        )
        message_bytes = bytes(message)
        signatures: list[Signature] = []
        for key in message.account_keys[: message.header.num_required_signatures]:
            keypair = known.get(key)
            if keypair is not None:
                signatures.append(keypair.sign_message(message_bytes))
            elif not self.sigverify:
                signatures.append(Signature.default())
            else:
                raise KeyError(
                    f"no keypair for required signer {key}; remember() it or create the node "
                    "with sigverify=False"
                )
        return Transaction.populate(message, signatures)

    def send_transaction(
        self, instructions: Sequence[Instruction], signers: Iterable[Keypair] = ()
    ) -> TransactionMetadata:
        """Sign (payer + `signers` + remembered keys), process, raise on failure.

        LiteSVM keeps one blockhash until told otherwise and refuses an identical transaction
        as AlreadyProcessed, so the blockhash is expired after every transaction.
        """
        with self.lock:
            tx = self._build_transaction(instructions, signers)
            keys = list(tx.message.account_keys)
            clock = self.svm.get_clock()
            pre = [self.get_account(k) for k in keys]
            pre_token = token_balances(
                keys, self.get_account, clock.unix_timestamp, self.ui_amount_mode
            )
            result = self.svm.send_transaction(tx)
            self.svm.expire_blockhash()
            self._reindex(keys)
            self._record(tx, keys, clock, pre, pre_token, result)
            if isinstance(result, FailedTransactionMetadata):
                raise SandboxTransactionError(result.err(), result.meta().logs())
            return result

    def _record(
        self,
        tx: Transaction,
        keys: list[Pubkey],
        clock: Clock,
        pre: list[Account | None],
        pre_token: list[dict[str, object]],
        result: TransactionMetadata | FailedTransactionMetadata,
    ) -> None:
        """Keep a processed transaction in the ledger, as Agave's blockstore keeps it."""
        if isinstance(result, FailedTransactionMetadata):
            err = error_json(result.err())
            meta = result.meta()
        else:
            err, meta = None, result
        signature = str(tx.signatures[0])
        post = [self.get_account(k) for k in keys]
        self.ledger.add(
            Recorded(
                signature=signature,
                slot=clock.slot,
                block_time=clock.unix_timestamp,
                err=err,
                keys=tuple(str(k) for k in keys),
                result=transaction_result(
                    tx,
                    slot=clock.slot,
                    block_time=clock.unix_timestamp,
                    err=err,
                    fee=meta.fee(),
                    pre_balances=[a.lamports if a is not None else 0 for a in pre],
                    post_balances=[a.lamports if a is not None else 0 for a in post],
                    pre_token=pre_token,
                    post_token=token_balances(
                        keys, self.get_account, clock.unix_timestamp, self.ui_amount_mode
                    ),
                    inner=inner_json(meta.inner_instructions()),
                    logs=list(meta.logs()),
                    compute_units=meta.compute_units_consumed(),
                ),
            )
        )

    def history_start(self) -> int:
        """The first slot the node still serves (`getFirstAvailableBlock`)."""
        with self.lock:
            if self.first_available_slot is not None:
                return self.first_available_slot
            return self.start_slot

    def simulate_transaction(
        self, instructions: Sequence[Instruction], signers: Iterable[Keypair] = ()
    ) -> TransactionMetadata:
        """Run without committing (e.g. to read a program's return data); raise on failure."""
        with self.lock:
            tx = self._build_transaction(instructions, signers)
            result = self.svm.simulate_transaction(tx)
            if isinstance(result, FailedTransactionMetadata):
                raise SandboxTransactionError(result.err(), result.meta().logs())
            assert isinstance(result, SimulatedTransactionInfo)
            return result.meta()
