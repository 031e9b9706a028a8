"""Custody from Chainlink Proof of Reserve feeds (`format: chainlink-por`), end to end.

Real parts only: a PlainToken and a MockAggregator (tests/contracts) deployed on a local node
(anvil and py-evm, `evm_node`), a registry written here, and the real audit
(`xstock_audit.audit.run`, and the installed `xstock-audit check` for the exit codes). The
expected figures are worked out here from what the test put on chain.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.cli import CLI, check_json
from support.evm import (
    AnvilNode,
    EvmTestNode,
    NodeKind,
    deploy,
    deploy_plain_token,
    make_node,
    transact,
)
from support.proxy import RpcProxy
from support.world import isin_for
from web3.contract import Contract

from xstock_audit import registry as registry_mod
from xstock_audit.audit import run
from xstock_audit.errors import InputError
from xstock_audit.report.jsonfmt import document

TOKEN_DECIMALS = 18
FEED_DECIMALS = 8
FAST = "    timeout: 5\n    connect_timeout: 2\n    retries: 0\n"


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class Por:
    """What one test put on chain, and a registry over it."""

    node: EvmTestNode
    folder: Path
    tokens: dict[str, tuple[str, Contract]] = field(default_factory=dict)  # symbol -> isin, token
    feeds: dict[str, Contract] = field(default_factory=dict)  # isin -> aggregator

    def token(self, symbol: str, isin: str, shares: Decimal) -> Contract:
        token = deploy_plain_token(self.node, f"{symbol} test", symbol, TOKEN_DECIMALS)
        raw = int(shares * 10**TOKEN_DECIMALS)
        assert Decimal(raw) / 10**TOKEN_DECIMALS == shares
        transact(self.node, token.functions.mint(self.node.accounts[1], raw))
        self.tokens[symbol] = (isin, token)
        return token

    def feed(
        self,
        isin: str,
        answer: int,
        *,
        updated_at: int | None = None,
        round_id: int = 7,
        answered_in_round: int | None = None,
        decimals: int = FEED_DECIMALS,
    ) -> Contract:
        agg = deploy(self.node, "MockAggregator", decimals, f"{isin} reserves")
        updated = int(time.time()) - 60 if updated_at is None else updated_at
        answered = round_id if answered_in_round is None else answered_in_round
        transact(self.node, agg.functions.setRound(round_id, answer, updated, answered))
        # the double answers what it was given
        assert agg.functions.latestRoundData().call() == [
            round_id,
            answer,
            updated,
            updated,
            answered,
        ]
        self.feeds[isin] = agg
        return agg

    def registry(
        self,
        name: str = "registry.yaml",
        *,
        custodian: str = "por",
        feeds: dict[str, str] | None = None,
        feed_chain: str = "ethereum",
        rpc: str | None = None,
        extra_chains: str = "",
        files: dict[str, Decimal] | None = None,
        multicall: bool = True,
        max_age: str = "26h",
    ) -> Path:
        """`feeds`: ISIN -> address (default: the aggregators deployed); `files`: ISIN ->
        quantity in a fresh attestation file of custodian `files`."""
        url = rpc or self.node.url
        chain_extra = "" if multicall else "    multicall: false\n"
        feed_lines = "".join(
            f'      {isin}: {{chain: {feed_chain}, address: "{address}"}}\n'
            for isin, address in (
                feeds if feeds is not None else {i: a.address for i, a in self.feeds.items()}
            ).items()
        )
        text = (
            "version: 1\n"
            "chains:\n"
            "  ethereum:\n"
            "    type: evm\n"
            f"    chain_id: {self.node.chain_id}\n"
            f'    rpc: ["{url}"]\n' + FAST + chain_extra + extra_chains + "custodians:\n"
            "  por:\n"
            "    format: chainlink-por\n"
            f"    max_age: {max_age}\n"
            "    feeds:\n" + feed_lines + "  files:\n"
            '    attestations: ["custody/*.json"]\n'
            "    max_age: 26h\n"
            "tokens:\n"
        )
        for symbol, (isin, token) in self.tokens.items():
            text += (
                f"  - symbol: {symbol}\n"
                f"    isin: {isin}\n"
                f"    custodian: {custodian}\n"
                "    deployments:\n"
                f'      - {{chain: ethereum, address: "{token.address}"}}\n'
            )
        custody = self.folder / "custody"
        custody.mkdir(exist_ok=True)
        for old in custody.iterdir():
            old.unlink()
        statement = {
            "custodian": "files",
            "account": "SAFE-1",
            "as_of": _iso(int(time.time()) - 3600),
            "holdings": [{"isin": i, "quantity": str(q)} for i, q in (files or {}).items()],
        }
        (custody / "a.json").write_text(json.dumps(statement))
        path = self.folder / name
        path.write_text(text)
        return path


@pytest.fixture
def por(evm_node: EvmTestNode, tmp_path: Path) -> Por:
    return Por(evm_node, tmp_path)


def audit(path: Path) -> dict[str, Any]:
    """The real audit on the registry at `path`, as its JSON report."""
    return document(run(registry_mod.load(path), progress=None))


def only(doc: dict[str, Any]) -> dict[str, Any]:
    (token,) = doc["tokens"]
    return dict(token)


def raw_answer(shares: Decimal, decimals: int = FEED_DECIMALS) -> int:
    """A feed answer of `shares` with `decimals` places, exact."""
    raw = shares * 10**decimals
    assert raw == raw.to_integral_value()
    return int(raw)


# --- a good feed --------------------------------------------------------------------------------


def test_a_feed_answering_the_supply_backs_the_token(por: Por) -> None:
    isin = isin_for(101)
    shares = Decimal("1523.25")
    por.token("TSLAx", isin, shares)
    agg = por.feed(isin, raw_answer(shares), round_id=42)
    doc = audit(por.registry())
    t = only(doc)
    assert t["status"] == "BACKED", t["messages"]
    assert Decimal(t["onchain"]) == shares
    assert Decimal(t["custody"]) == shares
    assert Decimal(t["difference"]) == 0
    assert doc["exit_code"] == 0
    (att,) = t["attestations"]
    assert att["custodian"] == "por"
    assert agg.address.lower() in att["file"].lower()
    assert agg.address.lower() in att["account"].lower()
    assert "round 42" in att["file"]
    assert Decimal(att["quantity"]) == shares
    assert att["stale"] is False
    updated = agg.functions.latestRoundData().call()[3]
    assert att["as_of"] == _iso(updated)


def test_a_feed_of_other_decimals_is_scaled_exactly(por: Por) -> None:
    isin = isin_for(102)
    shares = Decimal("10.000000000000000001")  # 18 places: a float would lose the last one
    por.token("EXACTx", isin, shares)
    por.feed(isin, raw_answer(shares, 18), decimals=18)
    t = only(audit(por.registry()))
    assert t["status"] == "BACKED", t["messages"]
    assert Decimal(t["custody"]) == shares


def test_a_feed_below_the_supply_is_under(por: Por) -> None:
    isin = isin_for(103)
    por.token("SHORTx", isin, Decimal(100))
    por.feed(isin, raw_answer(Decimal("99.5")))
    doc = audit(por.registry())
    t = only(doc)
    assert t["status"] == "UNDER", t["messages"]
    assert Decimal(t["difference"]) == Decimal("-0.5")
    assert doc["exit_code"] == 1


# --- rounds that are not custody ----------------------------------------------------------------


def test_an_old_round_is_stale(por: Por) -> None:
    isin = isin_for(104)
    shares = Decimal(7)
    por.token("OLDx", isin, shares)
    por.feed(isin, raw_answer(shares), updated_at=int(time.time()) - 30 * 3600)
    doc = audit(por.registry(max_age="26h"))
    t = only(doc)
    assert t["status"] == "STALE", t["messages"]
    assert doc["exit_code"] == 3
    (att,) = t["attestations"]
    assert att["stale"] is True
    assert any("older than max_age 26h" in m for m in t["messages"]), t["messages"]


@pytest.mark.parametrize(
    ("answer", "words"),
    [(0, "answers 0"), (-5 * 10**FEED_DECIMALS, f"answers {-5 * 10**FEED_DECIMALS}")],
    ids=["zero", "negative"],
)
def test_a_non_positive_answer_is_error_never_zero_custody(
    por: Por, answer: int, words: str
) -> None:
    isin = isin_for(105)
    por.token("ZEROx", isin, Decimal(5))
    agg = por.feed(isin, answer)
    doc = audit(por.registry())
    t = only(doc)
    assert t["status"] == "ERROR"
    assert t["custody"] is None
    assert t["attestations"] == []
    text = " ".join(t["messages"])
    assert words in text and agg.address.lower() in text.lower(), t["messages"]
    # the feed was read: its fault is the message, not a missing attestation
    assert "no attestation found" not in text, t["messages"]
    assert doc["exit_code"] == 3


def test_an_incomplete_round_is_error(por: Por) -> None:
    isin = isin_for(106)
    shares = Decimal(3)
    por.token("HALFx", isin, shares)
    por.feed(isin, raw_answer(shares), round_id=9, answered_in_round=8)
    t = only(audit(por.registry()))
    assert t["status"] == "ERROR"
    assert t["custody"] is None
    text = " ".join(t["messages"])
    assert "round 9" in text and "incomplete" in text, t["messages"]


def test_a_round_never_updated_is_error(por: Por) -> None:
    isin = isin_for(107)
    shares = Decimal(3)
    por.token("NEVERx", isin, shares)
    por.feed(isin, raw_answer(shares), updated_at=0)
    t = only(audit(por.registry()))
    assert t["status"] == "ERROR"
    assert t["custody"] is None
    assert "updatedAt 0" in " ".join(t["messages"]), t["messages"]


def test_a_round_dated_in_the_future_is_not_used(por: Por) -> None:
    isin = isin_for(108)
    shares = Decimal(3)
    por.token("SOONx", isin, shares)
    future = int(time.time()) + 3 * 3600  # past the default clock_skew of 5m
    por.feed(isin, raw_answer(shares), updated_at=future)
    t = only(audit(por.registry()))
    assert t["status"] == "ERROR"
    assert t["custody"] is None
    assert _iso(future) in " ".join(t["messages"]), t["messages"]


@pytest.mark.parametrize("multicall", [True, False], ids=["multicall", "eth_call"])
def test_an_address_that_is_not_an_aggregator_is_error(por: Por, multicall: bool) -> None:
    isin_plain, isin_empty = isin_for(109), isin_for(110)
    por.token("PLAINx", isin_plain, Decimal(1))
    por.token("EMPTYx", isin_empty, Decimal(1))
    not_a_feed = deploy_plain_token(por.node, "Not a feed", "NAF", 8)
    nobody = "0x000000000000000000000000000000000000dEaD"
    doc = audit(
        por.registry(
            feeds={isin_plain: not_a_feed.address, isin_empty: nobody}, multicall=multicall
        )
    )
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    for symbol, address in (("PLAINx", not_a_feed.address), ("EMPTYx", nobody)):
        t = tokens[symbol]
        assert t["status"] == "ERROR", (symbol, t["messages"])
        assert t["custody"] is None
        text = " ".join(t["messages"])
        assert address.lower() in text.lower(), t["messages"]
    # the tokens themselves were read
    assert all(Decimal(t["onchain"]) == 1 for t in tokens.values())
    assert "latestRoundData()" in " ".join(tokens["PLAINx"]["messages"])
    assert "no contract" in " ".join(tokens["EMPTYx"]["messages"])
    for t in tokens.values():
        assert not any("no attestation found" in m for m in t["messages"]), t["messages"]


# --- where and how the feeds are read -----------------------------------------------------------


def test_a_feed_on_a_chain_without_tokens(por: Por) -> None:
    """The feed's chain has no deployment: it is read for the feed alone."""
    isin = isin_for(111)
    shares = Decimal(12)
    por.token("FARx", isin, shares)
    agg = por.feed(isin, raw_answer(shares))
    reserves = (
        "  reserves:\n"
        "    type: evm\n"
        f"    chain_id: {por.node.chain_id}\n"
        f'    rpc: ["{por.node.url}"]\n' + FAST
    )
    doc = audit(por.registry(feed_chain="reserves", extra_chains=reserves))
    t = only(doc)
    assert t["status"] == "BACKED", t["messages"]
    assert Decimal(t["custody"]) == shares
    assert "block" in doc["chains"]["reserves"], doc["chains"]
    (att,) = t["attestations"]
    assert agg.address.lower() in att["file"].lower() and "reserves" in att["file"]


