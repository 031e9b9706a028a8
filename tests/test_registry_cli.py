"""`xstock-audit registry lint|schema` and `xstock-audit init`.

Pure tests run in-process through Typer's CliRunner (no process, no socket); the `--online`
tests read local chains (anvil and py-evm through `evm_node`, LiteSVM through `solana_node`)
on 127.0.0.1 and are marked slow by the node fixtures.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from typer.testing import CliRunner

from xstock_audit.cli import app

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "xstocks.yaml"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>[^:]+): (?P<message>.+)$")


class Run(NamedTuple):
    code: int
    out: str
    err: str


def run(*args: str | Path, env: dict[str, str | None] | None = None) -> Run:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def in_dir(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


ATTESTATION = {
    "custodian": "acme",
    "account": "SAFE-1",
    "as_of": "2026-01-01T00:00:00Z",
    "holdings": [{"isin": "US88160R1014", "quantity": "10"}],
}


def registry_text(
    *, evm_rpc: str = "https://eth.invalid/key", sol_rpc: str = "https://sol.invalid/key"
) -> str:
    return f"""\
version: 1
chains:
  ethereum:
    type: evm
    chain_id: 1
    rpc: ["{evm_rpc}"]
  solana:
    type: solana
    rpc: ["{sol_rpc}"]
custodians:
  acme:
    attestations: ["att/*.json", "missing/*.csv"]
    max_age: 36h
tokens:
  - symbol: TSLAx
    isin: US88160R1014
    custodian: acme
    deployments:
      - chain: ethereum
        address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"
      - chain: solana
        mint: XsDoVfqeBukxuZHWhdvWHBhgEHjGNst4MLodqsJHzoB
