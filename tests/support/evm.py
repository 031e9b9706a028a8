"""Local EVM test chains: an anvil node or the package's py-evm node, plus the test contracts.

Two interchangeable nodes (see `EvmTestNode`): ``AnvilNode`` runs the anvil binary from the
pinned npm package ``@foundry-rs/anvil`` (run ``npm ci`` in the repo root); ``EvmNode``
(``xstock_audit.sandbox.evm``) is py-evm behind the package's own JSON-RPC server. Both start
with chain id 31337 and anvil's ten funded dev accounts. The contracts in tests/contracts are
compiled by ``npm run build:contracts`` into the package data ``xstock_audit/sandbox/contracts``
(committed). Everything here talks to 127.0.0.1 only.

Typical use::

    with make_node("pyevm") as node:  # or AnvilNode() / EvmNode()
        token = deploy_backed_token(node, "Backed Apple", "AAPLx")
        transact(node, token.functions.mint(node.accounts[0], 10**18))
        supply = token.functions.totalSupply().call()
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Protocol, Self

import httpx
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from xstock_audit.chains.multicall import MULTICALL3_ADDRESS
from xstock_audit.sandbox.evm import EvmNode as SandboxEvmNode
from xstock_audit.sandbox.evm import RpcError, load_artifact

from .rpc_client import RpcClientMixin

__all__ = [
    "ANVIL_BINARY_ENV",
    "ARTIFACTS_DIR",
    "DEFAULT_CHAIN_ID",
    "MULTICALL3_ADDRESS",
    "MULTIPLIER_ONE",
    "NODE_KINDS",
    "REPO_ROOT",
    "AnvilError",
    "AnvilNode",
    "EvmNode",
    "EvmTestNode",
    "NodeKind",
    "RpcError",
    "anvil_binary",
    "deploy",
    "deploy_backed_token",
    "deploy_plain_token",
    "load_artifact",
    "make_node",
    "transact",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where ``npm run build:contracts`` writes the compiled test contracts (package data, read by
#: ``xstock_audit.sandbox.evm.load_artifact``).
ARTIFACTS_DIR = REPO_ROOT / "xstock_audit" / "sandbox" / "contracts"
ANVIL_RELATIVE_PATH = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
#: Set to an anvil executable to bypass the node_modules lookup.
ANVIL_BINARY_ENV = "XSTOCK_AUDIT_ANVIL"
DEFAULT_CHAIN_ID = 31337
MULTIPLIER_ONE = 10**18  # 1e18 precision of the Backed auto-fee multiplier and fee


class EvmNode(SandboxEvmNode, RpcClientMixin):
    """The package's py-evm node with the tests' JSON-RPC client (`rpc`, `rpc_raw`)."""

    def _on_start(self) -> None:
        super()._on_start()
        self._http = httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0))

    def _on_stop(self) -> None:
        http, self._http = self._http, None
        super()._on_stop()
        if http is not None:
            http.close()


NodeKind = Literal["anvil", "pyevm"]
#: Both local EVM nodes, for ``pytest.fixture(params=NODE_KINDS)``.
NODE_KINDS: tuple[NodeKind, ...] = ("anvil", "pyevm")


class EvmTestNode(Protocol):
    """What the helpers and the EVM tests use of a local node: AnvilNode and EvmNode both fit.

    ``rpc`` raises ``RpcError`` (code, message, data) on a JSON-RPC error object.
    """

    chain_id: int

    @property
    def url(self) -> str: ...

    @property
    def w3(self) -> Web3: ...

    @property
    def accounts(self) -> list[ChecksumAddress]: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def stop(self) -> None: ...

    def rpc_raw(self, method: str, params: list[Any]) -> dict[str, Any]: ...

    def rpc(self, method: str, params: list[Any]) -> Any: ...

    def block_number(self) -> int: ...

    def latest_timestamp(self) -> int: ...

    def mine(self, n: int = 1) -> int: ...

    def set_next_timestamp(self, ts: int) -> None: ...

    def increase_time(self, seconds: int) -> int: ...

    def warp(self, ts: int) -> int: ...

    def snapshot(self) -> str: ...

    def revert(self, snapshot_id: str) -> bool: ...


def make_node(
    kind: NodeKind,
    *,
    chain_id: int = DEFAULT_CHAIN_ID,
    multicall: bool = True,
    timestamp: int | None = None,
) -> EvmTestNode:
    """A not yet started node of ``kind``: ``with make_node("pyevm") as node: ...``.

    ``multicall`` puts Multicall3-compatible code at the canonical address, as real chains
    have it. ``timestamp`` sets the genesis block's time; later blocks count on from there (a
    node whose clock is behind or ahead of the wall clock)."""
    if kind == "anvil":
        return AnvilNode(chain_id=chain_id, multicall=multicall, timestamp=timestamp)
    if kind == "pyevm":
        return EvmNode(chain_id=chain_id, multicall=multicall, timestamp=timestamp)
    raise ValueError(f"unknown node kind {kind!r}; expected one of {NODE_KINDS}")


class AnvilError(RuntimeError):
    """anvil is missing, failed to start, or misbehaved."""


def anvil_binary() -> Path:
    """Path of the anvil executable installed by ``npm ci`` (or ``$XSTOCK_AUDIT_ANVIL``)."""
    override = os.environ.get(ANVIL_BINARY_ENV)
    candidate = Path(override) if override else REPO_ROOT / ANVIL_RELATIVE_PATH
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise AnvilError(
            f"anvil binary not found at {candidate}. Run `npm ci` in {REPO_ROOT} to install the "
            f"pinned @foundry-rs/anvil (or set ${ANVIL_BINARY_ENV} to an anvil executable)."
        )
    return candidate


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class AnvilNode(RpcClientMixin):
    """An anvil process on a free 127.0.0.1 port (automine on). Use as a context manager."""

    def __init__(
        self,
        *,
        chain_id: int = DEFAULT_CHAIN_ID,
        timestamp: int | None = None,
        startup_timeout: float = 20.0,
        extra_args: tuple[str, ...] = (),
        multicall: bool = True,
    ) -> None:
        self.multicall = multicall
        self.chain_id = chain_id
        self.genesis_timestamp = timestamp
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._http: httpx.Client | None = None
        self._w3: Web3 | None = None
        self._accounts: list[ChecksumAddress] = []
        self._rpc_id = 0

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start anvil and block until ``eth_chainId`` answers (retries on a port clash)."""
        if self.process is not None:
            raise AnvilError("AnvilNode already started")
        binary = anvil_binary()
        last_error: AnvilError | None = None
        for _attempt in range(3):
            try:
                self._spawn(binary)
                self._wait_ready()
            except AnvilError as error:
                last_error = error
                self.stop()
                if "address already in use" in str(error).lower():
                    continue
                raise
            else:
                self._accounts = [Web3.to_checksum_address(a) for a in self.rpc("eth_accounts", [])]
                self.w3.eth.default_account = self._accounts[0]
                if self.multicall:  # real chains have Multicall3 there; anvil has nothing
                    code = load_artifact("Aggregate3")["deployedBytecode"]
                    self.rpc("anvil_setCode", [MULTICALL3_ADDRESS, code])
                return self
        assert last_error is not None
        raise last_error

    def _spawn(self, binary: Path) -> None:
        self.port = _free_port()
        args = [
            str(binary),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--quiet",
        ]
        if self.genesis_timestamp is not None:
            args += ["--timestamp", str(self.genesis_timestamp)]
        args += list(self.extra_args)
        # Lives as long as the process; closed in stop().
        self._log = tempfile.TemporaryFile(prefix="anvil-")  # noqa: SIM115
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of pytest does not hit anvil first
        )
        self._http = httpx.Client(timeout=httpx.Timeout(30.0, connect=1.0))

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise AnvilError(
                    f"anvil exited with code {self.process.returncode} during startup "
                    f"(port {self.port}):\n{self.log_output()}"
                )
            try:
                chain_id = int(self.rpc("eth_chainId", []), 16)
            except (httpx.TransportError, RpcError):
                if time.monotonic() > deadline:
                    raise AnvilError(
                        f"anvil did not answer eth_chainId on {self.url} within "
                        f"{self.startup_timeout}s:\n{self.log_output()}"
                    ) from None
                time.sleep(0.05)
                continue
            if chain_id != self.chain_id:
                raise AnvilError(f"anvil reports chain id {chain_id}, expected {self.chain_id}")
            return

    def stop(self) -> None:
        """Terminate anvil (SIGTERM, then SIGKILL after 5 s). Idempotent."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._w3 = None

    def log_output(self) -> str:
        """What anvil printed so far (stdout+stderr; little with ``--quiet``)."""
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    # ------------------------------------------------------------------ access

    @property
    def url(self) -> str:
        if self.port is None:
            raise AnvilError("AnvilNode not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            self._w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))
        return self._w3

    @property
    def accounts(self) -> list[ChecksumAddress]:
        """anvil's funded dev accounts (10 x 10000 ETH, default mnemonic); [0] deploys."""
        return list(self._accounts)

    # ------------------------------------------------------------------ raw JSON-RPC

    # ------------------------------------------------------------------ chain control

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber", []), 16)

    def latest_timestamp(self) -> int:
        block = self.rpc("eth_getBlockByNumber", ["latest", False])
        return int(block["timestamp"], 16)

    def mine(self, n: int = 1) -> int:
        """Mine ``n`` blocks now (``anvil_mine``); returns the new block number."""
        self.rpc("anvil_mine", [hex(n)])
        return self.block_number()

    def set_next_timestamp(self, ts: int) -> None:
        """``evm_setNextBlockTimestamp``: the next mined block gets timestamp ``ts`` (no mining)."""
        self.rpc("evm_setNextBlockTimestamp", [ts])

    def increase_time(self, seconds: int) -> int:
        """``evm_increaseTime``: shift the clock of future blocks (no mining); returns anvil's
        reported total offset."""
        return int(self.rpc("evm_increaseTime", [seconds]))

    def warp(self, ts: int) -> int:
        """Mine one block with timestamp ``ts``; returns the new block number."""
        self.set_next_timestamp(ts)
        return self.mine()

    def snapshot(self) -> str:
        """``evm_snapshot``; pass the id to :meth:`revert`."""
        return str(self.rpc("evm_snapshot", []))

    def revert(self, snapshot_id: str) -> bool:
        """``evm_revert`` to a snapshot (a snapshot id is single-use)."""
        return bool(self.rpc("evm_revert", [snapshot_id]))


