"""Signed attestation files (custody.signatures): minisign `Ed` and prehashed `ED`, EIP-191
personal-sign, both at once; tampered files, other keys, missing and malformed signature
files, each with the sentence the user reads. Keys are made here; minisign files are written
by tests/support/signing.py, and tests/data/minisign holds files signed by minisign 0.11
itself (key A0C4ECDB7AE7641A, made with `minisign -G -W`; `-S` and `-S -l`)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from support.signing import EthKey, MinisignKey

from xstock_audit.custody import signatures
from xstock_audit.custody.signatures import TAMPERED, SignatureCheck, verify
from xstock_audit.errors import InputError

DATA = Path(__file__).parent / "data" / "minisign"
CONTENT = b'{"account": "SAFE-0001", "as_of": "2026-11-20T23:59:59Z", "holdings": []}\n'


@pytest.fixture
def attestation(tmp_path: Path) -> Path:
    path = tmp_path / "a.json"
    path.write_bytes(CONTENT)
    return path


def only(checks: list[SignatureCheck]) -> SignatureCheck:
    assert len(checks) == 1, checks
    return checks[0]


def flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------- minisign


@pytest.mark.parametrize("prehashed", [True, False], ids=["ED", "Ed"])
def test_minisign_good(attestation: Path, prehashed: bool) -> None:
    key = MinisignKey()
    key.sign(attestation, prehashed=prehashed, trusted_comment="timestamp:1763683199\tfile:a.json")
    data, checks = verify(attestation, "a.json", key.public_key, None)
    assert data == CONTENT
    assert only(checks) == SignatureCheck(
        kind="minisign",
        file="a.json",
        ok=True,
        signature_file="a.json.minisig",
        trusted_comment="timestamp:1763683199\tfile:a.json",
        key_id=key.key_id_text,
    )


@pytest.mark.parametrize("prehashed", [True, False], ids=["ED", "Ed"])
def test_minisign_one_byte_changed(attestation: Path, prehashed: bool) -> None:
    key = MinisignKey()
    key.sign(attestation, prehashed=prehashed)
    flip_one_byte(attestation)
    check = only(verify(attestation, "a.json", key.public_key, None)[1])
    assert not check.ok
    assert check.reason == TAMPERED
    assert check.trusted_comment is None  # not shown unless the whole signature verified


def test_minisign_a_byte_appended(attestation: Path) -> None:
    key = MinisignKey()
    key.sign(attestation)
    attestation.write_bytes(CONTENT + b"\n")
    assert only(verify(attestation, "a.json", key.public_key, None)[1]).reason == TAMPERED


def test_minisign_other_key_same_key_id(attestation: Path) -> None:
    """A forger who copies the key id: the Ed25519 check still fails."""
    registry_key = MinisignKey()
    other = MinisignKey(key_id=registry_key.key_id)
    other.sign(attestation)
    check = only(verify(attestation, "a.json", registry_key.public_key, None)[1])
    assert (check.ok, check.reason) == (False, TAMPERED)


def test_minisign_other_key_id(attestation: Path) -> None:
    registry_key, other = MinisignKey(key_id=bytes(range(8))), MinisignKey(key_id=b"\xff" * 8)
    other.sign(attestation)
    check = only(verify(attestation, "a.json", registry_key.public_key, None)[1])
    assert not check.ok
    assert check.reason == (
        "signed by key id FFFFFFFFFFFFFFFF but the registry's public_key has key id "
        "0706050403020100"
    )
    assert check.key_id == "FFFFFFFFFFFFFFFF"


def test_minisign_trusted_comment_edited(attestation: Path) -> None:
    key = MinisignKey()
    sig = key.sign(attestation, trusted_comment="timestamp:1\tfile:a.json")
    sig.write_text(sig.read_text().replace("file:a.json", "file:b.json"))
    check = only(verify(attestation, "a.json", key.public_key, None)[1])
    assert not check.ok
    assert check.reason == "the trusted comment does not match its signature (edited after signing)"


def test_minisign_untrusted_comment_may_change(attestation: Path) -> None:
    key = MinisignKey()
    sig = key.sign(attestation)
    sig.write_text(sig.read_text().replace("a test key", "anyone may edit this line"))
    assert only(verify(attestation, "a.json", key.public_key, None)[1]).ok


def test_minisign_crlf_line_endings(attestation: Path) -> None:
    key = MinisignKey()
    sig = key.sign(attestation, trusted_comment="t")
    sig.write_bytes(sig.read_bytes().replace(b"\n", b"\r\n"))
    check = only(verify(attestation, "a.json", key.public_key, None)[1])
    assert (check.ok, check.trusted_comment) == (True, "t")


def test_minisign_no_final_newline(attestation: Path) -> None:
    key = MinisignKey()
    sig = key.sign(attestation)
    sig.write_text(sig.read_text().rstrip("\n"))
    assert only(verify(attestation, "a.json", key.public_key, None)[1]).ok


def test_minisign_missing_signature_file(attestation: Path) -> None:
    check = only(verify(attestation, "statements/a.json", MinisignKey().public_key, None)[1])
    assert not check.ok
    assert check.reason == "no signature file statements/a.json.minisig"
    assert check.signature_file == "statements/a.json.minisig"


def test_minisign_signature_file_is_a_directory(attestation: Path) -> None:
    attestation.with_name("a.json.minisig").mkdir()
    check = only(verify(attestation, "a.json", MinisignKey().public_key, None)[1])
    assert check.reason == "signature file a.json.minisig is a directory"


def _good_lines(attestation: Path, key: MinisignKey) -> list[str]:
    return key.signature(attestation.read_bytes()).splitlines()


@pytest.mark.parametrize(
    ("edit", "line", "what"),
    [
        (lambda lines: [], 1, "missing (a minisign signature has four lines"),
        (lambda lines: lines[:3], 4, "missing"),
        (lambda lines: ["comment: x", *lines[1:]], 1, "expected 'untrusted comment: '"),
        (lambda lines: [lines[0], "not base64!", *lines[2:]], 2, "expected base64"),
        (lambda lines: [lines[0], lines[1][:-8], *lines[2:]], 2, "(74 bytes)"),
        (
            lambda lines: [
                lines[0],
                base64.b64encode(b"Xx" + base64.b64decode(lines[1])[2:]).decode(),
                *lines[2:],
            ],
            2,
            "unsupported signature algorithm b'Xx' (expected Ed or ED)",
        ),
        (lambda lines: [*lines[:2], "comment: t", lines[3]], 3, "expected 'trusted comment: '"),
        (
            lambda lines: [*lines[:2], "trusted comment: a\x01b", lines[3]],
            3,
            "the trusted comment has a control character",
        ),
        (lambda lines: [*lines[:3], lines[3][:40]], 4, "the global signature (64 bytes)"),
        (lambda lines: [lines[0] + "\rx", *lines[1:]], 1, "stray carriage return"),
    ],
    ids=[
        "empty",
        "three-lines",
        "line1-prefix",
        "line2-not-base64",
        "line2-short",
        "line2-algorithm",
        "line3-prefix",
        "line3-control",
        "line4-short",
        "stray-cr",
    ],
)
def test_minisign_malformed(attestation: Path, edit: object, line: int, what: str) -> None:
    key = MinisignKey()
    lines = edit(_good_lines(attestation, key))  # type: ignore[operator]
    attestation.with_name("a.json.minisig").write_text("".join(f"{x}\n" for x in lines))
    check = only(verify(attestation, "a.json", key.public_key, None)[1])
    assert not check.ok
    assert check.reason is not None
    assert check.reason.startswith(f"malformed signature file a.json.minisig line {line}: ")
    assert what in check.reason


def test_minisign_binary_garbage(attestation: Path) -> None:
    attestation.with_name("a.json.minisig").write_bytes(b"\x00\xff" * 5000)
    check = only(verify(attestation, "a.json", MinisignKey().public_key, None)[1])
    assert check.reason is not None and check.reason.startswith(
        "malformed signature file a.json.minisig line "
    )


def test_minisign_oversized_signature_file(attestation: Path) -> None:
    attestation.with_name("a.json.minisig").write_bytes(b"x" * 20_000)
    check = only(verify(attestation, "a.json", MinisignKey().public_key, None)[1])
    assert check.reason == (
        "malformed signature file a.json.minisig: more than 16384 bytes, not a signature"
    )


# files signed by the minisign tool itself


def _pub() -> str:
    return (DATA / "minisign.pub").read_text().splitlines()[1]


@pytest.mark.parametrize(
    ("name", "comment"),
    [
        ("statement.json", "timestamp:1763683199\tfile:statement.json\thashed"),
        ("legacy.json", "timestamp:1795348679\tfile:legacy.json"),
    ],
)
def test_files_signed_by_minisign(name: str, comment: str) -> None:
    check = only(verify(DATA / name, name, _pub(), None)[1])
    assert (check.ok, check.trusted_comment, check.key_id) == (True, comment, "A0C4ECDB7AE7641A")


@pytest.mark.parametrize("name", ["statement.json", "legacy.json"])
def test_files_signed_by_minisign_tampered(tmp_path: Path, name: str) -> None:
    for f in (name, name + ".minisig"):
        shutil.copy(DATA / f, tmp_path / f)
    path = tmp_path / name
    path.write_bytes(path.read_bytes().replace(b"1523.000000", b"1523.000001"))
    assert only(verify(path, name, _pub(), None)[1]).reason == TAMPERED


@pytest.mark.slow  # starts the minisign tool
@pytest.mark.skipif(shutil.which("minisign") is None, reason="the minisign tool is not installed")
@pytest.mark.parametrize("prehashed", [True, False], ids=["ED", "Ed"])
def test_minisign_tool_accepts_what_the_tests_write(attestation: Path, prehashed: bool) -> None:
    """The files the tests sign are real minisign files (so the tests test the real format)."""
    key = MinisignKey()
    key.sign(attestation, prehashed=prehashed, trusted_comment="tc")
    p = subprocess.run(
        ["minisign", "-V", "-P", key.public_key, "-m", str(attestation)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert "Trusted comment: tc" in p.stdout


# ---------------------------------------------------------------------- EIP-191


@pytest.mark.parametrize(
    "form",
    [lambda s: s, lambda s: s[2:], lambda s: f"  {s.upper().replace('0X', '0x')}\n\n"],
    ids=["0x", "bare", "padded-upper"],
)
def test_eip191_good(attestation: Path, form: object) -> None:
    key = EthKey()
    sig = form(key.signature(CONTENT))  # type: ignore[operator]
    attestation.with_name("a.json.sig").write_text(sig)
    assert only(verify(attestation, "a.json", None, key.address)[1]) == SignatureCheck(
        kind="eip191", file="a.json", ok=True, signature_file="a.json.sig", signer=key.address
    )


def test_eip191_registry_address_in_lower_case(attestation: Path) -> None:
    key = EthKey()
    key.sign(attestation)
    assert only(verify(attestation, "a.json", None, key.address.lower())[1]).ok


def test_eip191_v_as_0_or_1(attestation: Path) -> None:
    key = EthKey()
    raw = bytes.fromhex(key.signature(CONTENT)[2:])
    attestation.with_name("a.json.sig").write_text((raw[:64] + bytes([raw[64] - 27])).hex())
    assert only(verify(attestation, "a.json", None, key.address)[1]).ok


def test_eip191_one_byte_changed(attestation: Path) -> None:
    key = EthKey()
    key.sign(attestation)
    flip_one_byte(attestation)
    check = only(verify(attestation, "a.json", None, key.address)[1])
    assert not check.ok
    assert check.signer is not None and check.signer != key.address
    assert check.reason == (
        f"recovered signer {check.signer} is not the registry's signer {key.address} "
        "(tampered, or signed by another key)"
    )


def test_eip191_other_key(attestation: Path) -> None:
    registry_key, other = EthKey(), EthKey()
    other.sign(attestation)
    check = only(verify(attestation, "a.json", None, registry_key.address)[1])
    assert (check.ok, check.signer) == (False, other.address)
    assert f"recovered signer {other.address} is not the registry's signer" in str(check.reason)


def test_eip191_missing(attestation: Path) -> None:
    check = only(verify(attestation, "a.json", None, EthKey().address)[1])
    assert (check.ok, check.reason) == (False, "no signature file a.json.sig")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "0x" + "ab" * 64,
        "0x" + "ab" * 66,
        "zz" * 65,
        "0x" + "ab " * 65,
        "0x0x" + "ab" * 65,
    ],
    ids=["empty", "0x-only", "64-bytes", "66-bytes", "not-hex", "spaced", "double-0x"],
)
def test_eip191_malformed(attestation: Path, text: str) -> None:
    attestation.with_name("a.json.sig").write_text(text)
    check = only(verify(attestation, "a.json", None, EthKey().address)[1])
    assert check.reason == (
        "malformed signature file a.json.sig line 1: expected a 65-byte signature as hex "
        "(130 hex digits, 0x optional)"
    )


@pytest.mark.parametrize("v", [0x1B, 0x05], ids=["zero-r-s", "bad-v"])
def test_eip191_not_a_signature(attestation: Path, v: int) -> None:
    attestation.with_name("a.json.sig").write_text((bytes(64) + bytes([v])).hex())
    check = only(verify(attestation, "a.json", None, EthKey().address)[1])
    assert (check.ok, check.reason, check.signer) == (False, TAMPERED, None)


@pytest.mark.parametrize(
    "data", [b"", b"x", CONTENT, "Zürich ✓\n".encode(), bytes(range(256)) * 40]
)
def test_eip191_recovery_agrees_with_eth_account(data: bytes) -> None:
    """The hand-made EIP-191 hash + eth_keys recovery = eth-account's recover_message."""
    key = EthKey()
    raw = bytes.fromhex(key.signature(data)[2:])
    expected = Account.recover_message(encode_defunct(primitive=data), signature=raw)
    assert signatures._recover(signatures.eip191_hash(data), raw) == expected == key.address