"""


def write_world(folder: Path, text: str | None = None) -> Path:
    (folder / "att").mkdir(exist_ok=True)
    (folder / "att" / "a.json").write_text(json.dumps(ATTESTATION))
    path = folder / "reg.yaml"
    path.write_text(registry_text() if text is None else text)
    return path


# ---------------------------------------------------------------------- lint, offline


def test_lint_example_is_clean() -> None:
    r = run("registry", "lint", EXAMPLE)
    assert r.code == 0, r.out + r.err
    assert r.out == ""
    assert "ok: 2 chains, 1 custodians, 4 tokens, 8 deployments, 2 attestation files" in r.err


def test_lint_warns_of_a_glob_that_matches_nothing(tmp_path: Path) -> None:
    path = write_world(tmp_path)
    r = run("registry", "lint", path)
    assert r.code == 0, r.out + r.err
    (line,) = r.out.splitlines()
    assert line == (
        f"{path}:12: custodians.acme.attestations[1]: warning: 'missing/*.csv' matches no "
        f"file (globs are relative to {tmp_path}/)"
    )
    assert "1 attestation files, 1 warnings" in r.err


def test_lint_reports_every_stage_at_once(tmp_path: Path) -> None:
    """Unset variables, schema errors in several tokens and the cross-checks: one run."""
    text = (
        registry_text(evm_rpc="${NOPE_ETH}", sol_rpc="${NOPE_SOL}")
        + """\
  - symbol: TSLAx
    isin: US0378331005
    custodian: nobody
    tolerence: "1"
    deployments:
      - {chain: ethereum, address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"}
  - symbol: BAD
    isin: US0378331006
    custodian: acme
    deployments:
      - {chain: solana, mint: nope, decimals: -1}
"""
    )
    path = write_world(tmp_path, text)
    r = run("registry", "lint", path, env={"NOPE_ETH": None, "NOPE_SOL": None})
    assert r.code == 2, r.out + r.err
    lines = r.out.splitlines()
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    got = {(int(m["line"]), m["field"]) for m in parsed if m}
    assert got == {
        (6, "chains.ethereum.rpc[0]"),
        (9, "chains.solana.rpc[0]"),
        (23, "tokens[1].symbol"),  # duplicate: a cross-check beside the schema's errors
        (25, "tokens[1].custodian"),  # unknown custodian: a cross-check too
        (26, "tokens[1].tolerence"),
        (28, "tokens[1].deployments[0]"),  # the same contract listed twice
        (30, "tokens[2].isin"),
        (33, "tokens[2].deployments[0].mint"),
        (33, "tokens[2].deployments[0].decimals"),
    }
    assert all(m["file"] == str(path) for m in parsed if m)
    assert "9 problems" in r.err


def test_lint_reports_attestation_files_that_do_not_parse(tmp_path: Path) -> None:
    path = write_world(tmp_path)
    (tmp_path / "att" / "b.json").write_text('{"custodian": "acme",\n "account": 5}\n')
    (tmp_path / "att" / "c.json").write_text(json.dumps({**ATTESTATION, "custodian": "other"}))
    r = run("registry", "lint", path)
    assert r.code == 2, r.out + r.err
    errors = [line for line in r.out.splitlines() if "warning:" not in line]
    assert len(errors) == 2, r.out
    assert errors[0] == f"{tmp_path / 'att' / 'b.json'}:1: as_of: required key is missing"
    assert "c.json:1: custodian: file says custodian 'other'" in errors[1]


def test_lint_default_registry_and_environment(in_dir: Path) -> None:
    r = run("registry", "lint")
    assert r.code == 2
    assert "no registry: xstock-audit.yaml is not in the current folder" in r.err
    write_world(in_dir)
    r = run("registry", "lint", env={"XSTOCK_AUDIT_REGISTRY": "reg.yaml"})
    assert r.code == 0, r.out + r.err
    assert r.out.startswith("reg.yaml:12: custodians.acme.attestations[1]: warning:")
    (in_dir / "reg.yaml").rename(in_dir / "xstock-audit.yaml")
    assert run("registry", "lint").code == 0


def test_lint_online_is_skipped_when_the_registry_has_problems(tmp_path: Path) -> None:
    path = write_world(tmp_path, registry_text().replace("max_age", "max_aeg"))
    r = run("registry", "lint", "--online", path)
    assert r.code == 2
    assert "online checks skipped" in r.err


def test_lint_missing_file(tmp_path: Path) -> None:
    r = run("registry", "lint", tmp_path / "nope.yaml")
    assert r.code == 2
    assert r.out.strip() == f"{tmp_path / 'nope.yaml'}: file not found"


# ---------------------------------------------------------------------- schema


def _schema() -> dict[str, Any]:
    r = run("registry", "schema")
    assert r.code == 0, r.err
    schema: dict[str, Any] = json.loads(r.out)
    return schema


def _yaml(path: Path) -> Any:
    # as an editor sees it: JSON types (a YAML date is a string to the schema)
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


def test_schema_is_valid_json_schema_with_descriptions() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert "source" not in schema["properties"]
    assert schema["properties"]["tokens"]["description"]
    chains = schema["properties"]["chains"]["additionalProperties"]
    assert chains["discriminator"]["propertyName"] == "type"
    assert {"evm", "solana"} <= set(chains["discriminator"]["mapping"])
    assert schema["$defs"]["EvmChain"]["properties"]["chain_id"]["description"]


def test_examples_validate_and_typos_do_not() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(_schema())
    example = _yaml(EXAMPLE)
    assert list(validator.iter_errors(example)) == []
    for typo in (
        lambda d: d["tokens"][0].__setitem__("tolerence", "1"),
        lambda d: d["chains"]["ethereum"].__setitem__("chainid", 1),
        lambda d: d["custodians"]["example-custody"].__setitem__("max_agee", "1h"),
        lambda d: d["tokens"][1]["deployments"][0].__setitem__("adress", "0x0"),
        lambda d: d.__setitem__("polcy", {}),
    ):
        data = json.loads(json.dumps(example))
        typo(data)
        assert list(validator.iter_errors(data)), typo


def test_schema_accepts_the_loose_forms_the_loader_accepts() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(_schema())
    data = _yaml(EXAMPLE)
    data["tokens"][0]["tolerance"] = {"units": "0.1", "bps": 5}
    data["tokens"][1]["tolerance"] = "0.5%"
    data["tokens"][0]["shares_per_token"] = "1.5"
    data["custodians"]["example-custody"]["max_age"] = "1d12h"
    data["policy"] = {"fail_on": "under", "clock_skew": 0, "drift": "0.5%"}
    assert list(validator.iter_errors(data)) == []
    data["custodians"]["example-custody"]["max_age"] = "soon"
    assert list(validator.iter_errors(data))


# ---------------------------------------------------------------------- init


STARTER_ENV: dict[str, str | None] = {
    "ETH_RPC_URL": "https://eth.invalid/k",
    "SOLANA_RPC_URL": "https://sol.invalid/k",
}


def test_init_writes_a_registry_that_lints(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    r = run("init", folder)
    assert r.code == 0, r.err
    registry = folder / "xstock-audit.yaml"
    text = registry.read_text()
    assert text.startswith("# yaml-language-server: $schema=xstock-audit.schema.json\n")
    assert "${ETH_RPC_URL}" in text and "${SOLANA_RPC_URL}" in text
    statement = json.loads((folder / "attestations" / "example-custody-SAFE-0001.json").read_text())
    assert statement["custodian"] == "example-custody"
    unset = run("registry", "lint", registry, env={k: None for k in STARTER_ENV})
    assert unset.code == 2
    assert "environment variable ETH_RPC_URL is not set" in unset.out
    ok = run("registry", "lint", registry, env=STARTER_ENV)
    assert ok.code == 0, ok.out + ok.err
    assert ok.out == ""  # no problem, no warning
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((folder / "xstock-audit.schema.json").read_text())
    assert schema == _schema()
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(_yaml(registry))) == []


def test_init_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "xstock-audit.yaml").write_text("mine\n")
    r = run("init", tmp_path)
    assert r.code == 2
    assert "would overwrite xstock-audit.yaml (use --force" in r.err
    assert (tmp_path / "xstock-audit.yaml").read_text() == "mine\n"
    assert not (tmp_path / "attestations").exists()
    assert run("init", tmp_path, "--force").code == 0
    assert (tmp_path / "xstock-audit.yaml").read_text().startswith("# yaml-language-server")
    again = run("init", tmp_path)
    assert again.code == 2
    assert (
        "would overwrite xstock-audit.yaml, xstock-audit.schema.json, "
        "attestations/example-custody-SAFE-0001.json"
    ) in again.err


def test_init_checks_the_folder(tmp_path: Path, in_dir: Path) -> None:
    (tmp_path / "file").write_text("x")
    r = run("init", tmp_path / "file")
    assert r.code == 2 and "is a file, not a folder" in r.err
    r = run("init", tmp_path / "a" / "b")
    assert r.code == 2 and "does not exist" in r.err
    assert run("init").code == 0
    assert (in_dir / "xstock-audit.yaml").exists()


# ---------------------------------------------------------------------- lint --online


def _online_registry(
    folder: Path, evm_url: str, chain_id: int, sol_url: str, genesis: str, tokens: str
) -> Path:
    (folder / "att").mkdir(exist_ok=True)
    (folder / "att" / "a.json").write_text(json.dumps(ATTESTATION))
    path = folder / "online.yaml"
    path.write_text(
        f"""\
version: 1
chains:
  evm:
    type: evm
    chain_id: {chain_id}
    rpc: ["{evm_url}/?key=secret-key"]
    retries: 0
  sol:
    type: solana
    genesis_hash: {genesis}
    rpc: ["{sol_url}/?api-key=secret-key"]
    retries: 0
custodians:
  acme:
    attestations: ["att/*.json"]
    max_age: 36h
tokens:
{tokens}"""
    )
    return path


def test_lint_online(evm_node: Any, solana_node: Any, tmp_path: Path) -> None:
    from solders.keypair import Keypair
    from support.evm import deploy_plain_token

    from xstock_audit.sandbox.solana import spl

    six = deploy_plain_token(evm_node, decimals=6).address
    eighteen = deploy_plain_token(evm_node).address
    nobody = "0x" + "ab" * 20
    authority = Keypair()
    solana_node.remember(authority)
    m2022 = spl.create_mint(solana_node, decimals=8, mint_authority=authority)
    mspl = spl.create_mint(solana_node, program="spl", decimals=2, mint_authority=authority)
    missing = Keypair().pubkey()
    good = f"""\
  - symbol: A
    isin: US88160R1014
    custodian: acme
    deployments:
      - {{chain: evm, address: "{six}", decimals: 6}}
      - {{chain: evm, address: "{eighteen}"}}
      - {{chain: sol, mint: {m2022}, decimals: 8}}
      - {{chain: sol, mint: {mspl}}}
"""
    args = (evm_node.url, 31337, solana_node.url, solana_node.genesis_hash)
    ok = run("registry", "lint", "--online", _online_registry(tmp_path, *args, good))
    assert ok.code == 0, ok.out + ok.err
    assert "ok: chains.evm: 2/2 contracts have code, 1 decimals as the registry states" in ok.out
    assert "ok: chains.evm.deployless: deployless batch calls run on" in ok.out
    # with deployless: false the audit would use Multicall3, so that is what is checked
    multicall = _online_registry(tmp_path, *args, good)
    multicall.write_text(
        multicall.read_text().replace(
            "    retries: 0\n", "    retries: 0\n    deployless: false\n", 1
        )
    )
    mc = run("registry", "lint", "--online", multicall)
    assert mc.code == 0, mc.out + mc.err
    assert "ok: chains.evm.multicall: Multicall3 at" in mc.out
    assert "deployless" not in mc.out
    assert "ok: chains.sol: 2/2 mints exist" in ok.out
    assert "secret-key" not in ok.out + ok.err
    bad = f"""\
  - symbol: B
    isin: US88160R1014
    custodian: acme
    deployments:
      - {{chain: evm, address: "{six}", decimals: 18}}
      - {{chain: evm, address: "{nobody}"}}
      - {{chain: sol, mint: {m2022}, decimals: 6}}
      - {{chain: sol, mint: {missing}}}
      - {{chain: sol, mint: {CLOCK}}}
"""
    path = _online_registry(tmp_path, *args, bad)
    r = run("registry", "lint", "--online", path)
    assert r.code == 3, r.out + r.err
    failures = [line for line in r.out.splitlines() if not line.startswith("ok: ")]
    assert failures == [
        f"{path}:22: tokens[0].deployments[0].decimals: evm {six}: decimals() is 6, the "
        "registry says 18",
        f"{path}:23: tokens[0].deployments[1].address: evm {_checksum(nobody)}: no contract "
        "code at this address",
        f"{path}:24: tokens[0].deployments[2].decimals: sol {m2022}: the mint has 8 decimals, "
        "the registry says 6",
        f"{path}:25: tokens[0].deployments[3].mint: sol {missing}: no such account (wrong "
        "cluster or a typo?)",
        f"{path}:26: tokens[0].deployments[4].mint: sol {CLOCK}: owned by "
        "Sysvar1111111111111111111111111111111111111, not the SPL Token or Token-2022 program "
        "(not a mint)",
    ]
    # the wrong network: chain id and genesis hash
    other = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
    path = _online_registry(tmp_path, evm_node.url, 1, solana_node.url, other, good)
    r = run("registry", "lint", "--online", path)
    assert r.code == 3
    assert f"{path}:5: chains.evm.chain_id: http://127.0.0.1:" in r.out
    assert "is chain id 31337, the registry says 1 (wrong network?)" in r.out
    assert f"{path}:10: chains.sol.genesis_hash: http://127.0.0.1:" in r.out
    assert "secret-key" not in r.out + r.err


#: an account that exists and is not a mint
CLOCK = "SysvarC1ock11111111111111111111111111111111"


def _checksum(address: str) -> str:
    from xstock_audit.chains.evm.models import evm_address

    return evm_address(address)


@pytest.mark.slow
def test_lint_online_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    tokens = """\
  - symbol: A
    isin: US88160R1014
    custodian: acme
    deployments:
      - {chain: evm, address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"}
"""
    path = _online_registry(
        tmp_path, url, 1, url, "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d", tokens
    )
    r = run("registry", "lint", "--online", "--timeout", "20", path)
    assert r.code == 3, r.out + r.err
    assert f"{path}:6: chains.evm.rpc[0]: unreachable: http://127.0.0.1:{port}/… " in r.out
    assert "no usable endpoint: 1 deployments not checked" in r.out
    assert "secret-key" not in r.out + r.err
