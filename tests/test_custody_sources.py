"""Custody sources wired into the audit: signed files, an issuer's API beside files, several
custodians per token, and quantities that are held but not available.

The first part is pure: `reconcile_token` with several `CustodySource`s built by hand, where
the precedence and the sums are clearest. The rest goes through the real audit
(`audit.run` in-process, and the installed `xstock-audit` for a few) against a local anvil
and the LiteSVM node (tests/support/world.py: TK0 has 1000 + 500 = 1500 shares on chain,
TK1 1001 + 500 = 1501), with attestation files written and signed here, and the http-json
source on a local JSON API. Expected figures come from what the world minted and what the
files say, never from the tool's output.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support.cli import CLI, check_json
from support.evm import EvmTestNode, make_node
from support.jsonapi import JsonApi, Request, body
from support.proxy import Reply
from support.signing import EthKey, MinisignKey
from support.world import World, build_on, isin_for

from xstock_audit import redact
from xstock_audit.chains import ChainRead, DeploymentSupply, Pin
from xstock_audit.custody import CustodyBook, Holding, Statement
from xstock_audit.reconcile import (
    CustodySource,
    Status,
    custody_of,
    exit_code,
    reconcile_token,
)
from xstock_audit.registry import Registry, Token
from xstock_audit.registry.schema import Custodian, Policy

# ---------------------------------------------------------------------- pure: reconcile

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ISIN = "US88160R1014"
ADDR = "0x8aD3c73F833d3F9A523aB01476625F269aEB7Cf0"
FRESH = timedelta(hours=1)
DAY = timedelta(days=1)


def _token(custodians: list[str], **kw: object) -> Token:
    return Token.model_validate(
        {
            "symbol": "TSLAx",
            "isin": ISIN,
            "custodian": custodians,
            "deployments": [{"chain": "ethereum", "address": ADDR}],
            **kw,
        }
    )


def _reads(circulating: str | None) -> dict[str, ChainRead]:
    if circulating is None:
        s = DeploymentSupply("ethereum", ADDR, error="connection refused")
        return {"ethereum": ChainRead("ethereum", None, {ADDR: s}, error="connection refused")}
    s = DeploymentSupply("ethereum", ADDR, decimals=6, circulating=Decimal(circulating))
    return {
        "ethereum": ChainRead("ethereum", Pin("ethereum", "evm", 1, NOW, "http://x"), {ADDR: s})
    }


def _book(
    name: str,
    *accounts: tuple[str, str, timedelta],
    unavailable: str = "0",
    **extra: Any,
) -> CustodyBook:
    latest = {
        acct: Statement(
            acct,
            NOW - age,
            (Holding(ISIN, Decimal(q), 1, f"{name}.json", unavailable=Decimal(unavailable)),),
            f"{name}.json",
            1,
            custodian=name,
        )
        for acct, q, age in accounts
    }
    return CustodyBook(name, (f"{name}.json",), latest, **extra)


def _run(
    *books: CustodyBook, onchain: str | None = "100", max_age: timedelta = DAY, **kw: object
) -> Any:
    sources = [CustodySource(b.custodian, b, max_age) for b in books]
    token = _token([b.custodian for b in books], **kw)
    result = reconcile_token(token, _reads(onchain), None, max_age, NOW, sources=sources)
    # the custody sum worked out beforehand (as the audit does while the chains are read)
    # gives the same verdict, messages and all
    registry = Registry.model_construct(
        tokens=[token],
        custodians={b.custodian: Custodian.model_construct(max_age=max_age) for b in books},
        policy=Policy(),
    )
    sums = custody_of(registry, {b.custodian: b for b in books}, NOW)
    assert token.symbol in sums
    again = reconcile_token(
        token,
        _reads(onchain),
        None,
        max_age,
        NOW,
        sources=sources,
        custody=sums[token.symbol],
    )
    assert again == result
    return result


UNVERIFIED_MSG = "attestation b.json not read: minisign signature FAILED: no signature file"


def test_several_custodians_are_summed() -> None:
    r = _run(_book("bank", ("A", "60", FRESH)), _book("api", ("X", "40", FRESH)))
    assert (r.status, r.custody, r.onchain, r.difference) == (
        Status.BACKED,
        Decimal(100),
        Decimal(100),
        Decimal(0),
    )
    assert sorted((a.custodian, a.account, a.quantity) for a in r.attestations) == [
        ("api", "X", Decimal(40)),
        ("bank", "A", Decimal(60)),
    ]
    # either alone is short: the verdict really is on the sum
    short = _run(_book("bank", ("A", "60", FRESH)), _book("api", ("X", "39.5", FRESH)))
    assert (short.status, short.difference) == (Status.UNDER, Decimal("-0.5"))


def test_a_precomputed_sum_is_used_only_with_the_books_it_was_made_from() -> None:
    bank, api = _book("bank", ("A", "60", FRESH)), _book("api", ("X", "40", FRESH))
    token = _token(["bank", "api"])
    registry = Registry.model_construct(
        tokens=[token],
        custodians={n: Custodian.model_construct(max_age=DAY) for n in ("bank", "api")},
        policy=Policy(),
    )
    # a sum made from other books (a short bank statement) than the ones reconciled
    other = custody_of(registry, {"bank": _book("bank", ("A", "50", FRESH)), "api": api}, NOW)
    sources = [CustodySource("bank", bank, DAY), CustodySource("api", api, DAY)]

    def run(custody: Any) -> Any:
        return reconcile_token(
            token, _reads("100"), None, DAY, NOW, sources=sources, custody=custody
        )

    assert run(None).status == Status.BACKED
    assert run(other[token.symbol]).status == Status.BACKED  # not these books: ignored
    # the same books: the sum given is the one used
    summed = other[token.symbol][1]
    assert run(((bank, api), summed)).custody == Decimal(90)


def test_unverified_outranks_a_shortfall() -> None:
    # what was read is short by 50, but a file of the custodian was not read: its content
    # may hold the rest, so the shortfall is not proven
    unverified = _book("bank", ("A", "50", FRESH), unverified=(UNVERIFIED_MSG,))
    r = _run(unverified)
    assert r.status is Status.UNVERIFIED
    assert (r.custody, r.difference) == (None, None)
    assert r.onchain == Decimal(100)
    assert f"custodian 'bank': {UNVERIFIED_MSG}" in r.messages
    # the same with the other custodian's part making up the rest, or not
    r = _run(unverified, _book("api", ("X", "10", FRESH)))
    assert r.status is Status.UNVERIFIED
    assert exit_code([r.status]) == 3


def test_unverified_outranks_stale_and_over() -> None:
    unverified = (UNVERIFIED_MSG,)
    stale = _run(_book("bank", ("A", "100", timedelta(days=3)), unverified=unverified))
    assert stale.status is Status.UNVERIFIED
    over = _run(_book("bank", ("A", "900", FRESH), unverified=unverified))
    assert over.status is Status.UNVERIFIED


def test_error_outranks_unverified() -> None:
    unverified = _book("bank", ("A", "100", FRESH), unverified=(UNVERIFIED_MSG,))
    failed_api = CustodyBook("api", (), {}, errors=("https://api.example/…: HTTP 503",))
    r = _run(unverified, failed_api)
    assert r.status is Status.ERROR
    assert r.custody is None
    assert "custodian 'api': https://api.example/…: HTTP 503" in r.messages
    assert f"custodian 'bank': {UNVERIFIED_MSG}" in r.messages
    # a chain not read is ERROR too, even when what was read is short: the unverified file
    # may hold the rest
    r = _run(_book("bank", ("A", "1", FRESH), unverified=(UNVERIFIED_MSG,)), onchain=None)
    assert r.status is Status.ERROR
    # a source's own error names its custodian already: said once
    named = CustodyBook("api", (), {}, errors=("custodian 'api': https://api.example/…: x",))
    r = _run(_book("bank", ("A", "100", FRESH)), named)
    assert [m for m in r.messages if "'api'" in m] == ["custodian 'api': https://api.example/…: x"]


def test_an_unreadable_custodian_is_not_called_stale() -> None:
    # the API failed: the token is ERROR for that reason, and nothing says the API's
    # statements are "older than max_age" -- there are none
    failed_api = CustodyBook("api", (), {}, errors=("https://api.example/…: HTTP 503",))
    r = _run(_book("bank", ("A", "100", FRESH)), failed_api)
    assert r.status is Status.ERROR
    assert not [m for m in r.messages if "older than max_age" in m], r.messages
    # the same for a custodian whose only file was not read (bad signature)
    refused = CustodyBook("bank2", ("b.json",), {}, unverified=(UNVERIFIED_MSG,))
    r = _run(_book("bank", ("A", "100", FRESH)), refused)
    assert r.status is Status.UNVERIFIED
    assert not [m for m in r.messages if "older than max_age" in m], r.messages
    # and for one whose only statement is dated in the future
    ahead = Statement("F", NOW + DAY, (Holding(ISIN, Decimal(1), 1, "f.json"),), "f.json", 1)
    future = CustodyBook("bank3", ("f.json",), {}, future={"F": (ahead,)})
    r = _run(_book("bank", ("A", "100", FRESH)), future)
    assert r.status is Status.ERROR
    assert any("is dated 2026-11-22T12:00:00Z, later than" in m for m in r.messages)
    assert not [m for m in r.messages if "older than max_age" in m], r.messages


def test_stale_in_one_custodian_makes_the_token_stale() -> None:
    r = _run(_book("bank", ("A", "60", FRESH)), _book("api", ("X", "40", timedelta(hours=30))))
    assert r.status is Status.STALE
    assert any("(account X) is 1 d 6 h old" in m for m in r.messages), r.messages
    # a proven shortfall still needs fresh custody: stale and short is STALE
    r = _run(_book("bank", ("A", "10", FRESH)), _book("api", ("X", "40", timedelta(hours=30))))
    assert r.status is Status.STALE
    assert any("short by 50" in m for m in r.messages), r.messages


def test_unavailable_part_is_shown_apart_and_not_counted() -> None:
    r = _run(_book("bank", ("A", "95", FRESH), unavailable="5"))
    assert (r.status, r.custody) == (Status.UNDER, Decimal(95))
    (a,) = r.attestations
    assert (a.quantity, a.unavailable) == (Decimal(95), Decimal(5))
    assert any("also holds 5 that is not available" in m for m in r.messages), r.messages


# ---------------------------------------------------------------------- the real audit

FAST = "timeout: 2\nconnect_timeout: 1\nretries: 0"
#: what the world minted (support/world.py): EVM 1000 + i, Solana 500, per token TKi
ONCHAIN = {"TK0": Decimal(1500), "TK1": Decimal(1501)}

PATH_SECRET = "pathsecret9d41c7"
QUERY_SECRET = "querysecret3e07aa"
HEADER_SECRET = "headersecret55f1b0"
SECRETS = (PATH_SECRET, QUERY_SECRET, HEADER_SECRET)


def _iso(dt: datetime) -> str:
    return dt.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from xstock_audit.sandbox.solana import SolanaNode

    evm: EvmTestNode
    with make_node("anvil") as evm, SolanaNode() as sol:
        w = build_on(
            tmp_path_factory.mktemp("sources"),
            evm,
            sol,
            evm_settings=FAST,
            solana_settings=FAST,
        )
        assert w.onchain == ONCHAIN  # the figures this module counts on
        yield w


@pytest.fixture(autouse=True)
def _private(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Secrets registered by one in-process run stay out of the next; the http-json cache
    lives in this test's folder."""
    monkeypatch.setattr(redact, "_secrets", dict(redact._secrets))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@dataclass