def test_feeds_are_read_in_the_tokens_block_and_requests(por: Por) -> None:
    """The feed adds calls to the same aggregate3 request at the same pinned block: the node
    sees as many HTTP requests with the feed as without it."""
    isin = isin_for(112)
    shares = Decimal("42.5")
    por.token("PINx", isin, shares)
    agg = por.feed(isin, raw_answer(shares))
    with RpcProxy(por.node.url) as proxy:
        files = por.registry("files.yaml", custodian="files", files={isin: shares}, rpc=proxy.url)
        without = audit(files)
        assert only(without)["status"] == "BACKED", only(without)["messages"]
        plain, plain_methods = proxy.requests, dict(proxy.methods)
        proxy.reset()
        with_feed = audit(por.registry("por.yaml", custodian="por", rpc=proxy.url))
        assert proxy.requests == plain
        # the same JSON-RPC calls: no eth_call of the feed's own
        assert dict(proxy.methods) == plain_methods
    t = only(with_feed)
    assert t["status"] == "BACKED", t["messages"]
    assert Decimal(t["custody"]) == shares
    assert with_feed["chains"]["ethereum"]["requests"] == plain
    # every value at one block: the round is labelled with the block the chain was pinned to
    block = with_feed["chains"]["ethereum"]["block"]
    assert block == without["chains"]["ethereum"]["block"]  # nothing mined in between
    (att,) = t["attestations"]
    assert agg.address.lower() in att["file"].lower()
    assert f"(block {block})" in att["file"]


