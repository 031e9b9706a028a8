"""The Solana family's registry models: a chain's settings and a deployment's fields."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, field_validator

from ..interface import ChainSettings, DeploymentModel

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@functools.lru_cache(maxsize=65536)
def pubkey_bytes(v: str, what: str) -> bytes:
    """The 32 bytes of a base58 public key or hash; ValueError naming `what` otherwise."""
    Pubkey = _solders_pubkey()

    if isinstance(v, str) and 32 <= len(v) <= 44:
        try:  # solders decodes a valid key natively; the path below says what is wrong
            return bytes(Pubkey.from_string(v))
        except ValueError:
            pass
    if not isinstance(v, str) or not v or any(c not in _ALPHABET for c in v):
        raise ValueError(f"{v!r} is not a base58 {what}")
    n = 0
    for c in v:
        n = n * 58 + _ALPHABET.index(c)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(v) - len(v.lstrip("1"))) + raw
    if len(raw) != 32:
        raise ValueError(f"{v!r} decodes to {len(raw)} bytes; a Solana {what} has 32")
    Pubkey.from_bytes(raw)
    return raw


@functools.cache
def _solders_pubkey() -> Any:
    """solders' Pubkey, imported on first use (not with the registry's models)."""
    from solders.pubkey import Pubkey

    return Pubkey


def _pubkey(v: str) -> str:
    pubkey_bytes(v, "public key")
    return v


class SolanaChain(ChainSettings):
    type: Literal["solana"]
    #: skip an endpoint whose slot is this many slots behind the others' median
    max_lag: Annotated[StrictInt, Field(ge=0)] = 150
    #: request body limit; Agave's RPC refuses bodies over 50 KiB
    max_body_bytes: Annotated[StrictInt, Field(ge=1024)] = 51_200
    genesis_hash: str | None = None
    commitment: Literal["processed", "confirmed", "finalized"] = "finalized"

    @field_validator("genesis_hash")
    @classmethod
    def _genesis(cls, v: str | None) -> str | None:
        if v is not None:
            pubkey_bytes(v, "genesis hash")
        return v


class SolanaDeployment(DeploymentModel):
    mint: str
    decimals: Annotated[StrictInt, Field(ge=0, le=255)] | None = None
    exclude_owners: list[str] = Field(default_factory=list)
    exclude_accounts: list[str] = Field(default_factory=list)

    @field_validator("mint")
    @classmethod
    def _mint(cls, v: str) -> str:
        return _pubkey(v)

    @field_validator("exclude_owners", "exclude_accounts")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        out = [_pubkey(k) for k in v]
        if len(set(out)) != len(out):
            raise ValueError("a key is listed twice")
        return out

    @property
    def address(self) -> str:
        return self.mint

    @property
    def key(self) -> str:
        return self.mint

    @property
    def label(self) -> str:
        return self.mint
