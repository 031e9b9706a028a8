"""The py-evm chain behind `EvmNode`: eth-tester's backend with anvil's defaults and clock.

`build_tester` makes one `eth_tester.EthereumTester` on a `PyEVMBackend` (Prague rules,
automine: one block per transaction) that matches anvil's defaults: chain id 31337
(configurable: the py-evm chain class gets the id, so `CHAINID`, transaction signing and
`eth_chainId` agree), the ten accounts of the well-known development mnemonic ("test test ...
junk", m/44'/60'/0'/0/i) with 10000 ETH each, so contract addresses are the same as on a fresh
anvil, and Multicall3-compatible code at the canonical address. Block timestamps follow the
wall clock plus an offset (`BlockClock`) that `evm_increaseTime`/`evm_setNextBlockTimestamp`
move, as anvil's do (set on the pending py-evm header; eth-tester's `time_travel` is not used:
in eth-tester 0.14 it mines the block at `ts - 1`). Unlike anvil, py-evm needs strictly
increasing block timestamps, so a burst of blocks runs a few seconds ahead of the wall clock.

py-evm and eth-tester come with the `sandbox` extra (`pip install 'xstock-audit[sandbox]'`);
they are imported when a chain is built, not when this module is imported.

The Solidity contracts the sandbox deploys are package data (`contracts/<Name>.json`, compiled by
`npm run build:contracts`); `load_artifact` reads them.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, Final

from web3 import Web3
from web3.middleware.base import MiddlewareOnion
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse

from ...chains.multicall import MULTICALL3_ADDRESS
from .wire import ERROR_STRING_SELECTOR, decode_error_string

#: anvil's and hardhat's default chain id.
DEFAULT_CHAIN_ID: Final = 31337
#: The public development mnemonic anvil and hardhat fund by default (not a secret).
DEV_MNEMONIC: Final = "test test test test test test test test test test test junk"
DEV_HD_PATH: Final = "m/44'/60'/0'/0"
DEFAULT_ACCOUNT_COUNT: Final = 10
DEFAULT_ACCOUNT_BALANCE: Final = 10_000 * 10**18
_CONTRACTS_PACKAGE: Final = "xstock_audit.sandbox"
_CONTRACTS_DIR: Final = "contracts"


class SandboxUnavailable(RuntimeError):
    """py-evm / eth-tester are not installed (the `sandbox` extra)."""


def load_artifact(name: str) -> dict[str, Any]:
    """The compiled contract `contracts/<name>.json`: {abi, bytecode, contractName, solcVersion}."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a contract name: {name!r}")
    resource = resources.files(_CONTRACTS_PACKAGE).joinpath(_CONTRACTS_DIR, f"{name}.json")
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"no compiled contract {name!r} in {_CONTRACTS_PACKAGE}/{_CONTRACTS_DIR} (run "
            "`npm run build:contracts` in a source checkout)"
        ) from None
    artifact: dict[str, Any] = json.loads(text)
    return artifact


class BlockClock:
    """Timestamps for new blocks: wall clock + offset, unless the next one was pinned."""

    def __init__(self) -> None:
        self.offset = 0
        self.pinned = False  # evm_setNextBlockTimestamp fixed the pending block's timestamp

    def now(self) -> int:
        return int(time.time()) + self.offset


@functools.cache
def _dev_account_keys(count: int) -> tuple[Any, ...]:
    from eth_tester.backends.pyevm.main import (  # type: ignore[import-untyped,unused-ignore]
        get_account_keys_from_mnemonic,
    )

    return tuple(get_account_keys_from_mnemonic(DEV_MNEMONIC, quantity=count, hd_path=DEV_HD_PATH))


def _import_tester() -> tuple[Any, Any, Any]:
    try:
        from eth_tester import EthereumTester, PyEVMBackend  # type: ignore[import-untyped,unused-ignore]
        from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise SandboxUnavailable(
            "the local Ethereum node needs py-evm and eth-tester: "
            "pip install 'xstock-audit[sandbox]'"
        ) from exc
    return EthereumTester, PyEVMBackend, TransactionFailed


def _revert_reason(error: BaseException) -> str:
    """eth-tester's TransactionFailed text for a failed call: the Error(string) reason or repr."""
    from eth.exceptions import Revert

    if isinstance(error, Revert) and error.args and isinstance(error.args[0], bytes):
        data = error.args[0]
        if data[:4] == ERROR_STRING_SELECTOR:
            decoded = decode_error_string(data)
            if decoded is not None:
                return decoded
    return str(error)


