"""The hand-written aggregate3 codec agrees with eth-abi, and refuses malformed replies."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode, encode
from eth_utils.abi import function_signature_to_4byte_selector
from hypothesis import given
from hypothesis import strategies as st

from xstock_audit.chains import multicall as mc

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
calls = st.lists(st.tuples(addresses, st.binary(max_size=100)), max_size=12)
results = st.lists(st.tuples(st.booleans(), st.binary(max_size=100)), max_size=12)


def test_selectors() -> None:
    assert (
        function_signature_to_4byte_selector("aggregate3((address,bool,bytes)[])") == mc.AGGREGATE3
    )
    assert (
        function_signature_to_4byte_selector("getCurrentBlockTimestamp()")
        == mc.GET_CURRENT_BLOCK_TIMESTAMP
    )


@given(calls, st.booleans())
def test_encoding_matches_eth_abi(cs: list[tuple[str, bytes]], allow: bool) -> None:
    ours = mc.encode_aggregate3(cs, allow_failure=allow)
    theirs = mc.AGGREGATE3 + encode(["(address,bool,bytes)[]"], [[(a, allow, d) for a, d in cs]])
    assert ours == theirs
    assert len(ours) == 4 + 64 + sum(mc.encoded_size(len(d)) for _, d in cs)


@given(results)
def test_decoding_matches_eth_abi(rs: list[tuple[bool, bytes]]) -> None:
    data = encode(["(bool,bytes)[]"], [rs])
    assert mc.decode_aggregate3(data, len(rs)) == rs
    assert [(ok, bytes(b)) for ok, b in decode(["(bool,bytes)[]"], data)[0]] == rs


@given(results, st.data())
def test_truncated_replies_raise(rs: list[tuple[bool, bytes]], data: st.DataObject) -> None:
    full = encode(["(bool,bytes)[]"], [rs])
    cut = data.draw(st.integers(min_value=0, max_value=len(full) - 1))
    try:
        decoded = mc.decode_aggregate3(full[:cut], len(rs))
    except ValueError:
        return
    # only trailing padding may be cut without changing any result
    assert decoded == rs


def test_wrong_count_and_bad_flag() -> None:
    data = encode(["(bool,bytes)[]"], [[(True, b"\x01")]])
    with pytest.raises(ValueError, match="1 results for 2"):
        mc.decode_aggregate3(data, 2)
    bad = bytearray(data)
    bad[32 * 3 + 31] = 2  # the success word of the only result
    with pytest.raises(ValueError, match="success flag"):
        mc.decode_aggregate3(bytes(bad), 1)


def test_evm_reader_selectors() -> None:
    from xstock_audit.chains.evm import values as evm

    for name, signature in [
        ("SEL_DECIMALS", "decimals()"),
        ("SEL_TOTAL_SUPPLY", "totalSupply()"),
        ("SEL_BALANCE_OF", "balanceOf(address)"),
        ("SEL_MULTIPLIER", "multiplier()"),
        ("SEL_CURRENT_MULTIPLIER", "getCurrentMultiplier()"),
        ("SEL_NEW_MULTIPLIER", "newMultiplier()"),
        ("SEL_ACTIVATION", "newMultiplierActivationTime()"),
    ]:
        assert getattr(evm, name) == function_signature_to_4byte_selector(signature), name