def test_two_custodians_are_summed(por: Por) -> None:
    isin = isin_for(113)
    in_files, in_feed = Decimal("100.5"), Decimal("20.25")
    por.token("BOTHx", isin, in_files + in_feed)
    agg = por.feed(isin, raw_answer(in_feed))
    doc = audit(por.registry(custodian="[files, por]", files={isin: in_files}))
    t = only(doc)
    assert t["status"] == "BACKED", t["messages"]
    assert Decimal(t["custody"]) == in_files + in_feed
    by_custodian = {a["custodian"]: a for a in t["attestations"]}
    assert Decimal(by_custodian["files"]["quantity"]) == in_files
    assert Decimal(by_custodian["por"]["quantity"]) == in_feed
    assert agg.address.lower() in by_custodian["por"]["file"].lower()


def test_a_bad_feed_makes_the_summed_token_error(por: Por) -> None:
    """One custodian's feed is faulty: the token is ERROR, not backed by the other alone."""
    isin = isin_for(114)
    por.token("HALFx", isin, Decimal(10))
    por.feed(isin, 0)
    t = only(audit(por.registry(custodian="[files, por]", files={isin: Decimal(10)})))
    assert t["status"] == "ERROR", t["messages"]
    assert t["custody"] is None


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_check_json_backed_and_under(por: Por) -> None:
    isin_ok, isin_short = isin_for(115), isin_for(116)
    por.token("OKx", isin_ok, Decimal(50))
    por.token("LOWx", isin_short, Decimal(50))
    ok = por.feed(isin_ok, raw_answer(Decimal(50)))
    por.feed(isin_short, raw_answer(Decimal(49)))
    code, doc, stderr = check_json(por.registry())
    assert code == 1, stderr
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    assert tokens["OKx"]["status"] == "BACKED"
    assert tokens["LOWx"]["status"] == "UNDER"
    assert ok.address.lower() in tokens["OKx"]["attestations"][0]["file"].lower()
    assert doc["exit_code"] == 1

    del por.tokens["LOWx"], por.feeds[isin_short]
    code, doc, stderr = check_json(por.registry("ok.yaml"))
    assert code == 0, stderr
    assert [t["status"] for t in doc["tokens"]] == ["BACKED"]
    assert doc["exit_code"] == 0


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_feed_chain_that_cannot_be_read_is_error(por: Por) -> None:
    isin = isin_for(117)
    por.token("DOWNx", isin, Decimal(2))
    por.feed(isin, raw_answer(Decimal(2)))
    down = f"http://127.0.0.1:{_closed_port()}/"
    reserves = (
        "  reserves:\n"
        "    type: evm\n"
        f"    chain_id: {por.node.chain_id}\n"
        f'    rpc: ["{down}"]\n' + FAST
    )
    doc = audit(por.registry(feed_chain="reserves", extra_chains=reserves))
    t = only(doc)
    assert t["status"] == "ERROR", t["messages"]
    assert t["custody"] is None
    assert Decimal(t["onchain"]) == 2  # the token's own chain was read
    assert "could not be read" in " ".join(t["messages"]), t["messages"]
    assert "error" in doc["chains"]["reserves"]
    assert doc["exit_code"] == 3


