"""Deployless batch calls (`chains/evm/batchread.py`, `BatchRead.yul`): the committed
bytecode is what the pinned solc makes of the source; on real nodes (anvil and py-evm) a
batch call returns what each call returns alone; a starved call is never a revert; and
a batch that ran at another block than asked is refused."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.evm import (
    AnvilNode,
    EvmTestNode,
    deploy,
    deploy_backed_token,
    deploy_plain_token,
    transact,
)
from support.proxy import Reply, RpcProxy

from xstock_audit.chains import ChainRead
from xstock_audit.chains.evm import EvmChain, EvmDeployment, EvmReader
from xstock_audit.chains.evm import batchread as br
from xstock_audit.chains.evm.values import (
    SEL_BALANCE_OF,
    SEL_DECIMALS,
    SEL_LATEST_ROUND_DATA,
    SEL_MULTIPLIER,
    SEL_TOTAL_SUPPLY,
)
from xstock_audit.rpc import make_client

ROOT = Path(__file__).resolve().parents[1]
HOLDER = to_checksum_address("0x00000000000000000000000000000000000000a1")
NOBODY = to_checksum_address("0x00000000000000000000000000000000000000d4")


@pytest.mark.slow
def test_committed_bytecode_is_the_pinned_solc_build() -> None:
    node = shutil.which("node")
    assert node, "node is needed (npm ci installs the pinned solc)"
    script = """
const solc = require("solc");
const fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
const out = JSON.parse(solc.compile(JSON.stringify({
  language: "Yul", sources: {"BatchRead.yul": {content: src}},
  settings: {optimizer: {enabled: true, details: {yul: true}}, evmVersion: process.argv[2],
             outputSelection: {"*": {"*": ["evm.bytecode.object"]}}}})));
process.stdout.write(JSON.stringify({errors: out.errors ?? [], version: solc.version(),
  bytecode: out.contracts["BatchRead.yul"].BatchRead.evm.bytecode.object}));
