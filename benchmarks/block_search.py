"""`check --at` on EVM: finding the block of an instant on a chain of a million blocks.

    python benchmarks/block_search.py [--blocks 1000000] [--instants 50] [--latency 0.05]

A header-only node (tests/support/headers.py) serves a virtual chain of --blocks blocks
with irregular times (four eras of 14 s, 12 s with missed slots, 2 s and sub-2 s blocks,
and outages of hours) and, for comparison, a regular 12 s chain; every request goes through
a loopback proxy that delays it by --latency seconds. For --instants random instants the
reader's `read_at` (no deployments: the search alone) runs and the figures are printed:
sequential round trips (HTTP requests, as the node counted them), headers fetched, and wall
time per search. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.headers import HeaderNode, irregular_times  # noqa: E402
from support.proxy import RpcProxy  # noqa: E402

from xstock_audit.chains.evm import EvmChain, EvmReader  # noqa: E402
from xstock_audit.rpc import make_client  # noqa: E402
from xstock_audit.timefmt import from_unix  # noqa: E402


async def search(url: str, when: int) -> tuple[int, str]:
    chain = EvmChain.model_validate({"type": "evm", "chain_id": 31337, "rpc": [url]})
    async with make_client() as client:
        read = await EvmReader("bench", chain, client).read_at([], from_unix(when))
    assert read.pin is not None, read.error
    return read.pin.number, read.pin.how or ""


def run(name: str, times: list[int], instants: int, latency: float) -> None:
    rng = random.Random(1)
    requests: list[int] = []
    headers: list[int] = []
    walls: list[float] = []
    with HeaderNode(times) as node, RpcProxy(node.url, delay=latency) as proxy:
        for _ in range(instants):
            when = rng.randint(times[1], times[-1])
            node.reset()
            t0 = time.perf_counter()
            number, _how = asyncio.run(search(proxy.url, when))
            walls.append(time.perf_counter() - t0)
            assert number == node.block_at(when), (when, number)
            requests.append(node.requests)
            headers.append(node.headers)
    print(
        f"{name:<22} round trips max {max(requests)} mean {statistics.mean(requests):.2f} | "
        f"headers max {max(headers)} mean {statistics.mean(headers):.1f} | "
        f"wall mean {statistics.mean(walls) * 1000:.0f} ms at {latency * 1000:.0f} ms/request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=1_000_000)
    parser.add_argument("--instants", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    end = int(time.time()) - 3600
    n = args.blocks
    print(f"{n:,} blocks, {args.instants} random instants each")
    run("irregular (eras)", list(irregular_times(n, end)), args.instants, args.latency)
    regular = list(range(end - 12 * (n - 1), end + 1, 12))
    run("regular 12 s", regular, args.instants, args.latency)


if __name__ == "__main__":
    main()
