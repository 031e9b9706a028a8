"""EIP-55 checksums of the registry's EVM addresses: the module's keccak-256 (pycryptodome's
compiled Keccak called through ctypes) and its byte-mask checksum against eth_hash and eth_utils."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from xstock_audit.chains.evm.models import _eth_hash, _keccak, checksum, evm_address


def test_the_direct_primitive_is_in_use() -> None:
    # the fallback to eth_hash is for another pycryptodome; with the installed one it is not
    assert _keccak() is not _eth_hash


@settings(max_examples=300)
@given(st.binary(max_size=600))  # across the 136-byte rate, several blocks
def test_keccak_is_eth_hash(data: bytes) -> None:
    assert _keccak()(data) == keccak(data)


@settings(max_examples=300)
@given(st.binary(min_size=20, max_size=20))
def test_checksum_is_eth_utils(raw: bytes) -> None:
    low = "0x" + raw.hex()
    want = to_checksum_address(low)
    assert checksum(low) == want
    assert checksum(low.upper().replace("0X", "0x")) == want
    evm_address.cache_clear()
    assert evm_address(low) == want


def test_keccak_from_threads() -> None:
    """The one shared state is used under a lock: hashes from several threads at once
    stay right."""
    items = [bytes([i % 256]) * (i % 200) for i in range(2000)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(_keccak(), items))
    assert got == [keccak(x) for x in items]


def test_without_the_library_eth_hash_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    fallback = _keccak.__wrapped__()  # the cached choice is left alone
    assert fallback is _eth_hash
    assert fallback(b"abc") == keccak(b"abc")