# ---------------------------------------------------------------------- contracts


def transact(
    node: EvmTestNode, contract_fn: ContractFunction, *, sender: ChecksumAddress | None = None
) -> TxReceipt:
    """Send ``contract_fn`` as a transaction, wait for its receipt and assert status 1.

    A reverting call usually fails earlier, in web3's gas estimation, with
    ``web3.exceptions.ContractLogicError`` carrying the revert reason.
    """
    w3 = node.w3
    tx_hash = contract_fn.transact({"from": sender or node.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1, f"transaction {tx_hash.hex()} failed: {receipt}"
    return receipt


def deploy(
    node: EvmTestNode, name: str, *args: Any, sender: ChecksumAddress | None = None
) -> Contract:
    """Deploy contract ``name`` with constructor ``args`` (from ``accounts[0]`` by default).

    Over the node's HTTP JSON-RPC (``node.w3``), whichever node it is; the returned contract is
    bound to ``node.w3`` too.
    """
    artifact = load_artifact(name)
    w3 = node.w3
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(*args).transact({"from": sender or node.accounts[0]})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
    assert receipt["status"] == 1, f"deployment of {name} failed: {receipt}"
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=artifact["abi"])


def deploy_plain_token(
    node: EvmTestNode,
    name: str = "Plain Token",
    symbol: str = "PLAIN",
    decimals: int = 18,
    *,
    sender: ChecksumAddress | None = None,
) -> Contract:
    """Deploy ``PlainToken(name, symbol, decimals)``; the sender is owner (may mint/burn)."""
    return deploy(node, "PlainToken", name, symbol, decimals, sender=sender)


def deploy_backed_token(
    node: EvmTestNode,
    name: str = "Backed Test xStock",
    symbol: str = "TESTx",
    *,
    period_length: int = 86_400,
    last_time_fee_applied: int = 0,
    fee_per_period: int = 0,
    sender: ChecksumAddress | None = None,
) -> Contract:
    """Deploy ``BackedAutoFeeToken(name, symbol, periodLength, lastTimeFeeApplied, feePerPeriod)``.

    ``last_time_fee_applied=0`` means the deployment block's timestamp; ``fee_per_period`` is in
    1e18 precision (``10**15`` = 0.1 % of the multiplier per period). The sender
    becomes owner, minter, burner, pauser and multiplierUpdater.
    """
    return deploy(
        node,
        "BackedAutoFeeToken",
        name,
        symbol,
        period_length,
        last_time_fee_applied,
        fee_per_period,
        sender=sender,
    )
