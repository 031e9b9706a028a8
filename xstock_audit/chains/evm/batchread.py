"""The deployless batch call: many view calls in one `eth_call` without a `to`.

`BatchRead.yul` (compiled into `BatchRead.json` by `npm run build:contracts`) runs as the
init code of a contract creation that `eth_call` only simulates: it makes each call with
STATICCALL and returns the results packed, in place of the code it would deploy. Nothing
has to be deployed on the chain, and a call costs the node about a tenth of the bytes of a
Multicall3 `aggregate3` call (no ABI words: a 20-byte target per run of calls to it, a
length byte, the calldata and a result cap; back a status byte, a 2-byte size and at most
`cap` bytes of the result).

Limits of a creation call, which `transport.deployless_chunks` keeps every batch under:
the init code at most 49,152 bytes (EIP-3860) and the returned "code" at most 24,576 bytes
(EIP-170).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib.resources import files

#: EIP-3860: the longest init code a creation may carry (the code and the appended input)
MAX_INITCODE = 49_152
#: EIP-170: the longest code a creation may return, here the packed results
MAX_RETURNED = 24_576
#: the output's header: a zero byte, the block number and timestamp (8 bytes each)
HEADER = 17
#: result bytes kept per call unless `cap` says otherwise: one ABI word
WORD = 32


@functools.cache
def bytecode() -> bytes:
    """The compiled `BatchRead` init code (without its input)."""
    artifact = json.loads(files(__package__).joinpath("BatchRead.json").read_text())
    return bytes.fromhex(artifact["bytecode"][2:])


def encode(calls: Sequence[tuple[str, bytes]], caps: Sequence[int]) -> bytes:
    """The init code of one batch call: the code, then the calls grouped by runs of the
    same target (at most 255 calls a group), then the input's length as a 32-byte word."""
    parts: list[bytes] = [bytecode()]
    run: list[bytes] = []
    target = ""
    #: (calldata, cap) -> its entry: most calls are the same few getters on every token
    entries: dict[tuple[bytes, int], bytes] = {}
    for (to, data), cap in zip(calls, caps, strict=True):
        if to != target or len(run) == 255:
            if run:
                parts.append(bytes.fromhex(target[2:]) + bytes((len(run),)) + b"".join(run))
            target, run = to, []
        entry = entries.get((data, cap))
        if entry is None:
            if len(data) > 255 or not 0 <= cap <= 255:
                raise ValueError("a batch call carries at most 255 bytes of calldata and of result")
            entry = entries[data, cap] = bytes((len(data),)) + data + bytes((cap,))
        run.append(entry)
    if run:
        parts.append(bytes.fromhex(target[2:]) + bytes((len(run),)) + b"".join(run))
    size = sum(len(p) for p in parts) - len(parts[0])
    parts.append(size.to_bytes(32, "big"))
    return b"".join(parts)


def decode(data: bytes, caps: Sequence[int]) -> tuple[int, int, list[tuple[bool, bytes]]]:
    """(block number, block timestamp, [(success, result)]) of a batch call's output, for
    calls with the result caps `encode` was given. A result is the call's return data cut
    at its cap (so its length says whether it was shorter than the cap); raises ValueError
    when the output is not one well-formed entry per call."""
    if len(data) < HEADER or data[0] != 0:
        raise ValueError(f"batch call returned {len(data)} bytes, not a batch result")
    number = int.from_bytes(data[1:9], "big")
    timestamp = int.from_bytes(data[9:17], "big")
    out: list[tuple[bool, bytes]] = []
    append = out.append
    i = HEADER
    end = len(data)
    for n, cap in enumerate(caps):
        ok = data[i] if i + 3 <= end else 2
        size = (data[i + 1] << 8) | data[i + 2] if ok < 2 else 0
        j = i + 3
        i = j + (size if size < cap else cap)
        if ok > 1 or i > end:
            raise ValueError(f"batch call result {n} of {len(caps)} is malformed or cut short")
        append((ok == 1, data[j:i]))
    if i != end:
        raise ValueError(f"batch call returned {end - i} bytes after its {len(caps)} results")
    return number, timestamp, out