class Setup:
    """A test's own folder: a registry on the module's chains, and its custody files."""

    folder: Path
    world: World

    def statement(
        self,
        name: str,
        quantities: dict[str, Decimal],
        *,
        account: str = "SAFE-1",
        custodian: str | None = None,
        as_of: datetime | None = None,
    ) -> Path:
        as_of = as_of or datetime.now(UTC) - timedelta(hours=1)
        doc: dict[str, Any] = {
            "account": account,
            "as_of": _iso(as_of),
            "holdings": [
                {"isin": isin_for(int(sym[2:])), "quantity": str(q)}
                for sym, q in quantities.items()
            ],
        }
        if custodian is not None:
            doc["custodian"] = custodian
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1) + "\n")
        return path

    def registry(self, custodians: str, **custodian_of: str) -> Path:
        """The world's registry with these `custodians:` and each token's `custodian:`
        (default `bank`)."""
        text = self.world.registry.read_text()
        head, rest = text.split("custodians:\n", 1)
        _, tokens = rest.split("tokens:\n", 1)
        for sym in ONCHAIN:
            tokens = tokens.replace(
                f"  - symbol: {sym}\n    isin: {isin_for(int(sym[2:]))}\n    custodian: bench\n",
                f"  - symbol: {sym}\n    isin: {isin_for(int(sym[2:]))}\n"
                f"    custodian: {custodian_of.get(sym, 'bank')}\n",
            )
        assert "bench" not in tokens
        path = self.folder / "registry.yaml"
        path.write_text(f"{head}custodians:\n{custodians.rstrip()}\ntokens:\n{tokens}")
        return path