# ---------------------------------------------------------------------- both, neither


def test_both_declared_both_pass(attestation: Path) -> None:
    mkey, ekey = MinisignKey(), EthKey()
    mkey.sign(attestation, trusted_comment="tc")
    ekey.sign(attestation)
    checks = verify(attestation, "a.json", mkey.public_key, ekey.address)[1]
    assert [(c.kind, c.ok) for c in checks] == [("minisign", True), ("eip191", True)]
    assert checks[0].trusted_comment == "tc"
    assert checks[1].signer == ekey.address


def test_both_declared_one_missing(attestation: Path) -> None:
    mkey, ekey = MinisignKey(), EthKey()
    mkey.sign(attestation)
    checks = verify(attestation, "a.json", mkey.public_key, ekey.address)[1]
    assert [(c.kind, c.ok, c.reason) for c in checks] == [
        ("minisign", True, None),
        ("eip191", False, "no signature file a.json.sig"),
    ]


def test_both_declared_tampered_fails_both(attestation: Path) -> None:
    mkey, ekey = MinisignKey(), EthKey()
    mkey.sign(attestation)
    ekey.sign(attestation)
    flip_one_byte(attestation)
    checks = verify(attestation, "a.json", mkey.public_key, ekey.address)[1]
    assert [c.ok for c in checks] == [False, False]


def test_no_key_declared_no_check(attestation: Path) -> None:
    assert verify(attestation, "a.json", None, None) == (CONTENT, [])


def test_unreadable_attestation_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^statements/x\.json: file not found$"):
        verify(tmp_path / "x.json", "statements/x.json", MinisignKey().public_key, None)


def test_describe_and_json(attestation: Path) -> None:
    key = MinisignKey()
    key.sign(attestation, trusted_comment="tc")
    check = only(verify(attestation, "a.json", key.public_key, None)[1])
    assert (
        check.describe() == f"minisign signature OK (key id {key.key_id_text}, trusted comment: tc)"
    )
    assert check.to_json() == {
        "kind": "minisign",
        "ok": True,
        "reason": None,
        "signature_file": "a.json.minisig",
        "trusted_comment": "tc",
        "key_id": key.key_id_text,
        "signer": None,
    }
    failed = SignatureCheck(kind="eip191", file="a.json", ok=False, reason="no signature file x")
    assert failed.describe() == "EIP-191 signature FAILED: no signature file x"
