"""`xstock-audit attest verify|show`: exit codes 0/2/3, what is printed, which custodian's key
is used (the one whose attestations glob matches the file), and no key checked without a
registry. In-process through Typer's CliRunner (pure: no process, no socket), plus a few
runs of the installed console script (slow) for the exit codes and tracebacks a shell sees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.cli import CLI
from support.signing import EthKey, MinisignKey
from typer.testing import CliRunner

from xstock_audit.cli import app

TSLA = "US88160R1014"
AAPL = "US0378331005"
NVDA = "US67066G1040"


def statement(account: str = "SAFE-0001", quantity: str = "1523.000000") -> str:
    return (
        f'{{"custodian": "bank-a", "account": "{account}", "as_of": "2026-11-20T23:59:59Z",\n'
        f' "holdings": [{{"isin": "{TSLA}", "quantity": "{quantity}"}},\n'
        f'              {{"isin": "{NVDA}", "quantity": "7.25"}}]}}\n'
    )


@dataclass
class World:
    root: Path
    registry: Path
    minisign: MinisignKey
    eth: EthKey

    def signed(self, name: str, text: str | None = None) -> Path:
        """statements/NAME for bank-a, signed with both keys."""
        path = self.root / "statements" / name
        path.write_text(statement() if text is None else text)
        self.minisign.sign(path, trusted_comment=f"timestamp:1763683199\tfile:{name}")
        self.eth.sign(path)
        return path


def registry_text(public_key: str, signer: str) -> str:
    return f"""\
version: 1
chains:
  ethereum:
    type: evm
    chain_id: 1
    rpc: ["http://127.0.0.1:1"]
custodians:
  bank-a:
    attestations: ["statements/*.json"]
    max_age: 36h
    public_key: "{public_key}"
    signer: "{signer}"
  bank-b:
    attestations: ["plain/*.csv"]
    max_age: 36h
tokens:
  - symbol: TSLAx
    isin: {TSLA}
    custodian: [bank-a, bank-b]
    deployments:
      - chain: ethereum
        address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"
        decimals: 18
  - symbol: AAPLx
    isin: {AAPL}
    custodian: bank-b
    deployments:
      - chain: ethereum
        address: "0x9d275685dc284c8eb1c79f6aba7a63dc75ec890a"
        decimals: 18
