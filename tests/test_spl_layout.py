"""Token-2022 / SPL byte layouts, built by hand from the layout in REFERENCE.md."""

from __future__ import annotations

import struct
from decimal import Decimal

import pytest

from xstock_audit.chains import spl_layout as L


def mint_base(supply: int, decimals: int, initialized: bool = True) -> bytes:
    data = bytearray(82)
    struct.pack_into("<I", data, 0, 1)  # mint authority: Some
    data[4:36] = b"\x11" * 32
    struct.pack_into("<Q", data, 36, supply)
    data[44] = decimals
    data[45] = 1 if initialized else 0
    return bytes(data)


def tlv(ext_type: int, value: bytes) -> bytes:
    return struct.pack("<HH", ext_type, len(value)) + value


def token2022_mint(supply: int, decimals: int, *exts: bytes) -> bytes:
    return mint_base(supply, decimals) + bytes(165 - 82) + b"\x01" + b"".join(exts)


def scaled(mult: float, ts: int, new: float) -> bytes:
    return b"\x22" * 32 + struct.pack("<dqd", mult, ts, new)


def test_spl_mint_is_exactly_82_bytes() -> None:
    m = L.parse_mint(L.SPL_TOKEN, mint_base(123_456, 6))
    assert (m.program, m.supply, m.decimals, m.is_initialized) == ("spl-token", 123_456, 6, True)
    assert m.extensions == () and m.scaled_ui_amount is None
    with pytest.raises(L.LayoutError):
        L.parse_mint(L.SPL_TOKEN, mint_base(1, 6) + b"\x00")


def test_token2022_extensions_in_any_order() -> None:
    data = token2022_mint(
        10**12,
        8,
        tlv(12, b"\x33" * 32),  # PermanentDelegate
        tlv(18, b"\x44" * 64),  # MetadataPointer
        tlv(25, scaled(1.5, 1_700_000_000, 2.25)),
        tlv(26, b"\x55" * 33),  # Pausable
    )
    m = L.parse_mint(L.TOKEN_2022, data)
    assert [t for t, _ in m.extensions] == [12, 18, 25, 26]
    assert m.extension_names == [
        "PermanentDelegate",
        "MetadataPointer",
        "ScaledUiAmount",
        "Pausable",
    ]
    s = m.scaled_ui_amount
    assert s is not None
    assert (s.multiplier, s.new_multiplier) == (Decimal("1.5"), Decimal("2.25"))
    assert s.effective(1_699_999_999) == Decimal("1.5")
    assert s.effective(1_700_000_000) == Decimal("2.25")  # at the timestamp: the new one


def test_f64_multiplier_uses_shortest_repr() -> None:
    data = token2022_mint(1, 0, tlv(25, scaled(1.1, 0, 0.1)))
    s = L.parse_mint(L.TOKEN_2022, data).scaled_ui_amount
    assert s is not None
    assert s.multiplier == Decimal("1.1") and s.new_multiplier == Decimal("0.1")


def test_tlv_length_overrun_is_an_error() -> None:
    data = token2022_mint(1, 0) + struct.pack("<HH", 25, 56) + b"\x00" * 10
    with pytest.raises(L.LayoutError, match="claims 56 bytes"):
        L.parse_mint(L.TOKEN_2022, data)


def test_zero_type_ends_tlv() -> None:
    data = token2022_mint(1, 0, tlv(3, b"\x01" * 32)) + b"\x00" * 20
    assert [t for t, _ in L.parse_mint(L.TOKEN_2022, data).extensions] == [3]


def test_token_account_is_not_a_mint() -> None:
    data = bytearray(token2022_mint(1, 0))
    data[165] = 2
    with pytest.raises(L.LayoutError, match="not 1"):
        L.parse_mint(L.TOKEN_2022, bytes(data))


def test_foreign_owner_is_not_a_mint() -> None:
    with pytest.raises(L.LayoutError, match="not a token program"):
        L.parse_mint("11111111111111111111111111111111", mint_base(1, 0))


def test_bad_scaled_length() -> None:
    m = L.parse_mint(L.TOKEN_2022, token2022_mint(1, 0, tlv(25, b"\x00" * 40)))
    with pytest.raises(L.LayoutError, match="56"):
        _ = m.scaled_ui_amount


def test_token_account_and_clock() -> None:
    acc = bytearray(165)
    acc[0:32] = b"\x01" * 32
    acc[32:64] = b"\x02" * 32
    struct.pack_into("<Q", acc, 64, 987)
    acc[108] = 1  # initialized
    ta = L.parse_token_account(L.SPL_TOKEN, bytes(acc))
    assert (ta.mint, ta.owner, ta.amount) == (b"\x01" * 32, b"\x02" * 32, 987)
    acc[108] = 0
    with pytest.raises(L.LayoutError, match="not initialized"):
        L.parse_token_account(L.SPL_TOKEN, bytes(acc))
    clock = L.parse_clock(struct.pack("<QqQQq", 77, 5, 3, 4, 1_800_000_000))
    assert (clock.slot, clock.unix_timestamp) == (77, 1_800_000_000)
