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


_FLAG = {True: _word(1), False: _word(0)}
_TUPLE_HEAD = _word(3 * _WORD)  # the offset of callData within a call's tuple


def encode_aggregate3(calls: Sequence[tuple[str, bytes]], allow_failure: bool = True) -> bytes:
    """Calldata for aggregate3 over (target address, calldata) pairs."""
    n = len(calls)
    offsets: list[bytes] = []
    tuples: list[bytes] = []
    position = n * _WORD  # tuples start after the n offset words
    flag = _FLAG[allow_failure]
    heads: dict[str, bytes] = {}  # a target's padded address and flag, once per target
    for target, data in calls:
        head = heads.get(target)
        if head is None:
            addr = bytes.fromhex(target[2:] if target.startswith("0x") else target)
            if len(addr) != 20:
                raise ValueError(f"not a 20-byte address: {target}")
            head = heads[target] = addr.rjust(_WORD, b"\x00") + flag + _TUPLE_HEAD
        size = len(data)
        pad = -size % _WORD
        offsets.append(position.to_bytes(_WORD, "big"))
        tuples.append(head + size.to_bytes(_WORD, "big") + data + b"\x00" * pad)
        position += 4 * _WORD + size + pad
    return AGGREGATE3 + _word(_WORD) + _word(n) + b"".join(offsets) + b"".join(tuples)


def _read_word(data: bytes, pos: int) -> int:
    if pos < 0 or pos + _WORD > len(data):
        raise ValueError(f"reply truncated: a word at byte {pos} of {len(data)}")
    return int.from_bytes(data[pos : pos + _WORD], "big")


def decode_aggregate3(data: bytes, expected: int) -> list[tuple[bool, bytes]]:
    """Decode aggregate3's return data; it must hold exactly `expected` results.

    Every offset and length is checked against the reply's size before it is used (the
    words are read inline: 10,000 tokens make 300,000 of them)."""
    size = len(data)
    base = _read_word(data, 0)
    n = _read_word(data, base)
    if n != expected:
        raise ValueError(f"aggregate3 returned {n} results for {expected} calls")
    start = base + _WORD
    if start + n * _WORD > size:
        raise ValueError(f"reply truncated: {n} offsets at byte {start} of {size}")
    frm = int.from_bytes
    out: list[tuple[bool, bytes]] = []
    for i in range(n):
        at = start + i * _WORD
        tup = start + frm(data[at : at + _WORD], "big")
        if tup + 2 * _WORD > size:
            raise ValueError(f"result {i}: reply truncated at byte {tup} of {size}")
        success = frm(data[tup : tup + _WORD], "big")
        if success > 1:
            raise ValueError(f"result {i}: success flag is {success}")
        blob = tup + frm(data[tup + _WORD : tup + 2 * _WORD], "big")
        if blob + _WORD > size:
            raise ValueError(f"result {i}: reply truncated at byte {blob} of {size}")
        length = frm(data[blob : blob + _WORD], "big")
        end = blob + _WORD + length
        if end > size:
            raise ValueError(f"result {i}: return data runs past the reply")
        out.append((success == 1, data[blob + _WORD : end]))
    return out