"""


@pytest.fixture
def world(tmp_path: Path) -> World:
    mkey, ekey = MinisignKey(), EthKey()
    (tmp_path / "statements").mkdir()
    (tmp_path / "plain").mkdir()
    registry = tmp_path / "xstock-audit.yaml"
    registry.write_text(registry_text(mkey.public_key, ekey.address))
    return World(tmp_path, registry, mkey, ekey)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def in_dir(tmp_path: Path) -> Iterator[Path]:
    """Run in tmp_path (where a default registry may or may not be)."""
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def run(*args: str | Path) -> Run:
    result = CliRunner().invoke(app, [str(a) for a in args], env={"NO_COLOR": "1"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


# ---------------------------------------------------------------------- verify


def test_verify_good(world: World) -> None:
    a, b = world.signed("a.json"), world.signed("b.json")
    r = run("attest", "verify", "--registry", world.registry, a, b)
    assert r.code == 0, r
    assert f"{a}: signed and verified (custodian bank-a)\n" in r.stdout
    assert (
        f"  minisign signature OK (key id {world.minisign.key_id_text}, trusted comment: "
        "timestamp:1763683199\tfile:a.json)\n"
    ) in r.stdout
    assert f"  EIP-191 signature OK (signer {world.eth.address})\n" in r.stdout
    assert "  format native: 1 statement\n" in r.stdout
    assert r.stderr == "2 files: 2 verified\n"


def test_verify_tampered_is_3(world: World) -> None:
    good, bad = world.signed("a.json"), world.signed("b.json")
    bad.write_text(statement(quantity="1524.000000"))
    r = run("attest", "verify", "-r", world.registry, good, bad)
    assert r.code == 3, r
    assert f"{bad}: signature FAILED (custodian bank-a)\n" in r.stdout
    assert (
        "  minisign signature FAILED: signature does not match the file's content "
        "(tampered, or signed by another key)\n"
    ) in r.stdout
    assert "  EIP-191 signature FAILED: recovered signer 0x" in r.stdout
    assert f"{good}: signed and verified" in r.stdout
    assert r.stderr == "2 files: 1 verified, 1 failed\n"


def test_verify_missing_signature_is_3(world: World) -> None:
    path = world.signed("a.json")
    path.with_name("a.json.sig").unlink()
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 3
    assert f"  EIP-191 signature FAILED: no signature file {path}.sig\n" in r.stdout
    assert "  minisign signature OK" in r.stdout


def test_verify_signed_by_another_key_is_3(world: World) -> None:
    path = world.root / "statements" / "a.json"
    path.write_text(statement())
    MinisignKey().sign(path)
    EthKey().sign(path)
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 3
    assert (
        "signed by key id " in r.stdout and "but the registry's public_key has key id" in r.stdout
    )
    assert f"is not the registry's signer {world.eth.address}" in r.stdout


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "statements" / "gone.json", "statements/gone.json: file not found"),
        (
            lambda d: (d / "statements" / "dir.json").mkdir() or d / "statements" / "dir.json",
            "statements/dir.json: is a directory, expected a file",
        ),
    ],
    ids=["missing", "directory"],
)
def test_verify_unreadable_is_2(world: World, in_dir: Path, make: object, message: str) -> None:
    good = world.signed("a.json")
    target = make(world.root)  # type: ignore[operator]
    r = run("attest", "verify", good.relative_to(world.root), target.relative_to(world.root))
    assert r.code == 2, r
    assert f"error: {message}\n" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_verify_unparsable_names_file_and_line(world: World) -> None:
    """Signed, even: a file that cannot be parsed is exit 2 (unreadable beats failed)."""
    path = world.signed("a.json", statement(quantity="1,5"))
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 2
    assert r.stderr == (
        "1 file: 1 unreadable\n"
        f"error: {path}:2: holdings[0].quantity: not a decimal number: '1,5'\n"
    )
    assert "  minisign signature OK" in r.stdout  # the signature itself was fine


def test_verify_wrong_custodian_in_file_is_2(world: World) -> None:
    path = world.signed("a.json", statement().replace('"bank-a"', '"bank-z"'))
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 2
    assert "file says custodian 'bank-z', but the registry reads it for 'bank-a'" in r.stderr


def test_verify_default_registry_in_current_folder(world: World, in_dir: Path) -> None:
    world.signed("a.json")
    r = run("attest", "verify", "statements/a.json")
    assert r.code == 0
    assert "statements/a.json: signed and verified (custodian bank-a)" in r.stdout
    (world.root / "statements" / "a.json.minisig").unlink()
    assert run("attest", "verify", "statements/a.json").code == 3


def test_verify_without_registry_checks_the_format_only(tmp_path: Path, in_dir: Path) -> None:
    (tmp_path / "a.json").write_text(statement())  # unsigned: nobody says it must be
    r = run("attest", "verify", "a.json")
    assert r.code == 0
    assert r.stdout == (
        "a.json: readable, no key checked\n"
        "  format native: 1 statement\n"
        "  no registry, so no key was checked\n"
    )
    assert "no key was checked" in r.stderr
    (tmp_path / "b.json").write_text("{")
    assert run("attest", "verify", "a.json", "b.json").code == 2


def test_verify_file_no_custodian_reads(world: World) -> None:
    path = world.root / "elsewhere.json"
    path.write_text(statement())
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 0
    assert (
        f"  no custodian of {world.registry} reads this file (no attestations glob matches it), "
        "so no key was checked\n"
    ) in r.stdout


def test_verify_custodian_without_keys(world: World) -> None:
    path = world.root / "plain" / "s.csv"
    path.write_text(f"isin,quantity,as_of,account\n{AAPL},10,2026-11-20T00:00:00Z,X\n")
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 0
    assert f"{path}: readable, not signed (custodian bank-b)\n" in r.stdout
    assert "  custodian bank-b declares no public_key or signer\n" in r.stdout


def test_verify_bad_registry_is_2(world: World) -> None:
    world.registry.write_text("version: 2\n")
    r = run("attest", "verify", "-r", world.registry, world.signed("a.json"))
    assert r.code == 2
    assert r.stderr.startswith(f"error: {world.registry}:1: version")


# ---------------------------------------------------------------------- show


def test_show_table(world: World) -> None:
    path = world.signed("a.json")
    r = run("attest", "show", "-r", world.registry, path)
    assert r.code == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == f"{path} (format native, custodian bank-a)"
    # Rich expands the trusted comment's tab (minisign's own comments have tabs)
    assert " ".join(lines[1].split()) == (
        f"signature: minisign signature OK (key id {world.minisign.key_id_text}, "
        "trusted comment: timestamp:1763683199 file:a.json)"
    )
    assert lines[2] == f"signature: EIP-191 signature OK (signer {world.eth.address})"
    header = [[c.strip() for c in line.split("┃")[1:-1]] for line in lines if "┃" in line]
    assert header == [["account", "as of", "ISIN", "quantity", "token"]]
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "│" in line]
    assert rows == [
        ["SAFE-0001", "2026-11-20T23:59:59Z", TSLA, "1523.000000", "TSLAx"],
        ["SAFE-0001", "2026-11-20T23:59:59Z", NVDA, "7.25", "not used"],
    ]


def test_show_json(world: World) -> None:
    path = world.signed("a.json")
    r = run("attest", "show", "-r", world.registry, path, "--format", "json")
    assert r.code == 0
    doc = json.loads(r.stdout)
    assert doc["file"] == str(path)
    assert (doc["format"], doc["custodians"]) == ("native", ["bank-a"])
    assert doc["signature"]["status"] == "verified"
    assert [c["kind"] for c in doc["signature"]["checks"]] == ["minisign", "eip191"]
    assert doc["signature"]["checks"][0]["trusted_comment"] == "timestamp:1763683199\tfile:a.json"
    (st,) = doc["statements"]
    assert (st["account"], st["as_of"]) == ("SAFE-0001", "2026-11-20T23:59:59Z")
    assert st["holdings"] == [
        {
            "isin": TSLA,
            "quantity": "1523.000000",
            "unavailable": "0",
            "tokens": ["TSLAx"],
        },
        {"isin": NVDA, "quantity": "7.25", "unavailable": "0", "tokens": []},
    ]
    # decimal strings, never floats, all the way down
    assert '"quantity": "1523.000000"' in r.stdout


def test_show_tampered_is_3_and_says_so(world: World) -> None:
    path = world.signed("a.json")
    path.write_text(statement(quantity="9999.000000"))
    r = run("attest", "show", "-r", world.registry, path, "-f", "json")
    assert r.code == 3
    doc = json.loads(r.stdout)
    assert doc["signature"]["status"] == "failed"
    assert [c["ok"] for c in doc["signature"]["checks"]] == [False, False]
    r = run("attest", "show", "-r", world.registry, path)
    assert r.code == 3
    assert "signature: minisign signature FAILED: signature does not match" in r.stdout


def test_show_without_registry(tmp_path: Path, in_dir: Path) -> None:
    (tmp_path / "a.json").write_text(statement())
    r = run("attest", "show", "a.json", "-f", "json")
    assert r.code == 0
    doc = json.loads(r.stdout)
    assert (doc["registry"], doc["custodians"]) == (None, [])
    assert doc["signature"] == {
        "status": "unchecked",
        "note": "no registry, so no key was checked",
        "checks": [],
    }
    assert "tokens" not in doc["statements"][0]["holdings"][0]


def test_show_unreadable_is_2(tmp_path: Path, in_dir: Path) -> None:
    (tmp_path / "a.json").write_text('{"account": "A",\n "as_of": "yesterday", "holdings": []}\n')
    r = run("attest", "show", "a.json")
    assert r.code == 2
    assert r.stdout == ""
    assert r.stderr.startswith("error: a.json:2: as_of: ")


def test_show_bad_format_option_is_2(tmp_path: Path, in_dir: Path) -> None:
    (tmp_path / "a.json").write_text(statement())
    assert run("attest", "show", "a.json", "--format", "xml").code == 2


# ---------------------------------------------------------------------- the installed command


@pytest.mark.slow  # the console script in subprocesses
def test_console_script_exit_codes(world: World) -> None:
    good = world.signed("a.json")
    bad = world.signed("b.json")
    bad.write_bytes(bad.read_bytes() + b" ")
    env = {**os.environ, "NO_COLOR": "1"}

    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "attest", *map(str, args)], capture_output=True, text=True, env=env, timeout=60
        )

    assert cli("verify", "-r", world.registry, good).returncode == 0
    p = cli("verify", "-r", world.registry, good, bad)
    assert p.returncode == 3 and "signature FAILED" in p.stdout
    p = cli("verify", "-r", world.registry, world.root / "missing.json")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    p = cli("verify", "-r", world.registry, world.root / "missing.json", "--debug")
    assert p.returncode == 2 and "missing.json: file not found" in p.stderr
    p = cli("show", "-r", world.registry, good, "-f", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["signature"]["status"] == "verified"


@pytest.mark.slow  # a fresh interpreter
def test_cli_import_loads_no_signature_library() -> None:
    code = (
        "import sys, xstock_audit.cli\n"
        "print(sorted(m for m in ('cryptography', 'eth_keys', 'eth_hash', 'eth_account', "
        "'rich.table', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_verify_file_read_by_two_custodians_checks_both_keys(world: World) -> None:
    """A file two custodians' globs match is read for both: each one's key must verify it."""
    other = MinisignKey()
    text = world.registry.read_text().replace(
        '    attestations: ["plain/*.csv"]',
        f'    attestations: ["statements/*.json"]\n    public_key: "{other.public_key}"',
    )
    world.registry.write_text(text)
    path = world.root / "statements" / "a.json"
    path.write_text(statement().replace('"custodian": "bank-a", ', ""))
    world.minisign.sign(path)
    world.eth.sign(path)
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 3, r
    assert f"{path}: signature FAILED (custodian bank-a, bank-b)\n" in r.stdout
    assert r.stdout.count("minisign signature OK") == 1
    assert "minisign signature FAILED: signed by key id " in r.stdout
    assert "EIP-191 signature OK" in r.stdout


ISO = Path(__file__).parent / "data" / "custody" / "iso"


def test_show_unavailable_of_a_bank_statement(tmp_path: Path, in_dir: Path) -> None:
    """semt.002 states a not-available part: the table gets the column, JSON has it as a
    decimal string (the format is detected by content, as check does with format: auto)."""
    r = run("attest", "show", ISO / "semt002-v11.xml")
    assert r.code == 0, r
    assert r.stdout.splitlines()[0] == f"{ISO / 'semt002-v11.xml'} (format semt002)"
    header = [[c.strip() for c in x.split("┃")[1:-1]] for x in r.stdout.splitlines() if "┃" in x]
    assert header == [["account", "as of", "ISIN", "quantity", "unavailable"]]
    rows = [[c.strip() for c in x.split("│")[1:-1]] for x in r.stdout.splitlines() if "│" in x]
    assert rows[0] == ["SAFE-0011", "2026-11-20T23:00:00Z", TSLA, "1500.000000", "23.000000"]
    doc = json.loads(run("attest", "show", ISO / "semt002-v11.xml", "-f", "json").stdout)
    first = doc["statements"][0]["holdings"][0]
    assert (first["quantity"], first["unavailable"]) == ("1500.000000", "23.000000")


def test_custodian_format_is_used(world: World) -> None:
    """The registry's format: reads the custodian's files, whatever their suffix."""
    text = world.registry.read_text().replace(
        '    attestations: ["plain/*.csv"]', '    format: csv\n    attestations: ["plain/*.dat"]'
    )
    world.registry.write_text(text)
    path = world.root / "plain" / "s.dat"
    path.write_text(f"isin,quantity,as_of,account\n{AAPL},10,2026-11-20T00:00:00Z,X\n")
    r = run("attest", "verify", "-r", world.registry, path)
    assert r.code == 0, r
    assert "  format csv: 1 statement\n" in r.stdout
    r = run("attest", "verify", path)  # no registry: by content, then suffix
    assert r.code == 0, r
    assert "  format csv: 1 statement\n" in r.stdout