# --- several endpoints: a quorum must agree on the feed too --------------------------------------


def _kind(node: EvmTestNode) -> NodeKind:
    return "anvil" if isinstance(node, AnvilNode) else "pyevm"


@pytest.mark.parametrize("second_answer", [12, 13], ids=["agree", "disagree"])
def test_a_quorum_compares_the_feeds(
    fresh_evm_node: EvmTestNode, tmp_path: Path, second_answer: int
) -> None:
    """Two nodes with the same contracts at the same addresses (the same transactions from
    the same account); their feeds answer 12 and `second_answer` shares."""
    isin = isin_for(118)
    updated = int(time.time()) - 60
    with make_node(_kind(fresh_evm_node)) as other:
        for node, shares in ((fresh_evm_node, 12), (other, second_answer)):
            p = Por(node, tmp_path)
            p.token("QUOx", isin, Decimal(12))
            p.feed(isin, raw_answer(Decimal(shares)), updated_at=updated)
            assert node.block_number() == fresh_evm_node.block_number()
        first = Por(fresh_evm_node, tmp_path)
        first.tokens, first.feeds = p.tokens, p.feeds  # the same addresses on both nodes
        quorum = f'    rpc: ["{fresh_evm_node.url}", "{other.url}"]\n' + "    quorum: 2\n"
        path = first.registry()
        text = path.read_text().replace(f'    rpc: ["{fresh_evm_node.url}"]\n', quorum)
        path.write_text(text)
        doc = audit(path)
    t = only(doc)
    if second_answer == 12:
        assert t["status"] == "BACKED", t["messages"]
        assert Decimal(t["custody"]) == 12
    else:
        assert t["status"] == "ERROR", t["messages"]
        assert t["custody"] is None
        assert "disagree" in " ".join(t["messages"]), t["messages"]


