"""Multicall3 `aggregate3` calldata, encoded and decoded by hand (pure, exact, fast).

    aggregate3((address target, bool allowFailure, bytes callData)[]) returns
        ((bool success, bytes returnData)[])

Standard Solidity ABI; written out because thousands of calls go through it per audit and a
generic encoder is the slow part. Tests check it against eth-abi. Decoding validates every
offset and length, so a malformed (or hostile) reply raises `ValueError`, never misreads.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Multicall3, deployed at the same address on 250+ chains.
MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11"
AGGREGATE3 = bytes.fromhex("82ad56cb")  # aggregate3((address,bool,bytes)[])
GET_CURRENT_BLOCK_TIMESTAMP = bytes.fromhex("0f28c97d")  # getCurrentBlockTimestamp()

_WORD = 32


def _word(n: int) -> bytes:
    return n.to_bytes(_WORD, "big")


def _padded(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % _WORD)


def encoded_size(call_data_len: int) -> int:
    """Bytes one call adds to the calldata (offset word + tuple)."""
    return _WORD + 4 * _WORD + call_data_len + (-call_data_len % _WORD)


def encode_aggregate3(calls: Sequence[tuple[str, bytes]], allow_failure: bool = True) -> bytes:
    """Calldata for aggregate3 over (target address, calldata) pairs."""
    n = len(calls)
    offsets: list[bytes] = []
    tuples: list[bytes] = []
    position = n * _WORD  # tuples start after the n offset words
    flag = _word(1 if allow_failure else 0)
    for target, data in calls:
        addr = bytes.fromhex(target[2:] if target.startswith("0x") else target)
        if len(addr) != 20:
            raise ValueError(f"not a 20-byte address: {target}")
        body = (
            addr.rjust(_WORD, b"\x00") + flag + _word(3 * _WORD) + _word(len(data)) + _padded(data)
        )
        offsets.append(_word(position))
        tuples.append(body)
        position += len(body)
    return AGGREGATE3 + _word(_WORD) + _word(n) + b"".join(offsets) + b"".join(tuples)


def _read_word(data: bytes, pos: int) -> int:
    if pos < 0 or pos + _WORD > len(data):
        raise ValueError(f"reply truncated: a word at byte {pos} of {len(data)}")
    return int.from_bytes(data[pos : pos + _WORD], "big")


def decode_aggregate3(data: bytes, expected: int) -> list[tuple[bool, bytes]]:
    """Decode aggregate3's return data; it must hold exactly `expected` results."""
    base = _read_word(data, 0)
    n = _read_word(data, base)
    if n != expected:
        raise ValueError(f"aggregate3 returned {n} results for {expected} calls")
    start = base + _WORD
    out: list[tuple[bool, bytes]] = []
    for i in range(n):
        tup = start + _read_word(data, start + i * _WORD)
        success = _read_word(data, tup)
        if success > 1:
            raise ValueError(f"result {i}: success flag is {success}")
        blob = tup + _read_word(data, tup + _WORD)
        length = _read_word(data, blob)
        if blob + _WORD + length > len(data):
            raise ValueError(f"result {i}: return data runs past the reply")
        out.append((success == 1, data[blob + _WORD : blob + _WORD + length]))
    return out
