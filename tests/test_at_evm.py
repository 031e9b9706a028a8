"""`check --at` on EVM chains: the last block at or before an instant, every value read there.

- the block search alone (pure): chains of a million blocks with irregular times, the
  block it finds checked against a bisection of the test's own timestamps, round trips
  counted;
- on anvil and py-evm: mint, note the time, mint and burn more, change a Backed multiplier;
  `read_at` the noted time equals a direct read at that block and what the test minted; a
  scheduled multiplier counts exactly from its activation time;
- a node without the old state (anvil --prune-history; a proxy answering geth's and
  others' errors) is an ERROR naming the block and the endpoint; `archive_rpc` is used for
  past reads only, and its secrets never show;
- a million-block chain served by `support.headers.HeaderNode` in front of anvil: the
  block found, the supply there and the requests the node saw;
- the CLI end to end.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from support.cli import check_json
from support.evm import (
    AnvilNode,
    EvmTestNode,
    deploy_backed_token,
    deploy_plain_token,
    transact,
)
from support.headers import HeaderNode, irregular_times
from support.proxy import Reply, RpcProxy, json_reply

from xstock_audit.chains import ChainRead
from xstock_audit.chains.evm import EvmChain, EvmDeployment, EvmReader
from xstock_audit.chains.evm import blocksearch as bs
from xstock_audit.rpc import make_client
from xstock_audit.timefmt import from_unix

HOLDER = to_checksum_address("0x00000000000000000000000000000000000000a1")
TREASURY = to_checksum_address("0x00000000000000000000000000000000000000b2")
WAD = 10**18


def chain(rpc: Sequence[str], **kw: Any) -> EvmChain:
    return EvmChain.model_validate({"type": "evm", "chain_id": 31337, "rpc": list(rpc), **kw})


def dep(address: str, **kw: Any) -> EvmDeployment:
    return EvmDeployment.model_validate({"chain": "ethereum", "address": address, **kw})


def read_at(
    c: EvmChain, deps: list[EvmDeployment], when: datetime, now: datetime | None = None
) -> ChainRead:
    async def go() -> ChainRead:
        async with make_client() as client:
            return await EvmReader("ethereum", c, client, now=now).read_at(deps, when)

    return asyncio.run(go())


def read_head(c: EvmChain, deps: list[EvmDeployment]) -> ChainRead:
    async def go() -> ChainRead:
        async with make_client() as client:
            return await EvmReader("ethereum", c, client).read(deps)

    return asyncio.run(go())


# --- the search alone ----------------------------------------------------------------------


def shapes() -> dict[str, list[int]]:
    n = 1_000_000
    rng = random.Random(3)
    poisson = [1_500_000_000]
    heavy = [1_500_000_000]
    for _ in range(n - 1):
        poisson.append(poisson[-1] + max(1, round(rng.expovariate(1 / 12))))
        heavy.append(heavy[-1] + max(1, int(rng.paretovariate(1.1) * 3)))
    return {
        "eras and outages": list(irregular_times(n, 1_700_000_000)),
        "poisson": poisson,
        "heavy-tailed": heavy,
        # interpolation is useless: 1 s blocks, then a few blocks weeks apart
        "adversarial": [
            1_000_000_000 + (i if i < 999_990 else 999_990 + (i - 999_990) * 3_000_000)
            for i in range(n)
        ],
        # block 0 dated 1970, as Ethereum's genesis
        "genesis at 0": [0, *range(1_438_269_988, 1_438_269_988 + 13 * (n - 1), 13)],
    }


def search(times: Sequence[int], when: int, cache: dict[int, int]) -> tuple[bs.Found, list[int]]:
    """The search as the reader runs it: the first round trip brings blocks 0, 1 and the
    head; the sizes of the later batches are returned."""
    head = len(times) - 1
    for n in (0, 1, head):
        cache.setdefault(n, times[n])
    sizes: list[int] = []

    async def fetch(numbers: list[int]) -> dict[int, int]:
        assert numbers and all(0 <= n <= head for n in numbers)
        sizes.append(len(numbers))
        return {n: times[n] for n in numbers}

    return asyncio.run(bs.find(when, head, cache, fetch)), sizes


def test_search_finds_the_block_in_at_most_8_round_trips() -> None:
    rng = random.Random(11)
    for name, times in shapes().items():
        worst = 0
        for _ in range(150):
            when = rng.randint(times[1], times[-1])
            found, sizes = search(times, when, {})
            expected = bisect.bisect_right(times, when) - 1
            assert found.number == expected, name
            assert times[found.number] <= when
            if found.number < len(times) - 1:
                assert when < times[found.number + 1] == found.next_timestamp
            assert found.rounds == len(sizes) and found.headers == sum(sizes)
            assert max(sizes, default=0) <= bs.MAX_PROBES
            worst = max(worst, 1 + found.rounds)
        assert worst <= 8, f"{name}: {worst} round trips"


def test_search_exact_instants_and_the_ends() -> None:
    times = shapes()["eras and outages"]
    for block in (0, 1, 2, 499_999, 500_000, 999_998):
        found, _ = search(times, times[block], {})
        assert found.number == block  # time(block) <= when: the block itself
        if times[block] - 1 >= times[0]:
            found, _ = search(times, times[block] - 1, {})
            assert found.number == bisect.bisect_right(times, times[block] - 1) - 1
    found, sizes = search(times, times[-1] + 5, {})
    assert found.number == len(times) - 1 and found.next_timestamp is None and sizes == []
    with pytest.raises(bs.BeforeGenesis):
        search(times, times[0] - 1, {})


def test_search_regular_chain_two_round_trips() -> None:
    times = list(range(1_600_000_000, 1_600_000_000 + 12 * 1_000_000, 12))
    found, sizes = search(times, times[654_321] + 5, {})
    assert found.number == 654_321 and len(sizes) == 1  # interpolation was exact


def test_search_cache_is_reused() -> None:
    times = shapes()["poisson"]
    cache: dict[int, int] = {}
    first, _ = search(times, times[300_000] + 1, cache)
    again, sizes = search(times, times[300_000] + 1, cache)
    assert again.number == first.number == 300_000 and sizes == []


# --- on anvil and py-evm ---------------------------------------------------------------------


def test_at_noted_time_equals_a_direct_read_at_that_block(fresh_evm_node: EvmTestNode) -> None:
    node = fresh_evm_node
    plain = deploy_plain_token(node, decimals=6)
    backed = deploy_backed_token(node)
    transact(node, plain.functions.mint(HOLDER, 1000 * 10**6))
    transact(node, plain.functions.mint(TREASURY, 200 * 10**6))
    transact(node, backed.functions.mint(HOLDER, 100 * WAD))
    node.set_next_timestamp(node.latest_timestamp() + 10)  # the noted block, 10 s later
    transact(node, backed.functions.mint(TREASURY, 10 * WAD))
    noted_block, noted_time = node.block_number(), node.latest_timestamp()
    node.set_next_timestamp(noted_time + 100)  # the next block is 100 s later
    transact(node, plain.functions.mint(HOLDER, 500 * 10**6))
    transact(node, plain.functions.burn(HOLDER, 300 * 10**6))
    transact(node, backed.functions.mint(node.accounts[0], 50 * WAD))
    transact(
        node, backed.functions.burn(node.accounts[0], 20 * WAD)
    )  # a Backed burner burns its own
    transact(node, backed.functions.updateMultiplierValue(11 * WAD // 10, WAD, 0))

    deps = [dep(plain.address, exclude=[TREASURY]), dep(backed.address, exclude=[TREASURY])]
    c = chain([node.url])
    for when in (from_unix(noted_time + 50), from_unix(noted_time)):
        r = read_at(c, deps, when)
        assert r.error is None, r.error
        assert r.pin is not None
        assert r.pin.number == noted_block
        assert r.pin.time == from_unix(noted_time)
        assert r.pin.at == when
        assert r.pin.how is not None and r.pin.how.startswith("block search: ")
        p, b = r.supplies[plain.address], r.supplies[backed.address]
        # what the test put on chain before the noted time
        assert (p.total_supply, p.excluded, p.circulating) == (1200, 200, 1000)
        assert (b.total_supply, b.excluded, b.multiplier) == (110, 10, 1)
        # and a direct read at that block
        for s, token, places in ((p, plain, 6), (b, backed, 18)):
            total = token.functions.totalSupply().call(block_identifier=noted_block)
            held = token.functions.balanceOf(TREASURY).call(block_identifier=noted_block)
            assert s.total_supply == Decimal(total) / 10**places
            assert s.excluded == Decimal(held) / 10**places
    # the head has moved on: the figures above are the past's, not today's
    now = read_head(c, deps)
    assert now.supplies[plain.address].total_supply == 1400
    assert now.supplies[backed.address].multiplier == Decimal("1.1")
    # one second before the noted block: the block before, without its mint
    r = read_at(c, deps, from_unix(noted_time - 1))
    assert r.pin is not None and r.pin.number == noted_block - 1
    b = r.supplies[backed.address]
    assert (b.total_supply, b.excluded) == (100, 0)


def test_multiplier_counts_from_its_activation(fresh_evm_node: EvmTestNode) -> None:
    node = fresh_evm_node
    token = deploy_backed_token(node)
    transact(node, token.functions.mint(HOLDER, 100 * WAD))
    activation = node.latest_timestamp() + 1000
    transact(node, token.functions.updateMultiplierValue(12 * WAD // 10, WAD, activation))
    before = node.warp(activation - 1)
    at = node.warp(activation)
    node.warp(activation + 10)
    c, deps = chain([node.url]), [dep(token.address)]

    r = read_at(c, deps, from_unix(activation) - timedelta(milliseconds=1))
    assert r.pin is not None and r.pin.number == before
    s = r.supplies[token.address]
    assert s.total_supply == 100 and s.multiplier == 1
    assert s.schedule is not None
    assert s.schedule.new == Decimal("1.2") and s.schedule.at == from_unix(activation)
    assert token.functions.totalSupply().call(block_identifier=before) == 100 * WAD

    r = read_at(c, deps, from_unix(activation))
    assert r.pin is not None and r.pin.number == at
    s = r.supplies[token.address]
    assert s.total_supply == 120 and s.multiplier == Decimal("1.2") and s.schedule is None
    assert token.functions.totalSupply().call(block_identifier=at) == 120 * WAD


def test_before_genesis_and_after_the_head(evm_node: EvmTestNode) -> None:
    token = deploy_plain_token(evm_node, decimals=0)
    transact(evm_node, token.functions.mint(HOLDER, 5))
    genesis = int(evm_node.rpc("eth_getBlockByNumber", ["0x0", False])["timestamp"], 16)
    c, deps = chain([evm_node.url]), [dep(token.address)]
    r = read_at(c, deps, from_unix(genesis - 60))
    assert r.pin is None and r.error is not None
    assert "before the chain began" in r.error and "block 0" in r.error
    assert r.supplies[token.address].error == r.error

    head, head_time = evm_node.block_number(), evm_node.latest_timestamp()
    when = from_unix(head_time + 30)
    r = read_at(c, deps, when)
    assert r.pin is not None and r.pin.number == head
    assert r.pin.how is not None and "the head" in r.pin.how
    assert r.supplies[token.address].total_supply == 5
    # a node whose head is hours older than the instant is stuck: not taken as the chain then
    r = read_at(c, deps, from_unix(head_time + 7200), now=from_unix(head_time + 7200))
    assert r.pin is None and r.error is not None and f"block {head}" in r.error


@pytest.mark.slow
def test_pruned_anvil_is_an_error_naming_block_and_endpoint() -> None:
    with AnvilNode(extra_args=("--prune-history", "2")) as node:
        token = deploy_plain_token(node, decimals=0)
        transact(node, token.functions.mint(HOLDER, 7))
        noted_block, noted_time = node.block_number(), node.latest_timestamp()
        node.set_next_timestamp(noted_time + 100)
        for _ in range(5):
            transact(node, token.functions.mint(HOLDER, 1))
        c, deps = chain([node.url]), [dep(token.address)]
        r = read_at(c, deps, from_unix(noted_time + 10))
        assert r.pin is None and r.error is not None
        assert f"block {noted_block}" in r.error
        assert node.url in r.error and "archive" in r.error
        assert r.supplies[token.address].error == r.error
        # the head still reads: the node is fine for the present
        assert read_head(c, deps).supplies[token.address].total_supply == 12


#: what nodes say when asked for state they pruned
MISSING = [
    "missing trie node 4e7a0c1b3f9d (path ) state 0x4e7a0c1b is not available",  # geth
    "header not found",  # geth, a block beyond what it keeps
    "historical state 0x6a1b... is not available",  # geth path scheme
    "state at block #5 is pruned",  # nethermind, erigon style
]


def pruning_proxy(upstream: str, message: str, keep_from: list[int]) -> RpcProxy:
    """A proxy answering `message` for every state read older than block keep_from[0]."""

    def fault(payload: Any) -> Reply | None:
        items = payload if isinstance(payload, list) else [payload]
        state = [i for i in items if i.get("method") in ("eth_call", "eth_getCode")]
        if not state or not all(isinstance(i["params"][-1], str) for i in state):
            return None
        tags = [i["params"][-1] for i in state]
        if all(t == "latest" or int(t, 16) >= keep_from[0] for t in tags):
            return None
        body = [
            {"jsonrpc": "2.0", "id": i["id"], "error": {"code": -32000, "message": message}}
            for i in state
        ]
        if len(state) != len(items):
            return None  # mixed batches go through (not sent by the reader for old state)
        return json_reply(body if isinstance(payload, list) else body[0])

    return RpcProxy(upstream, fault=fault)


@pytest.mark.parametrize("message", MISSING)
def test_missing_state_messages_and_archive_rpc(evm_node: EvmTestNode, message: str) -> None:
    token = deploy_plain_token(evm_node, decimals=0)
    transact(evm_node, token.functions.mint(HOLDER, 40))
    noted_block, noted_time = evm_node.block_number(), evm_node.latest_timestamp()
    evm_node.set_next_timestamp(noted_time + 100)
    transact(evm_node, token.functions.mint(HOLDER, 2))
    keep_from = [evm_node.block_number()]
    deps, when = [dep(token.address)], from_unix(noted_time + 1)
    with pruning_proxy(evm_node.url, message, keep_from) as full_node:
        r = read_at(chain([full_node.url]), deps, when)
        assert r.pin is None and r.error is not None
        assert f"block {noted_block}" in r.error and full_node.url.rstrip("/") in r.error

        # archive_rpc: used first for past reads (here: the node itself, which has it all)
        c = chain([full_node.url], archive_rpc=[evm_node.url])
        full_node.reset()
        r = read_at(c, deps, when)
        assert r.error is None and r.pin is not None and r.pin.number == noted_block
        assert r.pin.rpc == evm_node.url and full_node.requests == 0
        assert r.supplies[token.address].total_supply == 40
        # ... and never for the present
        with RpcProxy(evm_node.url) as archive:
            read_head(chain([evm_node.url], archive_rpc=[archive.url]), deps)
            assert archive.requests == 0

        # an archive_rpc without the state: the read fails over to rpc, saying why
        c = chain([evm_node.url], archive_rpc=[full_node.url])
        r = read_at(c, deps, when)
        assert r.error is None and r.pin is not None and r.pin.rpc == evm_node.url
        assert r.supplies[token.address].total_supply == 40
        assert any(f"block {noted_block}" in getattr(n, "message", "") for n in r.notes)


# --- a million blocks --------------------------------------------------------------------------


@pytest.mark.slow
def test_million_blocks_header_node_in_front_of_anvil() -> None:
    times = irregular_times(1_000_000, int(time.time()) - 3600)
    with (
        AnvilNode(timestamp=times[0]) as anvil,
        HeaderNode(times, upstream=anvil.url) as headers,
    ):
        anvil.set_next_timestamp(times[1_000])
        token = deploy_plain_token(anvil, decimals=0)
        # (virtual block, change of supply): the test's own ledger
        ledger = [(120_000, 100), (400_000, 50), (600_001, -30), (999_000, 7)]
        for block, change in ledger:
            anvil.set_next_timestamp(times[block])
            fn = token.functions.mint if change > 0 else token.functions.burn
            transact(anvil, fn(HOLDER, abs(change)))

        def supply_at(block: int) -> int:
            return sum(change for b, change in ledger if b <= block)

        rng = random.Random(5)
        instants = [times[b] for b, _ in ledger] + [times[b] - 1 for b, _ in ledger]
        instants += [rng.randint(times[2_000], times[-1]) for _ in range(6)]
        c, deps = chain([headers.url]), [dep(token.address)]
        for when in instants:
            expected = headers.block_at(when)
            headers.reset()
            r = read_at(c, deps, from_unix(when))
            assert r.error is None, r.error
            assert r.pin is not None and r.pin.number == expected
            assert r.pin.time == from_unix(times[expected])
            assert r.supplies[token.address].total_supply == supply_at(expected)
            # the search's round trips, as the node saw them, and the one read of values
            assert 1 <= headers.header_requests <= 8, headers.header_requests
            assert headers.requests == headers.header_requests + 1
            assert r.pin.how is not None
            assert r.pin.how.startswith(f"block search: {headers.header_requests} round trip")
            assert f", {headers.headers} header" in r.pin.how


# --- the CLI -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_check_at(tmp_path: Path) -> None:
    with AnvilNode(timestamp=int(time.time()) - 600) as node:  # --at is never in the future
        token = deploy_plain_token(node, decimals=0)
        transact(node, token.functions.mint(HOLDER, 1000))
        noted_block, noted_time = node.block_number(), node.latest_timestamp()
        node.set_next_timestamp(noted_time + 100)
        transact(node, token.functions.mint(HOLDER, 500))  # today: 500 not in custody
        as_of = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        (tmp_path / "custody.json").write_text(
            json.dumps(
                {
                    "custodian": "c",
                    "account": "A-1",
                    "as_of": as_of.isoformat().replace("+00:00", "Z"),
                    "holdings": [{"isin": "US0378331005", "quantity": "1000"}],
                }
            )
        )
        with RpcProxy(node.url) as archive:
            secret = archive.url + "key-s3cr3t-archive"
            registry = tmp_path / "registry.yaml"
            registry.write_text(
                "version: 1\n"
                "chains:\n"
                "  evm:\n"
                "    type: evm\n"
                "    chain_id: 31337\n"
                f'    rpc: ["{node.url}"]\n'
                f'    archive_rpc: ["{secret}"]\n'
                "custodians:\n"
                "  c:\n"
                '    attestations: ["custody.json"]\n'
                "    max_age: 1d\n"
                "tokens:\n"
                "  - symbol: AAPLx\n"
                "    isin: US0378331005\n"
                "    custodian: c\n"
                "    deployments:\n"
                f'      - {{chain: evm, address: "{token.address}"}}\n'
            )
            code, report, err = check_json(registry)
            assert code == 1  # 1500 on chain, 1000 in custody
            assert archive.requests == 0
            when = from_unix(noted_time + 50)
            code, report, err = check_json(registry, "--at", str(noted_time + 50))
            assert archive.requests > 0
        evm = report["chains"]["evm"]
        assert evm["block"] == noted_block, report
        assert evm["at"].startswith(when.strftime("%Y-%m-%dT%H:%M:%S"))
        assert evm["how"].startswith("block search: ")
        assert code == 0, report
        text = json.dumps(report) + err
        assert "s3cr3t" not in text
