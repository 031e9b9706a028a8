"""Signing attestation files in the tests: minisign files written here (both the legacy `Ed`
and the prehashed `ED` form, with the same Ed25519 library the package verifies with), and
EIP-191 personal-sign signatures made with eth-account (not with the package's own code)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

__all__ = ["EthKey", "MinisignKey"]


@dataclass
class MinisignKey:
    secret: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    key_id: bytes = field(default_factory=lambda: os.urandom(8))

    @property
    def public_key(self) -> str:
        """As in a minisign.pub's second line: base64 of Ed + key id + the Ed25519 key."""
        raw = self.secret.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(b"Ed" + self.key_id + raw).decode()

    @property
    def key_id_text(self) -> str:
        """The key id as minisign prints it."""
        return f"{int.from_bytes(self.key_id, 'little'):016X}"

    def signature(
        self, data: bytes, *, prehashed: bool = True, trusted_comment: str = "timestamp:1"
    ) -> str:
        """The text of a .minisig file for `data`."""
        alg = b"ED" if prehashed else b"Ed"
        message = hashlib.blake2b(data, digest_size=64).digest() if prehashed else data
        sig = self.secret.sign(message)
        global_sig = self.secret.sign(sig + trusted_comment.encode())
        return (
            "untrusted comment: signature from a test key\n"
            f"{base64.b64encode(alg + self.key_id + sig).decode()}\n"
            f"trusted comment: {trusted_comment}\n"
            f"{base64.b64encode(global_sig).decode()}\n"
        )

    def sign(
        self, path: Path, *, prehashed: bool = True, trusted_comment: str = "timestamp:1"
    ) -> Path:
        """Write PATH.minisig for the file's current bytes."""
        sig_path = path.with_name(path.name + ".minisig")
        text = self.signature(
            path.read_bytes(), prehashed=prehashed, trusted_comment=trusted_comment
        )
        sig_path.write_text(text)
        return sig_path


@dataclass
class EthKey:
    account: LocalAccount = field(default_factory=Account.create)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def signature(self, data: bytes) -> str:
        """personal_sign over the exact bytes, as 0x-prefixed hex."""
        return (
            "0x" + bytes(self.account.sign_message(encode_defunct(primitive=data)).signature).hex()
        )

    def sign(self, path: Path) -> Path:
        sig_path = path.with_name(path.name + ".sig")
        sig_path.write_text(self.signature(path.read_bytes()) + "\n")
        return sig_path
