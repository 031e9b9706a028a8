"""The fault matrix: a fault-injecting proxy on 127.0.0.1 in front of real local chains.

Each case runs the installed `xstock-audit check` against an issuer of two tokens (an
ERC-20 on anvil and a Token-2022 mint on LiteSVM each) and asserts the verdict, the exit
code and the message. Transient faults must be survived (retries, Retry-After, failover);
persistent ones must end as ERROR with exit 3 and a message naming the (redacted) host;
nothing may hang, and a lying node must never turn UNDER into BACKED when a quorum is set.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.cli import CLI, check_json
from support.evm import AnvilNode
from support.proxy import Reply, RpcProxy, json_reply
from support.world import World, build

from xstock_audit.sandbox.solana import SANDBOX_GENESIS_HASH, SolanaNode

pytestmark = pytest.mark.slow  # local nodes, RPC proxies, the CLI in subprocesses

FAST = {"timeout": "2", "connect_timeout": "1", "retries": "2"}


@dataclass
class Env:
    folder: Path
    evm: AnvilNode
    sol: SolanaNode
    world: World

    def registry(
        self,
        evm_urls: list[str],
        sol_urls: list[str],
        *,
        evm_extra: dict[str, str] | None = None,
        sol_extra: dict[str, str] | None = None,
        custody: str | None = None,
        name: str = "r.yaml",
    ) -> Path:
        text = self.world.registry.read_text()
        for placeholder, urls, extra in (
            ("EVM_URL", evm_urls, evm_extra),
            ("SOL_URL", sol_urls, sol_extra),
        ):
            settings = {**FAST, **(extra or {})}
            lines = [
                f"    rpc: {json.dumps(urls)}",
                *(f"    {k}: {v}" for k, v in settings.items()),
            ]
            text = text.replace(f'    rpc: ["{placeholder}"]', "\n".join(lines))
        if custody is not None:
            text = text.replace('["custody.json"]', f'["{custody}"]')
        path = self.folder / name
        path.write_text(text)
        return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("faults")
    with AnvilNode() as evm, SolanaNode() as sol:
        world = build(
            folder,
            evm_url="EVM_URL",
            evm_node_url=evm.url,
            evm_sender=evm.accounts[0],
            chain_id=evm.chain_id,
            solana=sol,
            solana_url="SOL_URL",
            n=2,
            k=1,
        )
        yield Env(folder, evm, sol, world)


def statuses(doc: dict[str, Any]) -> set[str]:
    return {t["status"] for t in doc["tokens"]}


# --- fault hooks ---------------------------------------------------------------------------


def first(n: int, reply: Reply) -> Callable[[Any], Reply | None]:
    """Answer the first `n` requests with `reply`, then pass through."""
    state = {"seen": 0}

    def hook(payload: Any) -> Reply | None:
        state["seen"] += 1
        return reply if state["seen"] <= n else None

    return hook


def always(reply: Reply) -> Callable[[Any], Reply | None]:
    return lambda payload: reply


def rewrite(upstream: str, change: Callable[[dict[str, Any], dict[str, Any]], None]) -> Any:
    """Forward, then let `change(call, reply)` edit each reply of the batch."""

    def hook(payload: Any) -> Reply | None:
        replies = httpx.post(upstream, json=payload, timeout=30).json()
        calls = payload if isinstance(payload, list) else [payload]
        items = replies if isinstance(replies, list) else [replies]
        by_id = {c.get("id"): c for c in calls if isinstance(c, dict)}
        for r in items:
            call = by_id.get(r.get("id"))
            if call is not None:
                change(call, r)
        return json_reply(replies)

    return hook


# --- transient faults: survived ------------------------------------------------------------

TRANSIENT = {
    "429 with Retry-After": Reply(429, b"slow down", {"retry-after": "1"}),
    "429 without Retry-After": Reply(429, b"slow down"),
    "500": Reply(500, b"oops"),
    "502": Reply(502, b"bad gateway"),
    "503": Reply(503, b"unavailable"),
    "connection reset": Reply(close=True),
    "truncated body": Reply(200, b'[{"jsonrpc":"2.0","id":1,"res'),
    "non-JSON body": Reply(200, b"<html>maintenance</html>"),
    "rate-limit error object": Reply(
        200,
        json.dumps(
            {"jsonrpc": "2.0", "id": None, "error": {"code": 429, "message": "rate limited"}}
        ).encode(),
    ),
}


@pytest.mark.parametrize("fault", list(TRANSIENT), ids=list(TRANSIENT))
def test_transient_fault_is_survived(env: Env, fault: str) -> None:
    with (
        RpcProxy(env.evm.url, fault=first(1, TRANSIENT[fault])) as ep,
        RpcProxy(env.sol.url, fault=first(1, TRANSIENT[fault])) as sp,
    ):
        t0 = time.monotonic()
        code, doc, _ = check_json(env.registry([ep.url], [sp.url]))
        elapsed = time.monotonic() - t0
    assert code == 0, doc
    assert statuses(doc) == {"BACKED"}
    # the one failed request of each chain was retried, and the report counts it
    assert doc["chains"]["evm"]["retries"] == doc["chains"]["sol"]["retries"] == 1
    if fault == "429 with Retry-After":
        assert elapsed >= 1.0  # the server's Retry-After was honoured


# --- persistent faults: ERROR, exit 3, the host named (redacted) ----------------------------

PERSISTENT = {
    "503 forever": (Reply(503, b"down"), "HTTP 503"),
    "connection reset forever": (Reply(close=True), "RemoteProtocolError"),
    "non-JSON forever": (Reply(200, b"<html>"), "not JSON"),
    "hang past the timeout": (Reply(200, b"{}", delay=10), "timed out after 2s"),
    "JSON-RPC error object": (
        Reply(
            200,
            json.dumps(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": "internal"}}
            ).encode(),
        ),
        "internal",
    ),
}


@pytest.mark.parametrize("fault", list(PERSISTENT), ids=list(PERSISTENT))
def test_persistent_fault_is_error(env: Env, fault: str) -> None:
    reply, words = PERSISTENT[fault]
    with RpcProxy(env.evm.url, fault=always(reply)) as ep, RpcProxy(env.sol.url) as sp:
        code, doc, _ = check_json(env.registry([ep.url.rstrip("/") + "/v2/KEY"], [sp.url]))
    assert code == 3
    assert statuses(doc) == {"ERROR"}
    error = doc["chains"]["evm"]["error"]
    assert words in error
    assert error.startswith(ep.url.rstrip("/") + "/…")  # host shown, key not
    assert "KEY" not in json.dumps(doc)


def test_deadline_ends_a_hanging_run(env: Env) -> None:
    with (
        RpcProxy(env.evm.url, fault=always(Reply(200, b"{}", delay=30))) as ep,
        RpcProxy(env.sol.url) as sp,
    ):
        reg = env.registry([ep.url], [sp.url], evm_extra={"timeout": "25"})
        t0 = time.monotonic()
        code, doc, _ = check_json(reg, "--timeout", "3")
        elapsed = time.monotonic() - t0
    assert code == 3
    assert elapsed < 15
    assert "deadline of 3 s" in doc["chains"]["evm"]["error"]
    sol_deps = [d for t in doc["tokens"] for d in t["deployments"] if d["chain"] == "sol"]
    assert all(d["error"] is None for d in sol_deps)  # the other chain was read in time


def test_failover_to_the_second_endpoint(env: Env) -> None:
    with (
        RpcProxy(env.evm.url, fault=always(Reply(503, b""))) as bad,
        RpcProxy(env.evm.url) as good,
        RpcProxy(env.sol.url) as sp,
    ):
        code, doc, _ = check_json(env.registry([bad.url, good.url], [sp.url]))
    assert code == 0
    assert doc["chains"]["evm"]["rpc"] == good.url.rstrip("/")
    assert any("HTTP 503" in m for m in doc["chains"]["evm"]["messages"])


# --- batch replies ---------------------------------------------------------------------------


def test_batch_reply_out_of_order_is_matched_by_id(env: Env) -> None:
    def reverse(payload: Any) -> Reply | None:
        replies = httpx.post(env.evm.url, json=payload).json()
        if isinstance(replies, list):
            replies.reverse()
        return json_reply(replies)

    with RpcProxy(env.evm.url, fault=reverse) as ep, RpcProxy(env.sol.url) as sp:
        code, doc, _ = check_json(env.registry([ep.url], [sp.url]))
    assert code == 0 and statuses(doc) == {"BACKED"}


def test_batch_reply_missing_an_id_is_an_error_for_those_values(env: Env) -> None:
    def drop_calls(payload: Any) -> Reply | None:
        replies = httpx.post(env.evm.url, json=payload).json()
        if isinstance(replies, list):
            replies = [r for r in replies if not str(r.get("result", "")).startswith("0x0000")]
        return json_reply(replies)

    with RpcProxy(env.evm.url, fault=drop_calls) as ep, RpcProxy(env.sol.url) as sp:
        code, doc, _ = check_json(
            env.registry([ep.url], [sp.url], evm_extra={"multicall": "false"})
        )
    assert code == 3
    assert statuses(doc) == {"ERROR"}
    errors = [d["error"] for t in doc["tokens"] for d in t["deployments"] if d["error"]]
    assert errors and all("no answer to eth_call" in e for e in errors)


# --- identity and lag ------------------------------------------------------------------------


def test_node_of_another_chain_is_refused(env: Env) -> None:
    def mainnet(call: dict[str, Any], reply: dict[str, Any]) -> None:
        if call.get("method") == "eth_chainId":
            reply["result"] = "0x1"

    with (
        RpcProxy(env.evm.url, fault=rewrite(env.evm.url, mainnet)) as ep,
        RpcProxy(env.sol.url) as sp,
    ):
        code, doc, _ = check_json(env.registry([ep.url], [sp.url]))
    assert code == 3
    assert "chain id 1, the registry says 31337 (wrong network?)" in doc["chains"]["evm"]["error"]


def test_solana_node_of_another_cluster_is_refused(env: Env) -> None:
    def devnet(call: dict[str, Any], reply: dict[str, Any]) -> None:
        if call.get("method") == "getGenesisHash":
            reply["result"] = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"

    with (
        RpcProxy(env.evm.url) as ep,
        RpcProxy(env.sol.url, fault=rewrite(env.sol.url, devnet)) as sp,
    ):
        code, doc, _ = check_json(
            env.registry([ep.url], [sp.url], sol_extra={"genesis_hash": SANDBOX_GENESIS_HASH})
        )
    assert code == 3
    assert "wrong cluster" in doc["chains"]["sol"]["error"]


def test_lagging_node_is_skipped(env: Env) -> None:
    env.evm.mine(60)
    head = env.evm.block_number()

    def lag(call: dict[str, Any], reply: dict[str, Any]) -> None:
        if call.get("method") == "eth_blockNumber":
            reply["result"] = hex(head - 50)

    with (
        RpcProxy(env.evm.url, fault=rewrite(env.evm.url, lag)) as slow,
        RpcProxy(env.evm.url) as fresh,
        RpcProxy(env.evm.url) as fresh2,
        RpcProxy(env.sol.url) as sp,
    ):
        code, doc, _ = check_json(env.registry([slow.url, fresh.url, fresh2.url], [sp.url]))
    assert code == 0
    assert doc["chains"]["evm"]["rpc"] == fresh.url.rstrip("/")
    assert any("skipped" in m and "50 behind" in m for m in doc["chains"]["evm"]["messages"])


# --- a lying node ------------------------------------------------------------------------------


def _short_custody(env: Env) -> str:
    doc = json.loads((env.folder / "custody.json").read_text())
    q = doc["holdings"][0]["quantity"]
    doc["holdings"][0]["quantity"] = str(int(q.split(".")[0]) - 1)  # TK0 one share short
    (env.folder / "short.json").write_text(json.dumps(doc))
    return "short.json"


def _shave_evm_supply(env: Env) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """A liar's edit: TK0's totalSupply() one token lower (plain eth_calls: `multicall:
    false`)."""
    tk0 = env.world.registry.read_text().split('address: "')[1].split('"')[0].lower()

    def shave(call: dict[str, Any], reply: dict[str, Any]) -> None:
        params = call.get("params") or [{}]
        target = params[0] if isinstance(params[0], dict) else {}
        if (
            call.get("method") == "eth_call"
            and str(target.get("to", "")).lower() == tk0
            and str(target.get("data", "")).startswith("0x18160ddd")  # totalSupply()
        ):
            reply["result"] = "0x" + (int(reply["result"], 16) - 10**18).to_bytes(32, "big").hex()

    return shave


def _shave_solana_supply(env: Env) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """A liar's edit: TK0's mint supply one token lower in getMultipleAccounts."""
    mint = env.world.registry.read_text().split("mint: ")[1].split(",")[0]

    def inflate_supply(call: dict[str, Any], reply: dict[str, Any]) -> None:
        if call.get("method") != "getMultipleAccounts":
            return
        for key, value in zip(call["params"][0], reply["result"]["value"], strict=True):
            if key == mint and value:
                data = bytearray(base64.b64decode(value["data"][0]))
                supply = int.from_bytes(data[36:44], "little") - 10**8
                data[36:44] = supply.to_bytes(8, "little")
                value["data"][0] = base64.b64encode(bytes(data)).decode()

    return inflate_supply


def test_lying_evm_node_cannot_hide_a_shortfall_under_quorum(env: Env) -> None:
    shave = _shave_evm_supply(env)
    custody = _short_custody(env)
    with (
        RpcProxy(env.evm.url, fault=rewrite(env.evm.url, shave)) as liar,
        RpcProxy(env.evm.url) as honest,
        RpcProxy(env.sol.url) as sp,
    ):
        # honest alone: UNDER
        code, doc, _ = check_json(
            env.registry([honest.url], [sp.url], evm_extra={"multicall": "false"}, custody=custody)
        )
        assert code == 1 and doc["tokens"][0]["status"] == "UNDER"
        # the liar alone hides it -- which is why the quorum exists
        code, doc, _ = check_json(
            env.registry([liar.url], [sp.url], evm_extra={"multicall": "false"}, custody=custody)
        )
        assert doc["tokens"][0]["status"] == "BACKED"
        # with quorum 2 the disagreement is an ERROR naming both values and hosts
        code, doc, _ = check_json(
            env.registry(
                [liar.url, honest.url],
                [sp.url],
                evm_extra={"multicall": "false", "quorum": "2"},
                custody=custody,
            )
        )
    assert code == 3
    tk = doc["tokens"][0]
    assert tk["status"] == "ERROR"
    error = tk["deployments"][0]["error"]
    assert "endpoints disagree on total_supply" in error
    assert liar.url.rstrip("/") in error and honest.url.rstrip("/") in error
    assert doc["tokens"][1]["status"] == "BACKED"  # the other token: both agree


def test_lying_solana_node_is_caught_by_quorum(env: Env) -> None:
    inflate_supply = _shave_solana_supply(env)
    custody = _short_custody(env)
    with (
        RpcProxy(env.evm.url) as ep,
        RpcProxy(env.sol.url, fault=rewrite(env.sol.url, inflate_supply)) as liar,
        RpcProxy(env.sol.url) as honest,
    ):
        code, doc, _ = check_json(
            env.registry(
                [ep.url], [liar.url, honest.url], sol_extra={"quorum": "2"}, custody=custody
            )
        )
    assert code == 3
    assert doc["tokens"][0]["status"] == "ERROR"
    sol = doc["tokens"][0]["deployments"][1]
    assert "endpoints disagree on total_supply" in sol["error"]
    assert any("quorum: 2 endpoints" in m for m in doc["chains"]["sol"]["messages"])


def test_quorum_agreeing_nodes_give_the_verdict(env: Env) -> None:
    with (
        RpcProxy(env.evm.url) as a,
        RpcProxy(env.evm.url) as b,
        RpcProxy(env.sol.url) as c,
        RpcProxy(env.sol.url) as d,
    ):
        code, doc, _ = check_json(
            env.registry(
                [a.url, b.url], [c.url, d.url], evm_extra={"quorum": "2"}, sol_extra={"quorum": "2"}
            )
        )
    assert code == 0 and statuses(doc) == {"BACKED"}
    assert any("same block" in m for m in doc["chains"]["evm"]["messages"])
    assert any("same slot" in m for m in doc["chains"]["sol"]["messages"])


# --- a lying node, check --at -------------------------------------------------------------------


def test_at_with_quorum_each_endpoint_reads_the_instant_and_they_must_agree(env: Env) -> None:
    """`check --at` on chains with `quorum: 2`: the liar is caught as at the head, where
    one endpoint alone would give its verdict; agreeing nodes give the verdict, with the
    quorum in the chains' messages."""
    custody = _short_custody(env)
    instant = str(int(time.time()))  # after every transaction of the world

    def at_quorum(evm_urls: list[str], sol_urls: list[str]) -> tuple[int, dict[str, Any], str]:
        registry = env.registry(
            evm_urls,
            sol_urls,
            evm_extra={"multicall": "false", "quorum": "2"},
            sol_extra={"quorum": "2"},
            custody=custody,
        )
        return check_json(registry, "--at", instant)

    with (
        RpcProxy(env.evm.url, fault=rewrite(env.evm.url, _shave_evm_supply(env))) as evm_liar,
        RpcProxy(env.evm.url) as evm_honest,
        RpcProxy(env.sol.url, fault=rewrite(env.sol.url, _shave_solana_supply(env))) as sol_liar,
        RpcProxy(env.sol.url) as sol_honest,
        RpcProxy(env.evm.url) as evm_honest2,
        RpcProxy(env.sol.url) as sol_honest2,
    ):
        code, doc, err = at_quorum([evm_liar.url, evm_honest.url], [sol_liar.url, sol_honest.url])
        assert code == 3, err
        tk0 = doc["tokens"][0]
        assert tk0["status"] == "ERROR"
        for d in tk0["deployments"]:
            assert "endpoints disagree on total_supply" in d["error"], d
        assert evm_liar.url.rstrip("/") in tk0["deployments"][0]["error"]
        assert sol_liar.url.rstrip("/") in tk0["deployments"][1]["error"]
        assert doc["tokens"][1]["status"] == "BACKED"  # the other token: both agree

        code, doc, err = at_quorum(
            [evm_honest.url, evm_honest2.url], [sol_honest.url, sol_honest2.url]
        )
    assert code == 1, err  # TK0 is short of custody, seen by both nodes alike
    assert [t["status"] for t in doc["tokens"]] == ["UNDER", "BACKED"]
    assert any("same block" in m for m in doc["chains"]["evm"]["messages"])
    assert any("quorum: 2 endpoints" in m for m in doc["chains"]["sol"]["messages"])