@pytest.fixture
def setup(world: World, tmp_path: Path) -> Setup:
    return Setup(tmp_path, world)


def audit_json(registry: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """The real audit in-process: its exit code and the JSON report's tokens by symbol."""
    from xstock_audit import audit
    from xstock_audit import registry as registry_mod
    from xstock_audit.report import Options, jsonfmt

    result = audit.run(registry_mod.load(registry), deadline_s=60)
    doc = json.loads(jsonfmt.render(result, Options()))
    assert doc["exit_code"] == result.exit_code
    return result.exit_code, {t["symbol"]: t for t in doc["tokens"]}


def table(registry: Path, *args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [CLI, "check", str(registry), "--details", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "400"},
        timeout=120,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p


def bank(key: str = "", max_age: str = "1d", glob: str = "statements/*", **extra: str) -> str:
    lines = [
        "  bank:",
        f'    attestations: ["{glob}"]',
        f"    max_age: {max_age}",
        *([f"    {key}"] if key else []),
        *[f"    {k}: {v}" for k, v in extra.items()],
    ]
    return "\n".join(lines) + "\n"


def flip_byte(path: Path, old: bytes, new: bytes) -> None:
    """Change one byte of the file (a quantity's digit), keeping it valid."""
    data = path.read_bytes()
    assert len(old) == len(new) == 1 and data.count(old) >= 1
    i = data.rindex(old)
    path.write_bytes(data[:i] + new + data[i + 1 :])


# --- signed files: minisign ---------------------------------------------------------------------


COMMENT = "timestamp:1795348925\tfile:{name}\thashed"


def _signed_pair(setup: Setup, key: MinisignKey) -> tuple[Path, Path]:
    """Two statements, one per account, each holding what its token needs, both signed."""
    a = setup.statement("statements/a.json", {"TK0": ONCHAIN["TK0"]}, account="SAFE-A")
    b = setup.statement("statements/b.json", {"TK1": ONCHAIN["TK1"]}, account="SAFE-B")
    key.sign(a, trusted_comment=COMMENT.format(name="a.json"))
    key.sign(b, trusted_comment=COMMENT.format(name="b.json"), prehashed=False)
    return a, b


@pytest.mark.slow
def test_minisign_signed_files_are_backed_and_the_comment_is_shown(setup: Setup) -> None:
    key = MinisignKey()
    _signed_pair(setup, key)
    reg = setup.registry(bank(f'public_key: "{key.public_key}"'))
    # the .minisig files sit in the same folder: statements/* must not read them as statements
    assert sorted(p.name for p in (setup.folder / "statements").iterdir()) == [
        "a.json",
        "a.json.minisig",
        "b.json",
        "b.json.minisig",
    ]
    code, doc, stderr = check_json(reg)
    assert code == 0, stderr
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    for sym, name in (("TK0", "a.json"), ("TK1", "b.json")):
        t = tokens[sym]
        assert (t["status"], Decimal(t["custody"])) == ("BACKED", ONCHAIN[sym])
        (att,) = t["attestations"]
        assert att["file"] == f"statements/{name}"
        assert att["signature"] is not None
        assert COMMENT.format(name=name) in att["signature"]
        assert key.key_id_text in att["signature"]

    p = table(reg)
    assert p.returncode == 0, p.stdout + p.stderr
    details = [line for line in p.stdout.splitlines() if "statements/a.json" in line]
    assert details and "trusted comment: timestamp:1795348925" in details[0], p.stdout
    assert "file:a.json" in p.stdout


@pytest.mark.slow
def test_a_changed_byte_makes_the_custodian_unverified(setup: Setup) -> None:
    key = MinisignKey()
    a, _ = _signed_pair(setup, key)
    reg = setup.registry(bank(f'public_key: "{key.public_key}"'))
    flip_byte(a, b"0", b"1")  # TK0's 1500 -> 1501 (or a date digit): still a valid file
    code, tokens = audit_json(reg)
    assert code == 3
    reason = (
        "attestation statements/a.json not read: minisign signature FAILED: signature does "
        "not match the file's content (tampered, or signed by another key)"
    )
    # every token of the custodian, also TK1 whose own file verifies
    for sym in ONCHAIN:
        t = tokens[sym]
        assert t["status"] == "UNVERIFIED", t
        assert (t["custody"], t["difference"]) == (None, None)
        assert Decimal(t["onchain"]) == ONCHAIN[sym]
        assert f"custodian 'bank': {reason}" in t["messages"], t["messages"]
    # the tampered file's content is never used
    assert tokens["TK0"]["attestations"] == []
    assert [a["file"] for a in tokens["TK1"]["attestations"]] == ["statements/b.json"]


@pytest.mark.slow
def test_a_missing_minisig_makes_the_custodian_unverified(setup: Setup) -> None:
    key = MinisignKey()
    _, b = _signed_pair(setup, key)
    b.with_name("b.json.minisig").unlink()
    reg = setup.registry(bank(f'public_key: "{key.public_key}"'))
    code, doc, _ = check_json(reg)
    assert code == 3
    for t in doc["tokens"]:
        assert t["status"] == "UNVERIFIED"
        assert t["custody"] is None
        assert (
            "custodian 'bank': attestation statements/b.json not read: minisign signature "
            "FAILED: no signature file statements/b.json.minisig"
        ) in t["messages"]
    assert doc["summary"]["UNVERIFIED"] == 2


@pytest.mark.slow
def test_another_key_is_unverified(setup: Setup) -> None:
    _signed_pair(setup, MinisignKey())
    other = MinisignKey()
    reg = setup.registry(bank(f'public_key: "{other.public_key}"'))
    code, tokens = audit_json(reg)
    assert code == 3
    assert {t["status"] for t in tokens.values()} == {"UNVERIFIED"}
    assert any(
        f"but the registry's public_key has key id {other.key_id_text}" in m
        for m in tokens["TK0"]["messages"]
    )


# --- signed files: EIP-191 ----------------------------------------------------------------------


@pytest.mark.slow
def test_eip191_signed_tampered_and_missing(setup: Setup) -> None:
    key = EthKey()
    a = setup.statement("statements/a.json", {"TK0": ONCHAIN["TK0"]}, account="SAFE-A")
    b = setup.statement("statements/b.json", {"TK1": ONCHAIN["TK1"]}, account="SAFE-B")
    key.sign(a)
    key.sign(b)
    reg = setup.registry(bank(f'signer: "{key.address}"'))

    code, tokens = audit_json(reg)
    assert code == 0
    for sym in ONCHAIN:
        assert tokens[sym]["status"] == "BACKED"
        (att,) = tokens[sym]["attestations"]
        assert att["signature"] == f"EIP-191 signature OK (signer {key.address})"

    flip_byte(b, b"1", b"2")
    code, tokens = audit_json(reg)
    assert code == 3
    for sym in ONCHAIN:
        t = tokens[sym]
        assert t["status"] == "UNVERIFIED" and t["custody"] is None
        assert any(
            m.startswith("custodian 'bank': attestation statements/b.json not read: EIP-191 ")
            and "(tampered, or signed by another key)" in m
            for m in t["messages"]
        ), t["messages"]

    key.sign(b)  # signed again as it is now
    a.with_name("a.json.sig").unlink()
    code, tokens = audit_json(reg)
    assert code == 3
    assert tokens["TK0"]["status"] == "UNVERIFIED"
    assert (
        "custodian 'bank': attestation statements/a.json not read: EIP-191 signature FAILED: "
        "no signature file statements/a.json.sig"
    ) in tokens["TK0"]["messages"]


# --- precedence ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_short_token_with_an_unverified_file_is_unverified(setup: Setup) -> None:
    key = MinisignKey()
    a = setup.statement("statements/a.json", {"TK0": Decimal(1000), "TK1": ONCHAIN["TK1"]})
    key.sign(a)
    # a second account's file, unsigned: it may hold TK0's missing 500
    setup.statement("statements/b.json", {"TK0": Decimal(500)}, account="SAFE-2")
    reg = setup.registry(bank(f'public_key: "{key.public_key}"'))
    code, tokens = audit_json(reg)
    assert code == 3  # not 1: the shortfall is not proven
    assert tokens["TK0"]["status"] == "UNVERIFIED"
    assert tokens["TK1"]["status"] == "UNVERIFIED"
    # signed as well, the same files are BACKED: the 500 was there
    key.sign(setup.folder / "statements/b.json")
    code, tokens = audit_json(reg)
    assert code == 0
    assert Decimal(tokens["TK0"]["custody"]) == ONCHAIN["TK0"]
    # and a real shortfall, every file verified, is UNDER
    setup.statement("statements/b.json", {"TK0": Decimal(499)}, account="SAFE-2")
    key.sign(setup.folder / "statements/b.json")
    code, tokens = audit_json(reg)
    assert (code, tokens["TK0"]["status"]) == (1, "UNDER")
    assert Decimal(tokens["TK0"]["difference"]) == Decimal(-1)


# --- several custodians: files and an issuer's API ----------------------------------------------


API_FIELDS = "{isin: isin, quantity: sharesHeld, as_of: updatedAt, account: account}"


def api_custodian(url: str) -> str:
    return (
        "  api:\n"
        "    format: http-json\n"
        f'    url: "{url}"\n'
        f'    headers: {{X-Api-Key: "{HEADER_SECRET}"}}\n'
        '    items: "data[]"\n'
        f"    fields: {API_FIELDS}\n"
        "    max_age: 26h\n"
    )


def api_records(quantities: dict[str, Any], account: str = "API-1") -> bytes:
    as_of = _iso(datetime.now(UTC) - timedelta(hours=2))
    return body(
        {
            "data": [
                {
                    "isin": isin_for(int(sym[2:])),
                    "sharesHeld": q,
                    "updatedAt": as_of,
                    "account": account,
                }
                for sym, q in quantities.items()
            ]
        }
    )


def serve(handler: Callable[[Request], Reply]) -> JsonApi:
    return JsonApi(handler).start()


def secret_url(api: JsonApi) -> str:
    return f"{api.base}/v1/{PATH_SECRET}/reserves?key={QUERY_SECRET}"


@pytest.mark.slow
def test_files_and_api_are_summed(setup: Setup) -> None:
    setup.statement("statements/a.json", {"TK0": Decimal(1000), "TK1": ONCHAIN["TK1"]})
    # the API answers exact JSON numbers and decimal strings: 500 and 500.5 are not floats
    answer = api_records({"TK0": "500"})
    with serve(lambda req: Reply(body=answer)) as api:
        reg = setup.registry(bank() + api_custodian(secret_url(api)), TK0="[bank, api]")
        code, tokens = audit_json(reg)
        assert api.requests, "the API was not asked"
        assert api.requests[0].headers.get("x-api-key") == HEADER_SECRET
    assert code == 0
    t = tokens["TK0"]
    assert (t["status"], Decimal(t["custody"])) == ("BACKED", ONCHAIN["TK0"])
    assert sorted(
        (a["custodian"], a["account"], Decimal(a["quantity"])) for a in t["attestations"]
    ) == [
        ("api", "API-1", Decimal(500)),
        ("bank", "SAFE-1", Decimal(1000)),
    ]
    api_file = next(a["file"] for a in t["attestations"] if a["custodian"] == "api")
    assert api_file.startswith("http://127.0.0.1:") and api_file.endswith("/…")
    # the API's half missing: the files alone are short, and the sum says so
    answer = api_records({"TK0": "499.5"})
    with serve(lambda req: Reply(body=answer)) as api:
        reg = setup.registry(bank() + api_custodian(secret_url(api)), TK0="[bank, api]")
        code, tokens = audit_json(reg)
    assert (code, tokens["TK0"]["status"]) == (1, "UNDER")
    assert Decimal(tokens["TK0"]["difference"]) == Decimal("-0.5")
    assert tokens["TK1"]["status"] == "BACKED"  # bank alone, untouched by the API


@pytest.mark.slow
def test_an_api_failing_for_good_is_error_without_its_secrets(setup: Setup) -> None:
    setup.statement("statements/a.json", {"TK0": Decimal(1000), "TK1": ONCHAIN["TK1"]})
    with serve(lambda req: Reply(status=503, body=b'{"error": "maintenance"}')) as api:
        url, base = secret_url(api), api.base
        reg = setup.registry(bank() + api_custodian(url), TK0="[bank, api]")
        p = subprocess.run(
            [CLI, "check", str(reg), "--format", "json"],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
            timeout=120,
        )
        asked = len(api.requests)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 3, p.stderr
    assert asked == 3  # the first request and two retries, then it gives up
    for secret in SECRETS:
        assert secret not in p.stdout and secret not in p.stderr, secret
    assert url not in p.stdout + p.stderr
    doc = json.loads(p.stdout)
    tokens = {t["symbol"]: t for t in doc["tokens"]}
    t = tokens["TK0"]
    assert (t["status"], t["custody"], t["difference"]) == ("ERROR", None, None)
    # the API named once, redacted, with what it answered
    (error,) = [m for m in t["messages"] if "'api'" in m]
    assert error.startswith(f"custodian 'api': {base}/… page 1: HTTP 503"), error
    assert tokens["TK1"]["status"] == "BACKED"  # drawing on the bank alone
    assert doc["exit_code"] == 3


@pytest.mark.slow
def test_an_api_answer_missing_a_field_is_error_naming_it(setup: Setup) -> None:
    setup.statement("statements/a.json", {"TK0": Decimal(1000), "TK1": ONCHAIN["TK1"]})
    doc = json.loads(api_records({"TK0": "500", "TK1": "1"}))
    del doc["data"][1]["sharesHeld"]
    with serve(lambda req: Reply(body=body(doc))) as api:
        reg = setup.registry(bank() + api_custodian(secret_url(api)), TK0="[bank, api]")
        code, tokens = audit_json(reg)
    assert code == 3
    t = tokens["TK0"]
    assert (t["status"], t["custody"]) == ("ERROR", None)
    (error,) = [m for m in t["messages"] if m.startswith("custodian 'api': ")]
    assert "record [1]: quantity (sharesHeld): missing" in error, error
    assert not any(s in json.dumps(tokens) for s in SECRETS)


# --- not available ------------------------------------------------------------------------------


DATA = Path(__file__).parent / "data" / "custody" / "iso"


def _yesterday() -> datetime:
    return datetime.now(UTC) - timedelta(days=1)


def mt535_for(sym: str, aggregate: int, available: int) -> str:
    """The two-page MT535 sample, dated yesterday, its TSLA position made this token's."""
    day = _yesterday().strftime("%Y%m%d")
    text = (DATA / "mt535-two-pages.fin").read_text()
    text = text.replace(":98A::STAT//20261120", f":98A::STAT//{day}")
    text = text.replace("US88160R1014", isin_for(int(sym[2:])))
    text = text.replace(":93B::AGGR//UNIT/1000,", f":93B::AGGR//UNIT/{aggregate},")
    text = text.replace(":93B::AVAI//UNIT/980,", f":93B::AVAI//UNIT/{available},")
    text = text.replace(":93B::NAVL//UNIT/20,", f":93B::NAVL//UNIT/{aggregate - available},")
    return text.replace(
        ":93C::PLED//UNIT/NAVL/20,", f":93C::PLED//UNIT/NAVL/{aggregate - available},"
    )


def semt002_for(sym: str, aggregate: str, available: str) -> str:
    """The semt.002 001.05 sample, dated yesterday, its TSLA position made this token's."""
    text = (DATA / "semt002-v05.xml").read_text()
    text = text.replace("<Dt>2026-11-20</Dt>", f"<Dt>{_yesterday().date().isoformat()}</Dt>")
    text = text.replace("US88160R1014", isin_for(int(sym[2:])))
    text = text.replace("<Unit>1523.000000</Unit>", f"<Unit>{aggregate}</Unit>")
    return text.replace("<Unit>1500</Unit>", f"<Unit>{available}</Unit>")


@pytest.mark.slow
@pytest.mark.parametrize("count", [False, True])
def test_not_available_quantities(setup: Setup, count: bool) -> None:
    # TK0: 1500 on chain; the MT535 says 1500 held, 1480 available, 20 pledged
    (setup.folder / "statements").mkdir()
    (setup.folder / "statements/bank.fin").write_text(mt535_for("TK0", 1500, 1480))
    # TK1: 1501 on chain; the semt.002 says 1531 held, 1501 available
    (setup.folder / "statements/bank.xml").write_text(semt002_for("TK1", "1531", "1501"))
    reg = setup.registry(bank(count_unavailable="true" if count else "false"))
    code, tokens = audit_json(reg)
    tk0, tk1 = tokens["TK0"], tokens["TK1"]
    (a0,) = [a for a in tk0["attestations"] if a["file"] == "statements/bank.fin"]
    (a1,) = [a for a in tk1["attestations"] if a["file"] == "statements/bank.xml"]
    if not count:
        assert code == 1
        assert (tk0["status"], Decimal(tk0["custody"])) == ("UNDER", Decimal(1480))
        assert Decimal(tk0["difference"]) == -20
        assert (Decimal(a0["quantity"]), Decimal(a0["unavailable"])) == (1480, 20)
        assert any(
            "account SAFE-0002 (bank) also holds 20 that is not available" in m
            and "not counted" in m
            for m in tk0["messages"]
        ), tk0["messages"]
        assert (tk1["status"], Decimal(tk1["custody"])) == ("BACKED", Decimal(1501))
        assert (Decimal(a1["quantity"]), Decimal(a1["unavailable"])) == (1501, 30)
        assert any("SAFE-0001 (bank) also holds 30" in m for m in tk1["messages"])
    else:
        assert code == 0
        assert (tk0["status"], Decimal(tk0["custody"])) == ("BACKED", Decimal(1500))
        assert (tk1["status"], Decimal(tk1["custody"])) == ("OVER", Decimal(1531))
        assert Decimal(a0["unavailable"]) == 0 and Decimal(a1["unavailable"]) == 0
        assert not any("not available" in m for m in tk0["messages"] + tk1["messages"])


@pytest.mark.slow
def test_not_available_is_shown_in_the_details(setup: Setup) -> None:
    (setup.folder / "statements").mkdir()
    (setup.folder / "statements/bank.fin").write_text(mt535_for("TK0", 1500, 1480))
    setup.statement("statements/b.json", {"TK1": ONCHAIN["TK1"]}, account="SAFE-B")
    p = table(setup.registry(bank()))
    assert p.returncode == 1, p.stdout + p.stderr
    row = next(line for line in p.stdout.splitlines() if "statements/bank.fin" in line)
    assert "SAFE-0002" in row and "1480" in row
    assert "not available, not counted: 20" in row, row


# --- attest verify ------------------------------------------------------------------------------


@pytest.mark.slow
def test_attest_verify_signed_and_tampered(setup: Setup) -> None:
    key = MinisignKey()
    a, b = _signed_pair(setup, key)
    reg = setup.registry(bank(f'public_key: "{key.public_key}"'))

    def verify(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "attest", "verify", "--registry", str(reg), *map(str, files)],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            timeout=60,
        )

    p = verify(a, b)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "signed and verified (custodian bank)" in p.stdout
    assert COMMENT.format(name="a.json") in p.stdout
    flip_byte(b, b"1", b"2")
    p = verify(a, b)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "signature FAILED (custodian bank)" in p.stdout
    assert "signature does not match the file's content" in p.stdout
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_an_api_error_outranks_an_unverified_file(setup: Setup) -> None:
    key = MinisignKey()
    setup.statement("statements/a.json", {"TK0": Decimal(1000), "TK1": ONCHAIN["TK1"]})
    # unsigned: the bank's tokens are UNVERIFIED ...
    with serve(lambda req: Reply(status=503)) as api:
        reg = setup.registry(
            bank(f'public_key: "{key.public_key}"') + api_custodian(secret_url(api)),
            TK0="[bank, api]",
        )
        code, tokens = audit_json(reg)
    assert code == 3
    # ... and one that also draws on the failed API is ERROR
    assert tokens["TK0"]["status"] == "ERROR"
    assert tokens["TK1"]["status"] == "UNVERIFIED"
    for t in tokens.values():
        assert any("statements/a.json not read" in m for m in t["messages"]), t["messages"]


@pytest.mark.slow
def test_a_slow_api_is_held_to_the_runs_timeout(setup: Setup) -> None:
    import time

    setup.statement("statements/a.json", {"TK0": Decimal(1000), "TK1": ONCHAIN["TK1"]})
    answer = api_records({"TK0": "500"})
    with serve(lambda req: Reply(body=answer, delay=12)) as api:
        reg = setup.registry(bank() + api_custodian(secret_url(api)), TK0="[bank, api]")
        start = time.monotonic()
        code, doc, stderr = check_json(reg, "--timeout", "3")
        took = time.monotonic() - start
    assert took < 10, f"the run took {took:.1f} s with --timeout 3"
    assert code == 3, stderr
    t = {t["symbol"]: t for t in doc["tokens"]}["TK0"]
    assert (t["status"], t["custody"]) == ("ERROR", None)
    assert any("deadline" in m for m in t["messages"]), t["messages"]
