"""Request counts are behaviour: measured through a counting proxy in front of real nodes.

An issuer of N tokens x (EVM + Solana) x K excluded holders is read in two HTTP requests
on the EVM chain and one on Solana (one JSON-RPC batch each); batch calls (deployless or
Multicall3) that fail as too large are split, batches a node refuses as too large are
halved, a node that refuses creation calls is read through Multicall3, and without
Multicall3 or deployless calls the values go as plain eth_calls.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli import CLI
from support.evm import AnvilNode
from support.proxy import Reply, RpcProxy, json_reply
from support.world import World, build

from xstock_audit.sandbox.solana import SolanaNode

pytestmark = pytest.mark.slow  # local nodes, RPC proxies, the CLI in subprocesses

N, K = 25, 3


@pytest.fixture(scope="module")
def nodes() -> Iterator[tuple[AnvilNode, SolanaNode]]:
    with AnvilNode() as evm, SolanaNode() as sol:
        yield evm, sol


def world(
    tmp: Path,
    nodes: tuple[AnvilNode, SolanaNode],
    evm_proxy: RpcProxy,
    sol_proxy: RpcProxy,
    *,
    evm_settings: str = "",
    solana_settings: str = "",
    n: int = N,
) -> World:
    evm, sol = nodes
    return build(
        tmp,
        evm_url=evm_proxy.url,
        evm_node_url=evm.url,
        evm_sender=evm.accounts[0],
        chain_id=evm.chain_id,
        solana=sol,
        solana_url=sol_proxy.url,
        n=n,
        k=K,
        evm_settings=evm_settings,
        solana_settings=solana_settings,
    )


def check(w: World) -> dict[str, Any]:
    p = subprocess.run(
        [CLI, "check", str(w.registry), "-f", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=300,
    )
    doc: dict[str, Any] = json.loads(p.stdout)
    assert p.returncode == doc["exit_code"]
    return doc


def assert_all_backed(w: World, doc: dict[str, Any]) -> None:
    bad = [
        (t["symbol"], t["status"], [(d["circulating"], d["error"]) for d in t["deployments"]])
        for t in doc["tokens"]
        if t["status"] != "BACKED"
    ]
    assert not bad, bad[:3]
    assert doc["summary"]["BACKED"] == w.n
    for t in doc["tokens"]:
        assert Decimal(t["onchain"]) == w.onchain[t["symbol"]]


@pytest.mark.parametrize("deployless", [True, False], ids=["deployless", "aggregate3"])
def test_two_requests_evm_one_solana(
    tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode], deployless: bool
) -> None:
    evm, sol = nodes
    with RpcProxy(evm.url) as ep, RpcProxy(sol.url) as sp:
        w = world(tmp_path, nodes, ep, sp, evm_settings=f"deployless: {str(deployless).lower()}")
        ep.reset()
        sp.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        assert doc["exit_code"] == 0
        assert ep.requests == 2, ep.methods
        assert sp.requests == 1, sp.methods
        # EVM: chain id + pin (+ the Multicall3 probe for aggregate3), then every value in
        # batch calls (or aggregate3 calls) of at most 500 calls each
        assert ep.methods["eth_chainId"] == 1
        assert ep.methods["eth_getCode"] == (0 if deployless else 1)
        calls_per_token = 2 + K + 4  # decimals, totalSupply, K balances, 4 multiplier views
        expected_chunks = -(-(N * calls_per_token + 0) // 500)
        assert ep.methods["eth_call"] == expected_chunks
        # Solana: excluded owners once per owner and token program, mints and clock in
        # getMultipleAccounts, all in one batch at one slot
        assert sp.methods["getTokenAccountsByOwner"] == K * 2
        assert sp.methods["getMultipleAccounts"] == -(-(1 + N) // 100)
        assert doc["chains"]["evm"]["requests"] == 2


def test_small_chunks_stay_in_one_batch_and_small_batches_cost_requests(
    tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode]
) -> None:
    evm, sol = nodes
    with RpcProxy(evm.url) as ep, RpcProxy(sol.url) as sp:
        w = world(
            tmp_path,
            nodes,
            ep,
            sp,
            evm_settings="multicall_chunk: 10\nbatch_size: 7",
            solana_settings="batch_size: 1",
        )
        ep.reset()
        sp.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        chunks = -(-(N * (2 + K + 4)) // 10)
        assert ep.methods["eth_call"] == chunks
        assert ep.requests == 1 + -(-chunks // 7)
        assert sp.requests == 2 * K + -(-(1 + N) // 100)  # every call alone, concurrently


def batch_calls(data: str) -> int:
    """How many calls a deployless batch call's init code carries (BatchRead's input: the
    groups, then their length as a word), or how many inner calls an aggregate3 call has."""
    raw = bytes.fromhex(data[2:])
    if raw[:4] == bytes.fromhex("82ad56cb"):  # aggregate3((address,bool,bytes)[])
        return int.from_bytes(raw[4 + 32 : 4 + 64], "big")
    size = int.from_bytes(raw[-32:], "big")
    groups = raw[-32 - size : -32]
    p = count = 0
    while p < len(groups):
        calls = groups[p + 20]
        p += 21
        for _ in range(calls):
            p += groups[p] + 2  # length byte, calldata, cap byte
            count += 1
    return count


@pytest.mark.parametrize("deployless", [True, False], ids=["deployless", "aggregate3"])
def test_failed_chunks_are_split(
    tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode], deployless: bool
) -> None:
    """A node whose gas cap refuses batch calls of more than 40 inner calls."""
    evm, sol = nodes
    sizes: list[int] = []

    def out_of_gas(payload: Any) -> Reply | None:
        if not isinstance(payload, list) or not any(
            isinstance(c, dict) and c.get("method") == "eth_call" for c in payload
        ):
            return None
        replies = []
        upstream = httpx.post(evm.url, json=payload).json()
        by_id = {r["id"]: r for r in upstream}
        for c in payload:
            inner = batch_calls(c["params"][0]["data"]) if c.get("method") == "eth_call" else 0
            sizes.append(inner)
            if inner > 40:
                replies.append(
                    {
                        "jsonrpc": "2.0",
                        "id": c["id"],
                        "error": {"code": -32000, "message": "out of gas"},
                    }
                )
            else:
                replies.append(by_id[c["id"]])
        return json_reply(replies)

    with RpcProxy(evm.url, fault=out_of_gas) as ep, RpcProxy(sol.url) as sp:
        settings = f"multicall_chunk: 200\ndeployless: {str(deployless).lower()}"
        w = world(tmp_path, nodes, ep, sp, evm_settings=settings)
        ep.reset()
        sizes.clear()
        doc = check(w)
        assert_all_backed(w, doc)
        # 225 calls in 2 chunks (200 + 25): 200 -> 100 -> 50 -> 25 (all under 40)
        assert ep.requests == 5
        assert sorted(s for s in sizes if s) == [25] * 9 + [50] * 4 + [100] * 2 + [200]


def test_batch_too_large_is_halved(tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode]) -> None:
    evm, sol = nodes

    def cap(payload: Any) -> Reply | None:
        if isinstance(payload, list) and len(payload) > 20:
            return json_reply(
                {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32600, "message": "batch too large"},
                }
            )
        return None

    with RpcProxy(evm.url) as ep, RpcProxy(sol.url, fault=cap) as sp:
        w = world(tmp_path, nodes, ep, sp, n=30)
        sp.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        # 6 owner calls + 1 getMultipleAccounts: under the cap
        assert sp.requests == 1
    with RpcProxy(evm.url, fault=cap) as ep, RpcProxy(sol.url) as sp:
        w = world(tmp_path / "b", nodes, ep, sp, n=30, evm_settings="multicall: false")
        ep.reset()
        sp.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        assert sp.requests == 1
        # 270 plain eth_calls in parts of 100, 100, 70 sent at once; the proxy refuses more
        # than 20 a batch, so each part is halved until it fits: a part of 100 costs
        # 1 + 2 + 4 refused and 8 answered requests, the part of 70 1 + 2 refused and 4
        assert ep.requests == 1 + 15 + 15 + 7


@pytest.mark.parametrize("deployless", [True, False], ids=["deployless", "aggregate3"])
def test_no_multicall_contract_needed_or_plain_eth_calls(
    tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode], deployless: bool
) -> None:
    """A chain without Multicall3: deployless batch calls need nothing on chain; without
    them the probe finds no Multicall3 code and the values go as plain eth_calls."""
    _, sol = nodes
    with AnvilNode(multicall=False) as bare, RpcProxy(bare.url) as ep, RpcProxy(sol.url) as sp:
        w = build(
            tmp_path,
            evm_url=ep.url,
            evm_node_url=bare.url,
            evm_sender=bare.accounts[0],
            chain_id=bare.chain_id,
            solana=sol,
            solana_url=sp.url,
            n=N,
            k=K,
            evm_settings=f"deployless: {str(deployless).lower()}",
        )
        ep.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        calls = N * (2 + K + 4)
        if deployless:
            assert ep.methods["eth_call"] == 1 and ep.requests == 2
        else:  # 100 plain eth_calls per batch
            assert ep.methods["eth_call"] == calls
            assert ep.requests == 1 + -(-calls // 100)


def test_a_node_that_refuses_creation_calls_is_read_through_multicall3(
    tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode]
) -> None:
    """Every deployless batch call is refused (an eth_call without `to`): the same block is
    read through Multicall3 aggregate3 instead, one more round trip."""
    evm, sol = nodes

    def no_creation(payload: Any) -> Reply | None:
        if not isinstance(payload, list):
            return None
        calls = [c for c in payload if c.get("method") == "eth_call"]
        if not calls or any("to" in c["params"][0] for c in calls):
            return None
        return json_reply(
            [
                {"jsonrpc": "2.0", "id": c["id"], "error": {"code": -32602, "message": "no to"}}
                for c in payload
            ]
        )

    with RpcProxy(evm.url, fault=no_creation) as ep, RpcProxy(sol.url) as sp:
        w = world(tmp_path, nodes, ep, sp)
        ep.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        assert ep.requests == 3  # probe, refused batch calls, aggregate3


def test_replies_from_different_slots_are_read_again(
    tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode]
) -> None:
    """The node moves on mid-batch once: the whole batch is asked again from the newer slot."""
    evm, sol = nodes
    state = {"batches": 0}

    def straddle(payload: Any) -> Reply | None:
        if not (isinstance(payload, list) and payload):
            return None
        state["batches"] += 1
        upstream = httpx.post(sol.url, json=payload).json()
        if state["batches"] == 1:  # one reply comes from the next slot
            first = next(r for r in upstream if isinstance(r.get("result"), dict))
            first["result"]["context"]["slot"] += 1
            sol.warp_to_slot(sol.slot + 1)  # and the node is there now
        return json_reply(upstream)

    with RpcProxy(evm.url) as ep, RpcProxy(sol.url, fault=straddle) as sp:
        w = world(tmp_path, nodes, ep, sp, n=5)
        sp.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        assert sp.requests == 2
        assert doc["chains"]["sol"]["slot"] == sol.slot


def test_never_one_slot_is_an_error(tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode]) -> None:
    evm, sol = nodes

    def always(payload: Any) -> Reply | None:
        if not (isinstance(payload, list) and payload):
            return None
        upstream = httpx.post(sol.url, json=payload).json()
        for i, r in enumerate(upstream):
            if isinstance(r.get("result"), dict):
                r["result"]["context"]["slot"] -= i  # every reply from another slot
        return json_reply(upstream)

    with RpcProxy(evm.url) as ep, RpcProxy(sol.url, fault=always) as sp:
        w = world(tmp_path, nodes, ep, sp, n=3)
        doc = check(w)
        assert doc["exit_code"] == 3
        assert {t["status"] for t in doc["tokens"]} == {"ERROR"}
        assert "at one slot" in doc["chains"]["sol"]["error"]


def test_body_limit_splits_into_concurrent_requests(
    tmp_path: Path, nodes: tuple[AnvilNode, SolanaNode]
) -> None:
    """Agave refuses request bodies over 50 KiB; the batch is cut to fit, in one round."""
    evm, sol = nodes
    with RpcProxy(evm.url) as ep, RpcProxy(sol.url) as sp:
        w = world(tmp_path, nodes, ep, sp, n=250, solana_settings="max_body_bytes: 8192")
        sp.reset()
        doc = check(w)
        assert_all_backed(w, doc)
        # 6 owner calls (~1.2 KB) and 3 getMultipleAccounts calls of 100, 100 and 51 keys
        # (~4.7, ~4.7, ~2.4 KB) do not fit in one 8 KiB body: two parts
        assert sp.methods["getMultipleAccounts"] == 3
        assert sp.requests == 2
