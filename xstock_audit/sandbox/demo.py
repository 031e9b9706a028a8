"""`xstock-audit demo` and `xstock-audit sandbox`: the audit on embedded local chains.

Both start, in this process, a local Ethereum node (py-evm through eth-tester) and a local
Solana node (LiteSVM), each answering real JSON-RPC over HTTP on 127.0.0.1, and seed the
demo portfolio (`portfolio.py`). The demo then runs the ordinary `check` code path against
those URLs -- registry file, JSON-RPC readers, attestation files, reconcile, report -- and
compares what the audit found with what was staged. The sandbox keeps the chains up.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .portfolio import Staged, register_controls, seed

if TYPE_CHECKING:
    from .evm import EvmNode
    from .solana import SolanaNode

Say = Callable[[str], None]


@contextmanager
def chains(evm_port: int = 0, solana_port: int = 0) -> Iterator[tuple[EvmNode, SolanaNode]]:
    """Start both local nodes; stop them on exit."""
    from .evm import EvmNode
    from .solana import SolanaNode

    evm = EvmNode(port=evm_port)
    sol = SolanaNode(port=solana_port)
    evm.start()
    try:
        sol.start()
        try:
            yield evm, sol
        finally:
            sol.stop()
    finally:
        evm.stop()


def run_demo(
    *,
    fmt: str = "table",
    details: bool = False,
    keep: Path | None = None,
    color: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    progress: Say | None = None,
) -> int:
    """Run the demo; 0 when the audit found exactly what was staged, else 1."""
    from .. import audit
    from .. import registry as registry_mod
    from ..report import Options, report_format

    started = time.monotonic()
    folder = keep if keep is not None else Path(tempfile.mkdtemp(prefix="xstock-demo-"))
    try:
        with chains() as (evm, sol):
            if progress:
                progress("local chains up: py-evm (Ethereum) and LiteSVM (Solana) on 127.0.0.1")
            staged = seed(evm, sol, folder)
            if progress:
                progress(f"seeded {len(staged.statuses)} tokens; registry {staged.registry}")
            reg = registry_mod.load(staged.registry)
            result = audit.run(reg, progress=progress)
        shape = report_format(fmt)
        text = shape.render(result, Options(details=details, color=color))
        out.write(text)
        found = {t.symbol: t.status.value for t in result.tokens}
        ok = found == staged.statuses and result.exit_code == staged.exit_code
        note = err if shape.machine_readable else out
        _explain(note, staged, found, result.exit_code, time.monotonic() - started, ok, keep)
        return 0 if ok else 1
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _explain(
    out: TextIO,
    staged: Staged,
    found: dict[str, str],
    exit_code: int,
    seconds: float,
    ok: bool,
    keep: Path | None,
) -> None:
    meaning = {0: "all backed", 1: "a shortfall", 3: "an incomplete audit"}.get(exit_code, "")
    out.write("\nWhat the demo staged, and what the audit found:\n")
    for symbol, want in staged.statuses.items():
        got = found.get(symbol, "missing")
        mark = "ok" if got == want else "MISMATCH"
        out.write(f"  {symbol:6} staged {want:7} found {got:7} {mark:8} {staged.notes[symbol]}\n")
    out.write(
        f"A real `xstock-audit check {staged.registry.name}` of this registry would exit "
        f"{exit_code} ({meaning}).\n"
    )
    if keep is not None:
        out.write(f"Registry and attestation files kept in {keep}.\n")
    verdict = (
        "the audit found exactly what was staged"
        if ok
        else "the audit did NOT find what was staged"
    )
    out.write(f"Demo {'passed' if ok else 'FAILED'}: {verdict} ({seconds:.1f} s).\n")


def run_sandbox(
    *,
    folder: Path | None = None,
    evm_port: int = 0,
    solana_port: int = 0,
    out: TextIO = sys.stdout,
    stop: threading.Event | None = None,
) -> int:
    """Start and seed the chains, print how to use them, serve until `stop` is set (0).

    Ctrl-C (KeyboardInterrupt) or the CLI's SIGTERM exception propagates to the caller, which
    maps it to an exit code, after "stopping the sandbox chains" is printed and the chains
    are stopped.
    """
    where = folder if folder is not None else Path(tempfile.mkdtemp(prefix="xstock-sandbox-"))
    with chains(evm_port, solana_port) as (evm, sol):
        try:
            staged = seed(evm, sol, where)
            register_controls(sol, staged)
            out.write(_sandbox_help(evm, sol, staged))
            out.flush()
            (stop or threading.Event()).wait()
        except BaseException:  # a signal may land anywhere, even in the banner's write
            with suppress(OSError):  # stdout gone: the signal, not a broken pipe, is the news
                out.write("\nstopping the sandbox chains\n")
                out.flush()
            raise
    return 0


def _curl(url: str, method: str, params: list[object]) -> str:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    return f"curl -s {url} -H 'content-type: application/json' -d '{body}'"


def _sandbox_help(evm: EvmNode, sol: SolanaNode, staged: Staged) -> str:
    from eth_abi.abi import encode
    from eth_utils.abi import function_signature_to_4byte_selector

    evm_url, sol_url, sender = evm.url, sol.url, evm.accounts[0]
    spy = staged.addresses["SPYx"]["ethereum"]
    sig = "updateMultiplierValue(uint256,uint256,uint256)"
    data = (
        "0x"
        + (
            bytes(function_signature_to_4byte_selector(sig))
            + encode(["uint256", "uint256", "uint256"], [1_550_000_000_000_000_000, 15 * 10**17, 0])
        ).hex()
    )
    aapl_mint = staged.addresses["AAPLx"]["solana"]
    evm_tx = _curl(evm_url, "eth_sendTransaction", [{"from": sender, "to": spy, "data": data}])
    sol_mult = _curl(sol_url, "sandbox_updateScaledUiMultiplier", [aapl_mint, 1.05, 0])
    sol_time = _curl(sol_url, "sandbox_setUnixTimestamp", [1_900_000_000])
    tokens = "\n".join(
        f"  {sym:6} " + "  ".join(f"{chain}: {addr}" for chain, addr in chains.items())
        for sym, chains in staged.addresses.items()
    )
    return f"""xstock-audit sandbox: local chains are up (Ctrl-C to stop).

  Ethereum (py-evm)   {evm_url}
  Solana (LiteSVM)    {sol_url}
  registry            {staged.registry}
  attestations        {staged.folder / "attestations"}

Tokens:
{tokens}

Audit it (in another terminal):
  xstock-audit check {staged.registry}

Rehearse a corporate action, then audit again:
  # Ethereum: SPYx multiplier 1.5 -> 1.55 now: Backed's updateMultiplierValue(new, old,
  # activation) from the unlocked dev account {sender} (no key needed)
  {evm_tx}
  # Solana: AAPLx ScaledUiAmount multiplier to 1.05 from unix time 0 (the sandbox holds
  # the mint authority)
  {sol_mult}
  # Solana: move the chain clock (unix seconds), e.g. past a scheduled multiplier change
  {sol_time}
Custody is plain files: edit {staged.folder / "attestations"} and audit again.
"""