def build_tester(
    chain_id: int,
    timestamp: int | None,
    account_count: int,
    balance: int,
    clock: BlockClock,
    *,
    multicall: bool = True,
) -> Any:
    """An EthereumTester over a PyEVMBackend whose chain has `chain_id` and follows `clock`."""
    ethereum_tester_cls, backend_cls, transaction_failed = _import_tester()
    from eth.vm.spoof import SpoofTransaction
    from eth_tester.backends.pyevm.main import (  # type: ignore[import-untyped,unused-ignore]
        generate_genesis_state_for_keys,
    )
    from eth_tester.exceptions import BlockNotFound  # type: ignore[import-untyped,unused-ignore]

    class SandboxBackend(backend_cls):  # type: ignore[misc,valid-type]
        """PyEVMBackend whose `call` keeps the VM error (revert data) as the exception cause."""

        def _header_for(self, block_number: object) -> Any:
            chain = self.chain
            pending = chain.get_block()
            if block_number in ("latest", "safe", "finalized"):
                return chain.get_canonical_block_header_by_number(max(0, pending.number - 1))
            if block_number == "earliest":
                return chain.get_canonical_block_header_by_number(0)
            if block_number == "pending":
                return pending.header
            if isinstance(block_number, int) and 0 <= block_number < pending.number:
                return chain.get_canonical_block_header_by_number(block_number)
            raise BlockNotFound(f"No block found for block number: {block_number}")

        def call(self, transaction: dict[str, Any], block_number: object = "latest") -> bytes:
            # PyEVMBackend.call, except that the VM error stays attached (`from error`).
            defaulted = dict(transaction)
            defaulted.setdefault("gas", self._max_available_gas())
            unsigned = self._get_normalized_and_unsigned_evm_transaction(defaulted, block_number)
            spoofed = SpoofTransaction(unsigned, from_=transaction["from"])
            state = self.chain.get_vm(at_header=self._header_for(block_number)).state
            snapshot = state.snapshot()
            try:
                computation = state.apply_transaction(spoofed)
            finally:
                state.revert(snapshot)
            if computation.is_error:
                error = computation.error
                raise transaction_failed(_revert_reason(error)) from error
            return bytes(computation.output)

    keys = _dev_account_keys(account_count)
    genesis_state = generate_genesis_state_for_keys(keys, overrides={"balance": balance})
    if multicall:  # Multicall3-compatible code at the canonical address, as on real chains
        code = bytes.fromhex(load_artifact("Aggregate3")["deployedBytecode"][2:])
        genesis_state[bytes.fromhex(MULTICALL3_ADDRESS[2:])] = {
            "balance": 0,
            "nonce": 1,
            "code": code,
            "storage": {},
        }
    genesis_params = None
    if timestamp is not None:
        genesis_params = backend_cls.generate_genesis_params(overrides={"timestamp": timestamp})
    backend = SandboxBackend(genesis_parameters=genesis_params, genesis_state=genesis_state)
    backend.account_keys = keys
    base_chain_cls = type(backend.chain)

    class SandboxChain(base_chain_cls):  # type: ignore[misc,valid-type]
        """eth-tester's chain with our chain id and anvil-like block timestamps."""

        def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
            header_params.setdefault("timestamp", max(clock.now(), parent_header.timestamp + 1))
            clock.pinned = False
            return super().create_header_from_parent(parent_header, **header_params)

        def _refresh_timestamp(self) -> None:
            # The pending header is made when the previous block is mined; an empty pending
            # block takes the time at which it is actually filled or mined.
            chain: Any = self  # (the base class is eth-tester's, untyped)
            header = chain.header
            if not clock.pinned and header.gas_used == 0 and clock.now() > header.timestamp:
                chain.header = header.copy(timestamp=clock.now())

        def apply_transaction(self, transaction: Any) -> Any:
            self._refresh_timestamp()
            return super().apply_transaction(transaction)

        def mine_block_extended(self, *args: Any, **kwargs: Any) -> Any:
            self._refresh_timestamp()
            return super().mine_block_extended(*args, **kwargs)

    SandboxChain.chain_id = chain_id
    backend.chain = SandboxChain(backend.chain.chaindb.db)
    return ethereum_tester_cls(backend)


def api_endpoints(chain_id: int) -> dict[str, dict[str, Callable[..., Any]]]:
    from web3.providers.eth_tester.defaults import API_ENDPOINTS

    endpoints = {namespace: dict(methods) for namespace, methods in API_ENDPOINTS.items()}
    endpoints["eth"]["chainId"] = lambda tester, params: chain_id
    endpoints["net"]["version"] = lambda tester, params: str(chain_id)
    return endpoints


class LockedTesterProvider(EthereumTesterProvider):
    """EthereumTesterProvider whose whole request pipeline runs under the node's lock."""

    def __init__(
        self,
        tester: Any,
        api_endpoints: dict[str, dict[str, Callable[..., RPCResponse]]],
        lock: threading.RLock,
    ) -> None:
        super().__init__(tester, api_endpoints)
        self._lock = lock

    def request_func(
        self, w3: Web3, middleware_onion: MiddlewareOnion
    ) -> Callable[..., RPCResponse]:
        inner = super().request_func(w3, middleware_onion)
        lock = self._lock

        def locked(method: RPCEndpoint, params: Any) -> RPCResponse:
            with lock:
                return inner(method, params)

        return locked
