"""Signed attestation files: did this file come from the custodian, unedited?

A custodian with `public_key` (minisign) signs each file into `FILE.minisig`; one with
`signer` (an Ethereum address) signs it with EIP-191 personal-sign into `FILE.sig`. With both,
both must pass. `verify` reads the file's exact bytes once and returns one `SignatureCheck`
per declared key; a missing, unreadable or malformed signature file is a failed check with
a reason a person can act on, never an exception (the caller turns a failed check into
UNVERIFIED, or exit code 3).

minisign (as jedisct1/minisign's `sig_load` and `verify` read it): the public key is base64 of
`Ed` + an 8-byte key id + a 32-byte Ed25519 key. `FILE.minisig` has four lines:

    untrusted comment: <anything>
    base64(`Ed` or `ED` + 8-byte key id + 64-byte Ed25519 signature)
    trusted comment: <printable text>
    base64(64-byte Ed25519 signature of (the signature above + the trusted comment))

`Ed` signs the file's bytes, `ED` (minisign's default since 0.10) signs their BLAKE2b-512
hash. A line may end in CRLF. Key ids are shown as minisign shows them: the 8 bytes read as a
little-endian number, in 16 upper-case hex digits.

Ed25519 comes from `cryptography` (PyCA), EIP-191 recovery from `eth_keys` and `eth_hash`
(the libraries eth-account itself uses); all are imported only when a key is declared.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "EIP191_SUFFIX",
    "MINISIGN_SUFFIX",
    "SignatureCheck",
    "check_eip191",
    "check_minisign",
    "key_id",
    "verify",
    "verify_bytes",
]

MINISIGN_SUFFIX = ".minisig"
EIP191_SUFFIX = ".sig"

#: a signature file larger than this is not one (minisign's trusted comment is < 8 KiB)
MAX_SIGNATURE_BYTES = 16 * 1024

UNTRUSTED_PREFIX = "untrusted comment: "
TRUSTED_PREFIX = "trusted comment: "

TAMPERED = "signature does not match the file's content (tampered, or signed by another key)"

Kind = Literal["minisign", "eip191"]


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of one attestation file, checked against the registry's key."""

    kind: Kind
    #: the attestation file, as named to the user
    file: str
    ok: bool
    #: why it failed, a sentence for the user (None when ok)
    reason: str | None = None
    #: the signature file, as named to the user
    signature_file: str = ""
    #: minisign: the verified trusted comment (None unless the whole signature verified)
    trusted_comment: str | None = None
    #: minisign: the key id the signature names (16 hex digits, as minisign prints it)
    key_id: str | None = None
    #: EIP-191: the address recovered from the signature (checksummed)
    signer: str | None = None

    def describe(self) -> str:
        """One line for people: what was checked, and the outcome."""
        name = "minisign" if self.kind == "minisign" else "EIP-191"
        if not self.ok:
            return f"{name} signature FAILED: {self.reason}"
        if self.kind == "minisign":
            return (
                f"minisign signature OK (key id {self.key_id}, "
                f"trusted comment: {self.trusted_comment})"
            )
        return f"EIP-191 signature OK (signer {self.signer})"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "reason": self.reason,
            "signature_file": self.signature_file,
            "trusted_comment": self.trusted_comment,
            "key_id": self.key_id,
            "signer": self.signer,
        }


def key_id(raw: bytes) -> str:
    """An 8-byte minisign key id as minisign prints it (little-endian, 16 hex digits)."""
    return f"{int.from_bytes(raw, 'little'):016X}"


def verify(
    path: Path, display: str, public_key: str | None, signer: str | None
) -> tuple[bytes, list[SignatureCheck]]:
    """The file's exact bytes (read once) and one check per declared key (none: no check).

    The bytes are returned so that the caller parses exactly what was verified. A file that
    cannot be read raises `InputError` (exit code 2): that is the attestation, not its
    signature."""
    from ..yamlsrc import read_bytes

    data = read_bytes(path, display)
    return data, verify_bytes(data, path, display, public_key, signer)


def verify_bytes(
    data: bytes, path: Path, display: str, public_key: str | None, signer: str | None
) -> list[SignatureCheck]:
    """The checks of `data`, the bytes of `path`; signature files are found beside `path`."""
    checks = []
    if public_key is not None:
        sig_path = path.with_name(path.name + MINISIGN_SUFFIX)
        checks.append(
            check_minisign(data, display, sig_path, display + MINISIGN_SUFFIX, public_key)
        )
    if signer is not None:
        sig_path = path.with_name(path.name + EIP191_SUFFIX)
        checks.append(check_eip191(data, display, sig_path, display + EIP191_SUFFIX, signer))
    return checks


class _Bad(Exception):
    """A failed check's reason (internal: every check returns, never raises)."""


def _read_signature(path: Path, display: str) -> bytes:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SIGNATURE_BYTES + 1)
    except FileNotFoundError:
        raise _Bad(f"no signature file {display}") from None
    except IsADirectoryError:
        raise _Bad(f"signature file {display} is a directory") from None
    except OSError as exc:
        raise _Bad(f"cannot read signature file {display}: {exc.strerror}") from None
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise _Bad(
            f"malformed signature file {display}: more than {MAX_SIGNATURE_BYTES} bytes, "
            "not a signature"
        )
    return raw


def _malformed(display: str, line: int, what: str) -> _Bad:
    return _Bad(f"malformed signature file {display} line {line}: {what}")