def test_at_with_quorum_fewer_answers_fail_the_chain(env: Env) -> None:
    with (
        RpcProxy(env.evm.url) as ep,
        RpcProxy(env.evm.url, fault=always(Reply(close=True))) as dead,
        RpcProxy(env.sol.url) as sp,
    ):
        code, doc, _ = check_json(
            env.registry(
                [ep.url, dead.url], [sp.url], evm_extra={"quorum": "2", **FAST}, name="q.yaml"
            ),
            "--at",
            str(int(time.time())),
        )
    assert code == 3
    assert "quorum of 2 endpoints not reached" in doc["chains"]["evm"]["error"]
    assert {t["status"] for t in doc["tokens"]} == {"ERROR"}


# --- interrupted runs --------------------------------------------------------------------------


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_run_leaves_no_report(env: Env, sig: int, code: int) -> None:
    with (
        RpcProxy(env.evm.url, fault=always(Reply(200, b"{}", delay=20))) as ep,
        RpcProxy(env.sol.url) as sp,
    ):
        # a generous connect timeout: on a busy machine the proxy may be slow to accept, and a
        # run that gave up on it would end (exit 3) before the signal
        reg = env.registry(
            [ep.url],
            [sp.url],
            evm_extra={"timeout": "30", "connect_timeout": "10"},
            name=f"int{code}.yaml",
        )
        out = env.folder / f"report-{code}.json"
        proc = subprocess.Popen(
            [CLI, "check", str(reg), "-f", "json", "-o", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while ep.requests == 0:  # signal only once the run is waiting on the network
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert "no report written" in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert not [f for f in os.listdir(env.folder) if f.startswith(f".report-{code}")]
