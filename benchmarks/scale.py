"""Audit speed at scale, through a loopback latency proxy (all traffic on 127.0.0.1).

    python benchmarks/scale.py [--sizes 10,100,1000,10000] [--k 3] [--latency 0.1]
                               [--naive 10,100] [--repeat 3]

For each N: an issuer of N tokens x (ERC-20 on anvil + Token-2022 mint on LiteSVM) x K
excluded holders is generated (not timed), then `xstock-audit check` runs as a fresh process
with every HTTP request delayed by --latency seconds. Printed per N: wall time of the
process (best of --repeat), its start-up alone (`xstock-audit --version` and the imports a
check needs), HTTP requests per chain, peak RSS. For the --naive sizes the same figures
are read the naive way -- web3.py `contract.functions.x().call()` and solana-py
`get_token_supply` / `get_token_accounts_by_owner`, one request per value -- and the
ratio naive/ours is printed. With 1,000 and 10,000 among the sizes, the ratio of their wall
times is printed too (linear is 10x). Needs `npm ci` (anvil) and the test extra.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.evm import AnvilNode  # noqa: E402
from support.proxy import RpcProxy  # noqa: E402
from support.world import World, build  # noqa: E402

from xstock_audit.sandbox.solana import SolanaNode  # noqa: E402

CLI = str(Path(sys.executable).with_name("xstock-audit"))


#: Runs the command and prints its wall time, exit code and peak RSS. A child spawned by this
#: (large) benchmark process would inherit its memory high-water mark: Linux records the old
#: address space's peak at exec, and posix_spawn's child shares the parent's until then. So
#: the command is spawned from this small shim (a few MB, `python -S`), whose own peak is
#: what the figure may carry in (an overestimate of a few MB, never an underestimate).
_SHIM = """
import os, sys, time
t0 = time.perf_counter()
devnull = os.open(os.devnull, os.O_WRONLY)
quiet = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=quiet)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - t0, os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss_kib(args: list[str]) -> tuple[float, int, int]:
    """(wall, exit code, peak RSS KiB) of `args`, measured by a small shim process."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", _SHIM, *args], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def naive(world: World, evm_url: str, sol_url: str) -> dict[str, Decimal]:
    """Read every value with one request each, as a script written with the libraries would."""
    import yaml
    from solana.rpc.async_api import AsyncClient
    from solana.rpc.models import TokenAccountOpts
    from solders.pubkey import Pubkey
    from web3 import Web3

    reg = yaml.safe_load(world.registry.read_text())
    erc20 = [
        {
            "name": n,
            "inputs": i,
            "outputs": [{"type": "uint256", "name": ""}],
            "type": "function",
            "stateMutability": "view",
        }
        for n, i in [
            ("decimals", []),
            ("totalSupply", []),
            ("balanceOf", [{"type": "address", "name": "a"}]),
        ]
    ]
    w3 = Web3(Web3.HTTPProvider(evm_url))
    out: dict[str, Decimal] = {}

    async def solana_side() -> dict[str, Decimal]:
        res: dict[str, Decimal] = {}
        async with AsyncClient(sol_url) as client:
            for tok in reg["tokens"]:
                dep = tok["deployments"][1]
                mint = Pubkey.from_string(dep["mint"])
                supply = (await client.get_token_supply(mint)).value
                excluded = 0
                for owner in dep["exclude_owners"]:
                    accounts = (
                        await client.get_token_accounts_by_owner(
                            Pubkey.from_string(owner), TokenAccountOpts(mint=mint)
                        )
                    ).value
                    for a in accounts:
                        excluded += int.from_bytes(bytes(a.account.data)[64:72], "little")
                res[tok["symbol"]] = (Decimal(int(supply.amount)) - excluded).scaleb(
                    -supply.decimals
                )
        return res

    for tok in reg["tokens"]:
        dep = tok["deployments"][0]
        c = w3.eth.contract(address=Web3.to_checksum_address(dep["address"]), abi=erc20)
        decimals = c.functions.decimals().call()
        total = c.functions.totalSupply().call()
        excluded = sum(
            c.functions.balanceOf(Web3.to_checksum_address(x)).call() for x in dep["exclude"]
        )
        out[tok["symbol"]] = Decimal(total - excluded).scaleb(-decimals)
    for symbol, amount in asyncio.run(solana_side()).items():
        out[symbol] += amount
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--naive", default="10,100")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    naive_sizes = {int(x) for x in args.naive.split(",") if x}

    start_wall = min(peak_rss_kib([CLI, "--version"])[0] for _ in range(args.repeat))
    imports = min(
        peak_rss_kib(
            [
                sys.executable,
                "-c",
                "import xstock_audit.cli, xstock_audit.audit, xstock_audit.registry, "
                "xstock_audit.chains.evm, xstock_audit.chains.solana, xstock_audit.report.jsonfmt",
            ]
        )[0]
        for _ in range(args.repeat)
    )
    print(
        f"process start: `xstock-audit --version` {start_wall:.3f} s; "
        f"with the imports a check needs {imports:.3f} s"
    )
    print(f"latency added per HTTP request: {args.latency * 1000:.0f} ms; K = {args.k}")
    print(
        f"{'N':>5} {'wall s':>8} {'EVM req':>8} {'SOL req':>8} {'peak RSS MB':>12} "
        f"{'naive s':>9} {'ratio':>7}"
    )
    rows = []
    with AnvilNode(extra_args=("--gas-limit", "1000000000")) as evm, SolanaNode() as sol:
        for n in sizes:
            folder = Path(tempfile.mkdtemp(prefix=f"xstock-bench-{n}-"))
            with (
                RpcProxy(evm.url, delay=args.latency) as ep,
                RpcProxy(sol.url, delay=args.latency) as sp,
            ):
                t0 = time.perf_counter()
                world = build(
                    folder,
                    evm_url=ep.url,
                    evm_node_url=evm.url,
                    evm_sender=evm.accounts[0],
                    chain_id=evm.chain_id,
                    solana=sol,
                    solana_url=sp.url,
                    n=n,
                    k=args.k,
                )
                setup = time.perf_counter() - t0
                # the world (and the Solana node's ledger of every transaction that built
                # it) is millions of objects in this process, which serves the Solana node
                # and both proxies: without this, a full collection stalls the node for
                # half a second at random in the runs measured
                gc.collect()
                gc.freeze()
                best: tuple[float, int, int] | None = None
                peak = 0
                for _ in range(args.repeat):
                    ep.reset()
                    sp.reset()
                    wall, code, rss = peak_rss_kib(
                        [CLI, "check", str(world.registry), "-f", "json"]
                    )
                    if code != 0:
                        print(f"N={n}: check exited {code}", file=sys.stderr)
                        return 1
                    if best is None or wall < best[0]:
                        best = (wall, ep.requests, sp.requests)
                    peak = max(peak, rss)
                assert best is not None
                naive_s = ratio = None
                if n in naive_sizes:
                    ep.reset()
                    sp.reset()
                    t0 = time.perf_counter()
                    figures = naive(world, ep.url, sp.url)
                    naive_s = time.perf_counter() - t0
                    wrong = [s for s, v in figures.items() if v != world.onchain[s]]
                    if wrong:
                        print(f"naive read disagrees for {wrong[:3]}", file=sys.stderr)
                        return 1
                    ratio = naive_s / best[0]
                rows.append((n, *best, peak, naive_s, ratio, setup))
                print(
                    f"{n:>5} {best[0]:>8.2f} {best[1]:>8} {best[2]:>8} {peak / 1024:>12.1f} "
                    f"{(f'{naive_s:.1f}' if naive_s else '-'):>9} "
                    f"{(f'{ratio:.0f}x' if ratio else '-'):>7}   (setup {setup:.1f} s)",
                    flush=True,
                )
            shutil.rmtree(folder, ignore_errors=True)
    walls = {row[0]: row[1] for row in rows}
    if 1000 in walls and 10000 in walls:
        print(f"wall time at N=10000 / at N=1000: {walls[10000] / walls[1000]:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