def _b64(text: bytes, size: int, display: str, line: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise _malformed(display, line, f"expected base64 of {what} ({size} bytes)")
    return raw


def _lines(raw: bytes, display: str) -> list[bytes]:
    """The first four lines, each without its line ending (LF or CRLF)."""
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) < 4:
        raise _malformed(
            display,
            len(lines) + 1,
            "missing (a minisign signature has four lines: untrusted comment, signature, "
            "trusted comment, global signature)",
        )
    out = []
    for n, line in enumerate(lines[:4], start=1):
        line = line.removesuffix(b"\r")
        if b"\r" in line:
            raise _malformed(display, n, "stray carriage return")
        out.append(line)
    return out


def _printable(text: str) -> bool:
    """minisign's `is_printable`: tab, or no control character (C0, DEL; C1 here too)."""
    return all(c == "\t" or not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) for c in text)


def check_minisign(
    data: bytes, display: str, sig_path: Path, sig_display: str, public_key: str
) -> SignatureCheck:
    """`data` against the minisign signature in `sig_path` and the registry's `public_key`."""
    found: str | None = None
    try:
        try:
            pk = base64.b64decode(public_key.strip(), validate=True)
        except (binascii.Error, ValueError):
            pk = b""
        if len(pk) != 42 or pk[:2] != b"Ed":  # the registry's schema refuses these already
            raise _Bad("the registry's public_key is not a minisign public key")
        lines = _lines(_read_signature(sig_path, sig_display), sig_display)
        if not lines[0].startswith(UNTRUSTED_PREFIX.encode()):
            raise _malformed(sig_display, 1, f"expected {UNTRUSTED_PREFIX!r}")
        sig = _b64(lines[1], 74, sig_display, 2, "the algorithm, key id and signature")
        alg, found, signature = sig[:2], key_id(sig[2:10]), sig[10:]
        if alg not in (b"Ed", b"ED"):
            raise _malformed(
                sig_display, 2, f"unsupported signature algorithm {alg!r} (expected Ed or ED)"
            )
        if not lines[2].startswith(TRUSTED_PREFIX.encode()):
            raise _malformed(sig_display, 3, f"expected {TRUSTED_PREFIX!r}")
        comment_bytes = lines[2][len(TRUSTED_PREFIX) :]
        try:
            comment = comment_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(sig_display, 3, "the trusted comment is not UTF-8 text") from None
        if not _printable(comment):
            raise _malformed(sig_display, 3, "the trusted comment has a control character")
        global_sig = _b64(lines[3], 64, sig_display, 4, "the global signature")
        expected = key_id(pk[2:10])
        if found != expected:
            raise _Bad(
                f"signed by key id {found} but the registry's public_key has key id {expected}"
            )
        message = hashlib.blake2b(data, digest_size=64).digest() if alg == b"ED" else data
        if not _ed25519_ok(pk[10:], signature, message):
            raise _Bad(TAMPERED)
        if not _ed25519_ok(pk[10:], global_sig, signature + comment_bytes):
            raise _Bad("the trusted comment does not match its signature (edited after signing)")
    except _Bad as bad:
        return SignatureCheck(
            kind="minisign",
            file=display,
            ok=False,
            reason=str(bad),
            signature_file=sig_display,
            key_id=found,
        )
    return SignatureCheck(
        kind="minisign",
        file=display,
        ok=True,
        signature_file=sig_display,
        trusted_comment=comment,
        key_id=found,
    )


def _ed25519_ok(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def eip191_hash(data: bytes) -> bytes:
    """EIP-191 version 0x45 (personal_sign) of `data`: keccak256 of the prefixed bytes."""
    from eth_hash.auto import keccak

    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)


def check_eip191(
    data: bytes, display: str, sig_path: Path, sig_display: str, signer: str
) -> SignatureCheck:
    """`data` against the EIP-191 signature (65 bytes, hex) in `sig_path` and `signer`."""
    recovered: str | None = None
    try:
        raw = _read_signature(sig_path, sig_display)
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            text = None
        if text is not None and text[:2] in ("0x", "0X"):
            text = text[2:]
        try:
            sig = bytes.fromhex(text) if text is not None and text.isalnum() else b""
        except ValueError:
            sig = b""
        if len(sig) != 65:
            raise _malformed(
                sig_display, 1, "expected a 65-byte signature as hex (130 hex digits, 0x optional)"
            )
        recovered = _recover(eip191_hash(data), sig)
        if recovered is None:
            raise _Bad(TAMPERED)
        if recovered.lower() != signer.lower():
            raise _Bad(
                f"recovered signer {recovered} is not the registry's signer {signer} "
                "(tampered, or signed by another key)"
            )
    except _Bad as bad:
        return SignatureCheck(
            kind="eip191",
            file=display,
            ok=False,
            reason=str(bad),
            signature_file=sig_display,
            signer=recovered,
        )
    return SignatureCheck(
        kind="eip191", file=display, ok=True, signature_file=sig_display, signer=recovered
    )


def _recover(message_hash: bytes, sig: bytes) -> str | None:
    """The checksummed address that signed `message_hash` (None: not a valid signature).

    `v` is 27/28 as personal_sign writes it, or 0/1."""
    from eth_keys.datatypes import Signature
    from eth_keys.exceptions import BadSignature
    from eth_utils.exceptions import ValidationError

    v = sig[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        return None
    try:
        signature = Signature(signature_bytes=sig[:64] + bytes([v]))
        return str(signature.recover_public_key_from_msg_hash(message_hash).to_checksum_address())
    except (BadSignature, ValidationError, ValueError):
        return None
