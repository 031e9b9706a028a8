"""Solana `check --at` speed: replaying N transactions through a loopback latency proxy.

    python benchmarks/solana_replay.py [--transactions 10000] [--latency 0.1] [--repeat 3]

A Token-2022 mint (ScaledUiAmount) with an excluded owner gets a few transactions before an
instant and N after it (MintToChecked to a holder, one in ten to the excluded owner's
account), all real transactions in the LiteSVM node (not timed). The node and the proxy run in
a child process, as a node is another machine (in-process, their JSON encoding would share
the reader's interpreter lock). Then `SolanaReader.read_at` reads the supply at the instant
through `RpcProxy(delay=--latency)` (every HTTP request delayed; all traffic on 127.0.0.1).
Printed: wall time of the read (best of --repeat), HTTP requests and the JSON-RPC calls by
method, transactions replayed; the result is checked against the supply the node held at the
instant.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from solders.keypair import Keypair  # noqa: E402
from spl.token import instructions as token_ix  # noqa: E402
from spl.token.models import MintToCheckedParams  # noqa: E402
from support.proxy import RpcProxy  # noqa: E402

from xstock_audit.chains import ChainRead  # noqa: E402
from xstock_audit.chains.solana import SolanaChain, SolanaDeployment, SolanaReader  # noqa: E402
from xstock_audit.rpc import make_client  # noqa: E402
from xstock_audit.sandbox.solana import TOKEN_2022_PROGRAM_ID, SolanaNode, spl  # noqa: E402
from xstock_audit.timefmt import from_unix  # noqa: E402

T0 = 1_767_225_600


def seed(node: SolanaNode, n: int) -> tuple[SolanaDeployment, int, int]:
    """The mint, and its raw supply and excluded balance at the instant T0 + 50."""
    node.warp_to_slot(1_000)
    node.set_unix_timestamp(T0)
    authority, treasury = Keypair(), Keypair()
    node.remember(authority, treasury)
    mint = spl.create_mint(
        node,
        decimals=8,
        mint_authority=authority,
        extensions=[spl.ScaledUiAmount(authority.pubkey(), 1.0)],
    )
    holder = spl.create_token_account(node, mint, Keypair().pubkey(), ata=True)
    kept = spl.create_token_account(node, mint, treasury, ata=True)
    spl.mint_to(node, mint, holder, 10**12)
    spl.mint_to(node, mint, kept, 10**11)
    supply_then = spl.get_mint(node, mint).supply
    excluded_then = spl.get_token_account(node, kept).amount
    node.warp_to_slot(1_100)
    node.set_unix_timestamp(T0 + 100)
    for i in range(n):
        if i % 400 == 0:  # a new slot every 400 transactions, as a busy mint would see
            node.warp_to_slot(1_100 + i // 400)
        params = MintToCheckedParams(
            program_id=TOKEN_2022_PROGRAM_ID,
            mint=mint,
            dest=kept if i % 10 == 0 else holder,
            mint_authority=authority.pubkey(),
            amount=1 + i,
            decimals=8,
        )
        node.send_transaction([token_ix.mint_to_checked(params)])
    deployment = SolanaDeployment.model_validate(
        {"chain": "sol", "mint": str(mint), "exclude_owners": [str(treasury.pubkey())]}
    )
    return deployment, supply_then, excluded_then


def read_at(url: str, d: SolanaDeployment) -> ChainRead:
    chain = SolanaChain.model_validate({"type": "solana", "rpc": [url]})

    async def go() -> ChainRead:
        async with make_client() as client:
            return await SolanaReader("sol", chain, client).read_at([d], from_unix(T0 + 50))

    return asyncio.run(go())


def serve(conn: Connection, n: int, latency: float) -> None:
    """The child: seed a node, serve it behind a proxy, answer `url` / `stats` / `stop`."""
    with SolanaNode() as node:
        started = time.perf_counter()
        d, supply_then, excluded_then = seed(node, n)
        seeded = time.perf_counter() - started
        with RpcProxy(node.url, delay=latency) as proxy:
            conn.send((proxy.url, d.model_dump_json(), supply_then, excluded_then, seeded))
            while (msg := conn.recv()) != "stop":
                if msg == "reset":
                    proxy.reset()
                    conn.send(None)
                else:
                    conn.send((proxy.requests, dict(proxy.methods)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.Process(
        target=serve, args=(theirs, args.transactions, args.latency), daemon=True
    )
    child.start()
    try:
        url, dump, supply_then, excluded_then, seeded = ours.recv()
        d = SolanaDeployment.model_validate_json(dump)
        print(f"seeded {args.transactions} transactions in {seeded:.1f}s")
        best = float("inf")
        for _ in range(args.repeat):
            ours.send("reset")
            ours.recv()
            started = time.perf_counter()
            r = read_at(url, d)
            elapsed = time.perf_counter() - started
            best = min(best, elapsed)
            ours.send("stats")
            requests, methods = ours.recv()
            s = r.supplies[d.mint]
            assert s.error is None, s.error
            assert s.total_supply == Decimal(supply_then).scaleb(-8), s.total_supply
            assert s.excluded == Decimal(excluded_then).scaleb(-8), s.excluded
            assert r.pin is not None
            print(
                f"  {elapsed:.2f}s, {requests} HTTP requests ({methods}), replayed {r.pin.replayed}"
            )
        print(
            f"read_at over {args.transactions} transactions at {args.latency * 1000:.0f} ms a "
            f"request: best {best:.2f}s"
        )
    finally:
        ours.send("stop")
        child.join(timeout=30)


if __name__ == "__main__":
    main()
