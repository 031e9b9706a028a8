"""The EVM family's registry models: a chain's settings and a deployment's fields."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import Field, StrictInt, field_validator, model_validator

from ..interface import ChainSettings, DeploymentModel, _check_rpc_urls
from ..multicall import MULTICALL3_ADDRESS

_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")


#: hex letters -> 0x20 (the bit that makes them lower case), digits -> 0
_LETTER_BIT = bytes.maketrans(b"0123456789abcdef", b"\0" * 10 + b" " * 6)
#: hash nibbles 8..f -> 0x20 (upper-case the letter there), 0..7 -> 0
_HIGH_NIBBLE = bytes.maketrans(b"0123456789abcdef", b"\0" * 8 + b" " * 8)


#: keccak-256 of nothing (the Ethereum constant), checked before a hash function is used
_KECCAK_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


@functools.cache
def _keccak() -> Callable[[bytes], bytes]:
    """keccak-256: pycryptodome's compiled Keccak (the library eth_hash uses) called through
    ctypes, one state reset per hash. eth_hash's wrapper objects cost 5 of the 7 us of each
    hash, and their first use imports cffi's C parser (40 ms): together 90 ms of a
    10,000-address registry's load, against 25 ms here. Falls back to eth_hash when the
    library is not where pycryptodome keeps it or does not give the known digest."""
    try:
        import ctypes
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("Crypto")
        if spec is None or spec.origin is None:
            raise ImportError("pycryptodome is not installed")
        found = sorted((Path(spec.origin).parent / "Hash").glob("_keccak.*"))
        if not found:
            raise ImportError("pycryptodome has no _keccak library")
        lib = ctypes.CDLL(str(found[0]))
        ptr, size, byte = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ubyte
        lib.keccak_init.argtypes = [ctypes.POINTER(ptr), size, byte]
        lib.keccak_reset.argtypes = [ptr]
        lib.keccak_absorb.argtypes = [ptr, ctypes.c_char_p, size]
        lib.keccak_digest.argtypes = [ptr, ctypes.c_char_p, size, byte]
        state = ptr()  # one state for the process, never freed
        if lib.keccak_init(ctypes.byref(state), 64, 24):  # capacity 512 bits, 24 rounds
            raise OSError("keccak_init failed")
        out = ctypes.create_string_buffer(32)
        lock = threading.Lock()

        def direct(data: bytes) -> bytes:
            with lock:
                if (
                    lib.keccak_reset(state)
                    or lib.keccak_absorb(state, data, len(data))
                    or lib.keccak_digest(state, out, 32, 0x01)  # Keccak padding, not SHA-3
                ):  # only a null argument fails in there; should it ever, the public path
                    return _eth_hash(data)
                return out.raw

        if direct(b"") == _KECCAK_EMPTY:
            return direct
    except (ImportError, OSError, AttributeError, ValueError):
        pass
    return _eth_hash


def _eth_hash(data: bytes) -> bytes:
    from eth_hash.auto import keccak

    return keccak(data)


def checksum(address: str) -> str:
    """EIP-55: each hex letter upper-cased where the keccak-256 of the lower-case hex has a
    nibble >= 8. Done with whole-string byte masks instead of eth_utils' per-character
    conversions, which cost most of a 10,000-token registry's load."""
    low = address[2:].lower().encode("ascii")
    nibbles = _keccak()(low).hex()[:40].encode("ascii")
    flip = int.from_bytes(low.translate(_LETTER_BIT), "big") & int.from_bytes(
        nibbles.translate(_HIGH_NIBBLE), "big"
    )
    return "0x" + (int.from_bytes(low, "big") & ~flip).to_bytes(40, "big").decode("ascii")


@functools.lru_cache(maxsize=65536)  # treasuries repeat across a thousand tokens
def evm_address(v: str) -> str:
    """A 0x address, EIP-55 checked when mixed-case; returned checksummed."""
    if not isinstance(v, str) or not _HEX40.fullmatch(v):
        raise ValueError(f"{v!r} is not a 0x-prefixed 20-byte hex address")
    body = v[2:]
    want = checksum(v)
    if body != body.lower() and body != body.upper() and v != want:
        raise ValueError(
            f"{v} fails its EIP-55 checksum (mixed case); expected {want} or all lower case"
        )
    return want


class EvmChain(ChainSettings):
    type: Literal["evm"]
    chain_id: Annotated[StrictInt, Field(gt=0)]
    #: skip an endpoint whose head is this many blocks behind the others' median
    max_lag: Annotated[StrictInt, Field(ge=0)] = 10
    #: request body limit; anvil refuses bodies of 2 MiB, geth over 5 MiB
    max_body_bytes: Annotated[StrictInt, Field(ge=1024)] = 2_000_000
    confirmations: Annotated[StrictInt, Field(ge=0)] | None = None
    block: Literal["latest", "safe", "finalized"] | None = None
    #: run the view calls as one contract-creation eth_call per batch (`batchread`: nothing
    #: deployed on chain); false: through Multicall3 aggregate3 at `multicall`
    deployless: bool = True
    #: Multicall3 address (default: the canonical one), or false to use plain eth_calls
    #: (false also turns `deployless` off: no batch contract at all)
    multicall: str | Literal[False] = MULTICALL3_ADDRESS
    multicall_chunk: Annotated[StrictInt, Field(ge=1, le=10000)] = 500
    multicall_bytes: Annotated[StrictInt, Field(ge=1024, le=10_000_000)] = 128 * 1024
    #: endpoints that keep old state (archive nodes), used only for past reads
    #: (`check --at`); tried before `rpc`, which then serves as their failover
    archive_rpc: list[str] = Field(default_factory=list)

    @field_validator("archive_rpc")
    @classmethod
    def _archive_urls(cls, v: list[str]) -> list[str]:
        return _check_rpc_urls(v)

    @field_validator("multicall", mode="before")
    @classmethod
    def _multicall(cls, v: object) -> object:
        if v is False:
            return v
        if isinstance(v, str):
            return evm_address(v)
        raise ValueError("multicall is a contract address or false")

    @property
    def batches_deployless(self) -> bool:
        """Whether the view calls go as deployless batch calls (`deployless`, unless
        `multicall: false` turns every batch contract off)."""
        return self.deployless and self.multicall is not False

    @model_validator(mode="after")
    def _one_pin(self) -> EvmChain:
        if self.confirmations is not None and self.block is not None:
            raise ValueError("give either `confirmations` or `block`, not both")
        return self


class EvmDeployment(DeploymentModel):
    address: str
    decimals: Annotated[StrictInt, Field(ge=0, le=77)] | None = None
    exclude: list[str] = Field(default_factory=list)

    @field_validator("address")
    @classmethod
    def _addr(cls, v: str) -> str:
        return evm_address(v)

    @field_validator("exclude")
    @classmethod
    def _excl(cls, v: list[str]) -> list[str]:
        out = [evm_address(a) for a in v]
        if len(set(out)) != len(out):
            raise ValueError("an excluded address is listed twice")
        return out

    @property
    def key(self) -> str:
        return self.address

    @property
    def label(self) -> str:
        return self.address