# --- registry errors: exit 2, naming the file and line -------------------------------------------

DEAD = "0x000000000000000000000000000000000000dEaD"
BASE = """\
version: 1
chains:
  ethereum:
    type: evm
    chain_id: 1
    rpc: ["http://127.0.0.1:9/"]
  sol:
    type: solana
    rpc: ["http://127.0.0.1:9/"]
custodians:
  por:
    format: chainlink-por
    max_age: 26h
    feeds:
      {isin}: {{chain: {chain}, address: "0x000000000000000000000000000000000000dEaD"}}
tokens:
  - symbol: TSLAx
    isin: {isin}
    custodian: por
    deployments:
      - {{chain: ethereum, address: "0x000000000000000000000000000000000000bEEF"}}
"""


def _line_of(text: str, needle: str) -> int:
    (line,) = [n for n, s in enumerate(text.splitlines(), 1) if needle in s]
    return line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("chain", "feed_isin", "mark", "words"),
    [
        ("polygon", None, "{chain: polygon", "unknown chain 'polygon'"),
        ("sol", None, "{chain: sol", "type solana"),
        ("ethereum", isin_for(120), "custodian: por", "no feed for"),
        ("ethereum", "twice", f"      {isin_for(120)}:", "already custodians.por.feeds"),
    ],
    ids=["unknown-chain", "solana-chain", "no-feed-for-the-token", "one-feed-for-two-isins"],
)
def test_cli_registry_errors_exit_2_naming_file_and_line(
    tmp_path: Path, chain: str, feed_isin: str | None, mark: str, words: str
) -> None:
    isin = isin_for(119)
    text = BASE.format(isin=isin, chain=chain)
    if feed_isin == "twice":  # the same aggregator for a second ISIN
        line = next(s for s in text.splitlines() if s.startswith(f"      {isin}:"))
        text = text.replace(line, line + "\n" + line.replace(isin, isin_for(120)))
    elif feed_isin is not None:
        text = text.replace(f"      {isin}: {{chain", f"      {feed_isin}: {{chain")
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    p = subprocess.run(
        [CLI, "check", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    assert p.stdout == ""
    assert f"{path}:{_line_of(text, mark)}:" in p.stderr, p.stderr
    assert words in p.stderr, p.stderr


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("    feeds:\n", "    attestations: [a.json]\n    feeds:\n", "attestations not used"),
        (
            "      {isin}: {{chain: ethereum, address: " + f'"{DEAD}"' + "}}\n",
            "",
            "needs feeds",
        ),
        (DEAD, "0x123", "not a 0x-prefixed"),
    ],
    ids=["attestations", "no-feeds", "bad-address"],
)
def test_feed_settings_are_checked(tmp_path: Path, old: str, new: str, words: str) -> None:
    isin = isin_for(121)
    text = BASE.format(isin=isin, chain="ethereum")
    old = old.format(isin=isin)
    assert old in text
    text = text.replace(old, new)
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        registry_mod.load(path, env={})
    rendered = info.value.render()
    assert rendered.startswith(f"{path}:"), rendered
    assert words in rendered, rendered