"""
    folder = ROOT / "xstock_audit" / "chains" / "evm"
    artifact = json.loads((folder / "BatchRead.json").read_text())
    built = json.loads(
        subprocess.run(
            [node, "-e", script, str(folder / "BatchRead.yul"), artifact["evmVersion"]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert built["errors"] == []
    assert artifact["evmVersion"] == "paris"  # no PUSH0: runs on every EVM chain
    assert artifact["solcVersion"] == built["version"]
    assert artifact["bytecode"] == "0x" + built["bytecode"]
    assert br.bytecode().hex() == built["bytecode"]


# -- the codec ------------------------------------------------------------------------------


def test_runs_of_one_target_are_grouped_up_to_255_calls() -> None:
    target = "0x" + "ab" * 20
    calls = [(target, SEL_DECIMALS)] * 300 + [("0x" + "cd" * 20, SEL_TOTAL_SUPPLY)]
    data = br.encode(calls, [32] * len(calls))
    code = len(br.bytecode())
    size = int.from_bytes(data[-32:], "big")
    groups = data[code:-32]
    assert len(groups) == size == 3 * 21 + 301 * (1 + 4 + 1)
    assert groups[20] == 255 and groups[21 + 255 * 6 + 20] == 45
    with pytest.raises(ValueError, match="255 bytes"):
        br.encode([(target, b"\0" * 256)], [32])


def _output(*entries: tuple[int, int, bytes], number: int = 7, stamp: int = 9) -> bytes:
    head = b"\0" + number.to_bytes(8, "big") + stamp.to_bytes(8, "big")
    return head + b"".join(bytes((ok,)) + size.to_bytes(2, "big") + d for ok, size, d in entries)


def test_decode_keeps_results_up_to_their_cap() -> None:
    word = bytes(range(32))
    out = _output((1, 32, word), (0, 0, b""), (1, 100, word), (1, 3, b"abc"))
    number, stamp, results = br.decode(out, [32, 32, 32, 32])
    assert (number, stamp) == (7, 9)
    assert results == [(True, word), (False, b""), (True, word), (True, b"abc")]


@pytest.mark.parametrize(
    "out, why",
    [
        (b"", "not a batch result"),
        (b"\xef" + bytes(16), "not a batch result"),
        (_output((1, 32, bytes(31))), "cut short"),
        (_output((2, 0, b"")), "malformed"),
        (_output((1, 0, b""), (1, 0, b"")), "after its 1 results"),
        (_output(), "cut short"),
    ],
)
def test_decode_refuses_malformed_output(out: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        br.decode(out, [32])


# -- on real nodes ---------------------------------------------------------------------------


def _eth_call(node: EvmTestNode, tx: dict[str, str]) -> tuple[bool, bytes]:
    reply = node.rpc_raw("eth_call", [tx, "latest"])
    if "error" in reply:
        return False, b""
    return True, bytes.fromhex(reply["result"][2:])


@pytest.fixture(scope="module")
def contracts(evm_node: EvmTestNode) -> dict[str, str]:
    plain = deploy_plain_token(evm_node, decimals=6)
    transact(evm_node, plain.functions.mint(HOLDER, 123_456))
    backed = deploy_backed_token(evm_node)
    feed = deploy(evm_node, "MockAggregator", 8, "TEST / USD")
    return {"plain": plain.address, "backed": backed.address, "feed": feed.address, "eoa": NOBODY}


SELECTORS = [
    SEL_DECIMALS,
    SEL_TOTAL_SUPPLY,
    SEL_BALANCE_OF + bytes(12) + bytes.fromhex(HOLDER[2:]),
    SEL_MULTIPLIER,
    SEL_LATEST_ROUND_DATA,
    bytes.fromhex("06fdde03"),  # name(): a string, longer than a word
    b"",
    b"\x01\x02",
]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["plain", "backed", "feed", "eoa"]),
            st.sampled_from(SELECTORS),
            st.sampled_from([0, 1, 32, 160, 255]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_batch_call_returns_what_each_call_returns_alone(
    evm_node: EvmTestNode, contracts: dict[str, str], calls: list[tuple[str, bytes, int]]
) -> None:
    targets = [(contracts[name], data) for name, data, _ in calls]
    caps = [cap for _, _, cap in calls]
    reply = evm_node.rpc("eth_call", [{"data": "0x" + br.encode(targets, caps).hex()}, "latest"])
    number, stamp, results = br.decode(bytes.fromhex(reply[2:]), caps)
    assert number == evm_node.block_number()
    assert stamp == evm_node.latest_timestamp()
    for (to, data), cap, (ok, got) in zip(targets, caps, results, strict=True):
        alone_ok, alone = _eth_call(evm_node, {"to": to, "data": "0x" + data.hex()})
        assert ok == alone_ok
        if ok:
            assert got == alone[:cap]


def _read(c: EvmChain, deps: list[EvmDeployment]) -> ChainRead:
    async def go() -> ChainRead:
        async with make_client() as client:
            return await EvmReader("ethereum", c, client).read(deps)

    return asyncio.run(go())


def _chain(url: str, **kw: Any) -> EvmChain:
    return EvmChain.model_validate({"type": "evm", "chain_id": 31337, "rpc": [url], **kw})


def _dep(address: str) -> EvmDeployment:
    return EvmDeployment.model_validate({"chain": "ethereum", "address": address})


@pytest.mark.slow
def test_a_call_that_runs_out_of_gas_is_an_error_not_a_revert() -> None:
    """A contract that burns all its gas sits among real tokens: its batch is split until it
    is alone, and it is ERROR ("ran out of gas"); a starved multiplier() must never read as
    "reverted, so a plain ERC-20"."""
    with AnvilNode() as anvil, RpcProxy(anvil.url) as proxy:
        tokens = [deploy_backed_token(anvil) for _ in range(3)]
        for t in tokens:
            transact(anvil, t.functions.mint(HOLDER, 10**18))
        guzzler = deploy(anvil, "GasGuzzler")
        deps = [_dep(t.address) for t in tokens[:2]] + [
            _dep(guzzler.address),
            _dep(tokens[2].address),
        ]
        r = _read(_chain(proxy.url, multicall_chunk=500), deps)
        # alone, every batch it is in starves: the chain is still read, the token is ERROR
        alone = _read(_chain(anvil.url), [_dep(guzzler.address)])
    assert alone.error is None and alone.pin is not None
    assert "ran out of gas" in (alone.supplies[guzzler.address].error or "")
    assert r.error is None
    bad = r.supplies[guzzler.address]
    assert bad.error is not None and "ran out of gas" in bad.error
    for t in tokens:
        s = r.supplies[t.address]
        assert s.error is None and s.has_multiplier and s.total_supply == 1
    # 24 calls (6 a deployment, the guzzler's at 12..17) in one batch, halved wherever a
    # batch failed until each of the guzzler's calls is alone: [0,24) -> [12,24) ->
    # [12,18) -> [12,15) [15,18) -> [12,13) [13,15) [15,16) [16,18) -> 4 single calls
    assert proxy.methods["eth_call"] == 1 + 2 + 2 + 2 + 4 + 4


@pytest.mark.slow
def test_batches_that_ran_in_different_blocks_are_refused() -> None:
    """A node that answers some of a read's batch calls from another block's state: each
    batch reports the block it ran in, and the chain is an error rather than a mix. (The
    number is not held to the pinned one: on some chains, Arbitrum's, NUMBER is an L1
    block's; the batches of one read must agree with each other.)"""
    with AnvilNode() as anvil:
        tokens = [deploy_plain_token(anvil, decimals=0) for _ in range(2)]
        for t in tokens:
            transact(anvil, t.functions.mint(HOLDER, 5))
        anvil.mine(3)
        pinned = anvil.block_number()
        seen = {"batches": 0}

        def mixed_state(payload: Any) -> Reply | None:
            items = payload if isinstance(payload, list) else [payload]
            batches = [c for c in items if c.get("method") == "eth_call"]
            if not batches or any("to" in c["params"][0] for c in batches):
                return None
            for c in batches[1::2]:  # every other batch from an older block
                c["params"][1] = hex(pinned - 2)
            seen["batches"] += len(batches)
            import httpx

            return Reply(body=httpx.post(anvil.url, json=payload).content)

        with RpcProxy(anvil.url, fault=mixed_state) as proxy:
            deps = [_dep(t.address) for t in tokens]
            r = _read(_chain(proxy.url, multicall_chunk=6), deps)  # one batch a token
            same = _read(_chain(anvil.url, multicall_chunk=6), deps)  # the node itself
    assert seen["batches"] == 2
    assert r.error is not None
    assert f"the batch calls for block {pinned} ran in different blocks" in r.error
    assert same.error is None


@pytest.mark.parametrize("per_batch", [500, 10_000])
def test_batches_stay_within_the_creation_limits(per_batch: int) -> None:
    """However many calls `multicall_chunk` allows, a batch's init code stays within
    EIP-3860 and its results, each at its cap, within EIP-170; and no call is left out."""
    from xstock_audit.chains.evm.transport import deployless_chunks

    chain = _chain("http://127.0.0.1:1/", multicall_chunk=per_batch)
    holder = bytes(12) + bytes.fromhex(HOLDER[2:])
    targets: list[tuple[str, bytes]] = []
    for n in range(3_000):
        token = "0x" + n.to_bytes(20, "big").hex()
        targets += [(token, SEL_DECIMALS), (token, SEL_TOTAL_SUPPLY)]
        targets += [(token, SEL_BALANCE_OF + holder)] * 3
        targets.append((token, SEL_LATEST_ROUND_DATA))
    targets[600:600] = [("0x" + "ee" * 20, SEL_BALANCE_OF + holder)] * 700  # a long run
    caps = [160 if d[:4] == SEL_LATEST_ROUND_DATA else br.WORD for _, d in targets]
    chunks = deployless_chunks(chain, targets, caps)
    assert [a for a, _, _ in chunks] == [0, *(b for _, b, _ in chunks[:-1])]
    assert chunks[-1][1] == len(targets)
    for a, b, size in chunks:
        code = br.encode(targets[a:b], caps[a:b])
        assert len(code) <= br.MAX_INITCODE
        assert size == len(code)  # the size the HTTP grouping counts on
        assert br.HEADER + sum(3 + c for c in caps[a:b]) <= br.MAX_RETURNED
        assert b - a <= per_batch