def test_one_address_on_two_chains_is_two_feeds(por: Por) -> None:
    """The same aggregator address on two chains (deployed by the same account at the same
    nonce: common) is two feeds with their own rounds. Here both chain names are one node;
    `reserves` reads one block behind the head, where the feed still had its earlier round."""
    isin_now, isin_before = isin_for(122), isin_for(123)
    earlier, later = Decimal(40), Decimal(41)
    por.token("NOWx", isin_now, later)
    por.token("BEFOREx", isin_before, earlier)
    agg = por.feed(isin_now, raw_answer(earlier), updated_at=int(time.time()) - 600)
    transact(por.node, agg.functions.setRound(8, raw_answer(later), int(time.time()) - 60, 8))
    reserves = (
        "  reserves:\n"
        "    type: evm\n"
        f"    chain_id: {por.node.chain_id}\n"
        f'    rpc: ["{por.node.url}"]\n' + FAST + "    confirmations: 1\n"
    )
    path = por.registry(extra_chains=reserves)
    text = path.read_text().replace(
        "    feeds:\n",
        f'    feeds:\n      {isin_before}: {{chain: reserves, address: "{agg.address}"}}\n',
    )
    path.write_text(text)
    doc = audit(path)
    assert doc["chains"]["reserves"]["block"] == doc["chains"]["ethereum"]["block"] - 1
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    for symbol, shares in (("NOWx", later), ("BEFOREx", earlier)):
        t = tokens[symbol]
        assert t["status"] == "BACKED", (symbol, t["messages"])
        assert Decimal(t["custody"]) == shares
