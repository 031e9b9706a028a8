"""The LiteSVM-backed Solana JSON-RPC sandbox, exercised over HTTP like a real node.

Mints and token accounts are built with real transactions to the SPL Token / Token-2022
programs bundled in LiteSVM; every assertion on bytes reads what those programs wrote.
"""

from __future__ import annotations

import base64
import struct
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from solders.clock import Clock
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from xstock_audit.sandbox.solana import (
    CLOCK_SYSVAR_ID,
    SANDBOX_GENESIS_HASH,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    SandboxTransactionError,
    SolanaNode,
    b58decode,
    spl,
    token_amount_to_ui,
    unpack_mint,
)

NVDAX_MINT = Pubkey.from_string("Xsc9qvGR1efVDFGLrVsmkzv3qi45LTBjeUKSPmx9qEh")
ISSUER_OWNER = Pubkey.from_string("S7vYFFWH6BjJyEsdrPQpqpYTqLTrPRK6KW3VwsJuRaS")


@pytest.fixture
def client(fresh_solana_node: SolanaNode) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fresh_solana_node.url, timeout=10) as http:
        yield http


def rpc(client: httpx.Client, method: str, *params: Any) -> Any:
    response = client.post(
        "/", json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == 7
    if "error" in body:
        raise RpcFailure(body["error"])
    return body["result"]


class RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error)
        self.code: int = error["code"]
        self.message: str = error["message"]
        self.data: Any = error.get("data")


def account_bytes(value: dict[str, Any]) -> bytes:
    payload, encoding = value["data"]
    assert encoding == "base64"
    return base64.b64decode(payload)


def get_multiple(client: httpx.Client, *keys: Pubkey, **config: Any) -> dict[str, Any]:
    cfg = {"encoding": "base64", "commitment": "finalized", **config}
    result: dict[str, Any] = rpc(client, "getMultipleAccounts", [str(k) for k in keys], cfg)
    return result


def tlv_entries(data: bytes) -> list[tuple[int, bytes]]:
    assert data[165] == 1  # AccountType::Mint
    entries, i = [], 166
    while i + 4 <= len(data):
        ext_type, length = struct.unpack_from("<HH", data, i)
        if ext_type == 0:
            break
        entries.append((ext_type, data[i + 4 : i + 4 + length]))
        i += 4 + length
    return entries


def scaled_mint(
    node: SolanaNode, multiplier: float = 1.0, decimals: int = 8
) -> tuple[Pubkey, Keypair]:
    authority = Keypair()
    mint = spl.create_mint(
        node,
        program="token2022",
        decimals=decimals,
        mint_authority=authority,
        extensions=[spl.ScaledUiAmount(authority, multiplier)],
    )
    return mint, authority


# --- identity and basics ---------------------------------------------------------------------


def test_genesis_hash_version_health(client: httpx.Client) -> None:
    assert rpc(client, "getGenesisHash") == SANDBOX_GENESIS_HASH
    assert len(b58decode(SANDBOX_GENESIS_HASH)) == 32
    assert rpc(client, "getHealth") == "ok"
    version = rpc(client, "getVersion")
    assert version["solana-core"].startswith("2.") and isinstance(version["feature-set"], int)
    assert client.get("/health").text == "ok"


@pytest.mark.slow
def test_genesis_hash_is_configurable() -> None:
    mainnet = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
    with SolanaNode(genesis_hash=mainnet) as n, httpx.Client(base_url=n.url) as c:
        assert rpc(c, "getGenesisHash") == mainnet
    with pytest.raises(ValueError):
        SolanaNode(genesis_hash="not-a-hash")


def test_spl_mint_bytes_via_get_multiple_accounts(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    authority = Keypair()
    mint = spl.create_mint(fresh_solana_node, program="spl", decimals=6, mint_authority=authority)
    holder = spl.create_token_account(fresh_solana_node, mint, Keypair(), "spl")
    spl.mint_to(fresh_solana_node, mint, holder, 5_000_000)
    missing = Keypair().pubkey()

    reply = get_multiple(client, mint, missing)
    assert reply["context"]["slot"] == fresh_solana_node.slot
    assert reply["context"]["apiVersion"].startswith("2.")
    value, absent = reply["value"]
    assert absent is None
    assert set(value) == {"data", "executable", "lamports", "owner", "rentEpoch", "space"}
    data = account_bytes(value)
    assert value["owner"] == str(TOKEN_PROGRAM_ID) and value["space"] == len(data) == 82
    assert value["executable"] is False and value["lamports"] > 0
    assert struct.unpack_from("<I", data, 0)[0] == 1 and data[4:36] == bytes(authority.pubkey())
    assert struct.unpack_from("<Q", data, 36)[0] == 5_000_000  # supply
    assert data[44] == 6 and data[45] == 1  # decimals, is_initialized
    assert struct.unpack_from("<I", data, 46)[0] == 0  # no freeze authority

    supply = rpc(client, "getTokenSupply", str(mint))["value"]
    assert supply == {"amount": "5000000", "decimals": 6, "uiAmount": 5.0, "uiAmountString": "5"}


# --- Token-2022 layouts written by the real program ------------------------------------------


def test_scaled_ui_amount_mint_layout(fresh_solana_node: SolanaNode, client: httpx.Client) -> None:
    mint, authority = scaled_mint(fresh_solana_node, multiplier=1.5)
    value = get_multiple(client, mint)["value"][0]
    data = account_bytes(value)
    assert value["owner"] == str(TOKEN_2022_PROGRAM_ID)
    # 165 base+padding, 1 account type, one TLV entry of 4 + 56
    assert len(data) == 165 + 1 + 4 + 56 == spl.mint_account_len([25], [56])
    assert data[82:165] == bytes(83) and data[165] == 1
    assert struct.unpack_from("<HH", data, 166) == (25, 56)
    config = data[170:226]
    assert config[:32] == bytes(authority.pubkey())
    multiplier, timestamp, new_multiplier = struct.unpack("<dqd", config[32:])
    assert (multiplier, timestamp, new_multiplier) == (1.5, 0, 1.5)


def test_multi_extension_mint_puts_scaled_ui_amount_after_others(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    authority, delegate, closer = Keypair(), Keypair(), Keypair()
    extensions: list[spl.MintExtension] = [
        spl.MintCloseAuthority(closer),
        spl.PermanentDelegate(delegate),
        spl.MetadataPointer(authority, "self"),
        spl.TransferFeeConfig(authority, authority, basis_points=25, maximum_fee=10_000),
        spl.Pausable(authority),
        spl.ScaledUiAmount(authority, 2.0),
    ]
    mint = spl.create_mint(
        fresh_solana_node, decimals=8, mint_authority=authority, extensions=extensions
    )
    data = account_bytes(get_multiple(client, mint)["value"][0])
    entries = tlv_entries(data)
    assert [t for t, _ in entries] == [3, 12, 18, 1, 26, 25]
    assert [len(v) for _, v in entries] == [32, 32, 64, 108, 33, 56]
    assert len(data) == spl.mint_account_len([3, 12, 18, 1, 26, 25], [32, 32, 64, 108, 33, 56])
    values = dict(entries)
    assert values[3] == bytes(closer.pubkey()) and values[12] == bytes(delegate.pubkey())
    assert values[18] == bytes(authority.pubkey()) + bytes(mint)
    assert values[26] == bytes(authority.pubkey()) + b"\0"  # not paused
    assert struct.unpack("<dqd", values[25][32:]) == (2.0, 0, 2.0)

    # Token accounts get the account-side extensions the program requires.
    holder = spl.create_token_account(fresh_solana_node, mint, Keypair())
    ata = spl.create_token_account(fresh_solana_node, mint, Keypair(), ata=True)
    # TransferFeeAmount (4+8) + PausableAccount (4); the ATA adds ImmutableOwner (4).
    assert len(account_bytes(get_multiple(client, holder)["value"][0])) == 165 + 1 + 12 + 4
    assert len(account_bytes(get_multiple(client, ata)["value"][0])) == 165 + 1 + 12 + 4 + 4

    spl.mint_to(fresh_solana_node, mint, holder, 1_000)
    spl.pause(fresh_solana_node, mint, authority)
    with pytest.raises(SandboxTransactionError):
        spl.mint_to(fresh_solana_node, mint, holder, 1)
    spl.resume(fresh_solana_node, mint, authority)
    spl.mint_to(fresh_solana_node, mint, holder, 1)
    assert spl.get_mint(fresh_solana_node, mint).supply == 1_001


def test_xstock_like_mint_matches_the_real_extension_order(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    authority = Keypair()
    extensions = spl.xstock_like_extensions(
        authority, multiplier=1.0, name="NVIDIA xStock", symbol="NVDAx"
    )
    mint = spl.create_mint(
        fresh_solana_node, decimals=8, mint_authority=authority, extensions=extensions
    )
    data = account_bytes(get_multiple(client, mint)["value"][0])
    entries = tlv_entries(data)
    # metadataPointer, permanentDelegate, defaultAccountState, scaledUiAmountConfig,
    # pausableConfig, confidentialTransferMint, transferHook, tokenMetadata (variable length)
    assert [t for t, _ in entries] == [18, 12, 6, 25, 26, 4, 14, 19]
    metadata = dict(entries)[19]
    assert metadata[:32] == bytes(authority.pubkey()) and metadata[32:64] == bytes(mint)
    assert b"NVIDIA xStock" in metadata and b"NVDAx" in metadata
    state = unpack_mint(data)
    assert state is not None and state.extension_types() == [18, 12, 6, 25, 26, 4, 14, 19]
    owner = Keypair()
    ata = spl.create_token_account(fresh_solana_node, mint, owner, ata=True)
    spl.mint_to(fresh_solana_node, mint, ata, 42 * 10**8)
    assert rpc(client, "getTokenSupply", str(mint))["value"]["uiAmountString"] == "42"


@pytest.mark.slow
def test_sigverify_off_builds_at_real_addresses() -> None:
    """With sigverify=False the sandbox can stand in for mainnet mints and authorities."""
    with SolanaNode(sigverify=False) as n, httpx.Client(base_url=n.url) as c:
        mint = spl.create_mint(
            n,
            decimals=8,
            mint_authority=ISSUER_OWNER,
            extensions=spl.xstock_like_extensions(ISSUER_OWNER),
            address=NVDAX_MINT,
        )
        assert mint == NVDAX_MINT
        inventory = spl.create_token_account(n, mint, ISSUER_OWNER, ata=True)
        spl.mint_to(n, mint, inventory, 7 * 10**8)
        assert rpc(c, "getTokenSupply", str(NVDAX_MINT))["value"]["amount"] == "700000000"
    with SolanaNode() as strict, pytest.raises(KeyError):
        spl.create_mint(strict, decimals=8, mint_authority=ISSUER_OWNER, address=NVDAX_MINT)


def test_scaled_ui_amount_and_interest_bearing_are_refused_together(
    fresh_solana_node: SolanaNode,
) -> None:
    authority = Keypair()
    with pytest.raises(SandboxTransactionError, match="0x33"):  # InvalidExtensionCombination
        spl.create_mint(
            fresh_solana_node,
            decimals=6,
            mint_authority=authority,
            extensions=[
                spl.InterestBearingConfig(authority, 500),
                spl.ScaledUiAmount(authority, 1.0),
            ],
        )


# --- ScaledUiAmount over time ----------------------------------------------------------------


def test_update_multiplier_takes_effect_at_its_timestamp(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    mint, authority = scaled_mint(fresh_solana_node, multiplier=1.0)
    holder = spl.create_token_account(fresh_solana_node, mint, Keypair())
    spl.mint_to(fresh_solana_node, mint, holder, 10 * 10**8)
    now = fresh_solana_node.unix_timestamp
    effective = now + 3_600
    spl.update_scaled_ui_multiplier(fresh_solana_node, mint, authority, 1.5, effective)

    def supply_and_clock() -> tuple[str, int, bytes]:
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "getTokenSupply", "params": [str(mint)]},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "getMultipleAccounts",
                "params": [[str(mint), str(CLOCK_SYSVAR_ID)], {"encoding": "base64"}],
            },
        ]
        replies = {r["id"]: r["result"] for r in client.post("/", json=batch).json()}
        mint_value, clock_value = replies[2]["value"]
        clock_ts = struct.unpack_from("<q", account_bytes(clock_value), 32)[0]
        return replies[1]["value"]["uiAmountString"], clock_ts, account_bytes(mint_value)

    ui, clock_ts, data = supply_and_clock()
    assert (ui, clock_ts) == ("10", now)
    assert struct.unpack("<dqd", dict(tlv_entries(data))[25][32:]) == (1.0, effective, 1.5)
    assert (
        spl.amount_to_ui_amount(fresh_solana_node, mint, 10 * 10**8) == "10"
    )  # the program agrees

    fresh_solana_node.set_unix_timestamp(effective - 1)
    assert supply_and_clock()[:2] == ("10", effective - 1)

    fresh_solana_node.set_unix_timestamp(effective)
    ui, clock_ts, data = supply_and_clock()
    assert (ui, clock_ts) == ("15", effective)
    assert spl.amount_to_ui_amount(fresh_solana_node, mint, 10 * 10**8) == "15"
    # Bytes are untouched until the next update, which promotes 1.5 to `multiplier`.
    assert struct.unpack("<dqd", dict(tlv_entries(data))[25][32:]) == (1.0, effective, 1.5)
    spl.update_scaled_ui_multiplier(fresh_solana_node, mint, authority, 3.0, effective + 100)
    data = account_bytes(get_multiple(client, mint)["value"][0])
    assert struct.unpack("<dqd", dict(tlv_entries(data))[25][32:]) == (1.5, effective + 100, 3.0)
    assert rpc(client, "getTokenSupply", str(mint))["value"]["uiAmountString"] == "15"


def test_ui_amount_string_is_the_nodes_f64_result(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    """uiAmountString is f64 maths, as Agave and the program do: lossy in the last digit."""
    mint, _ = scaled_mint(fresh_solana_node, multiplier=1.05)
    holder = spl.create_token_account(fresh_solana_node, mint, Keypair())
    amount = 595_495_266_270
    spl.mint_to(fresh_solana_node, mint, holder, amount)
    value = rpc(client, "getTokenSupply", str(mint))["value"]
    assert value["amount"] == str(amount) and value["decimals"] == 8
    assert (
        value["uiAmountString"]
        == "6252.70029583"
        == spl.amount_to_ui_amount(fresh_solana_node, mint, amount)
    )
    assert value["uiAmount"] == 6252.70029583
    exact = token_amount_to_ui(
        amount,
        spl.get_mint(fresh_solana_node, mint),
        fresh_solana_node.unix_timestamp,
        mode="exact",
    )
    assert exact["uiAmountString"] == "6252.70029584"  # amount × 1.05 correctly rounded
    balance = rpc(client, "getTokenAccountBalance", str(holder))["value"]
    assert balance["uiAmountString"] == "6252.70029583"
    with SolanaNode(ui_amount_mode="exact") as n, httpx.Client(base_url=n.url) as c:
        m, _ = scaled_mint(n, multiplier=1.05)
        spl.mint_to(n, m, spl.create_token_account(n, m, Keypair()), amount)
        assert rpc(c, "getTokenSupply", str(m))["value"]["uiAmountString"] == "6252.70029584"


@pytest.mark.parametrize(
    ("multiplier", "amount", "decimals", "expected"),
    [  # token-2022 interface/src/extension/scaled_ui_amount/mod.rs test vectors
        (5.0, 1, 0, "5"),
        (5.0, 1, 1, "0.5"),
        (5.0, 1, 10, "0.0000000005"),
        (5.0, 10_000_000_000, 10, "5"),
        (1.7976931348623157e308, 2**64 - 1, 0, "inf"),
        (0.99, 101, 2, "1"),
        (0.001, 500, 6, "0.000001"),
        (0.001, 1500, 6, "0.000002"),
        (0.5, 1, 2, "0.01"),
    ],
)
def test_scaled_ui_amount_vectors(
    multiplier: float, amount: int, decimals: int, expected: str
) -> None:
    config = bytes(32) + struct.pack("<dqd", multiplier, 1, multiplier)
    data = bytearray(166 + 4 + 56)
    data[45], data[44], data[165] = 1, decimals, 1
    data[166:170] = struct.pack("<HH", 25, 56)
    data[170:] = config
    mint = unpack_mint(bytes(data))
    assert mint is not None
    ui = token_amount_to_ui(amount, mint, 0)
    assert ui["uiAmountString"] == expected
    assert ui["uiAmount"] is None if expected == "inf" else ui["uiAmount"] == float(expected)


def test_interest_bearing_supply_matches_the_program(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    authority = Keypair()
    mint = spl.create_mint(
        fresh_solana_node,
        decimals=6,
        mint_authority=authority,
        extensions=[spl.InterestBearingConfig(authority, 500)],
    )
    spl.mint_to(
        fresh_solana_node,
        mint,
        spl.create_token_account(fresh_solana_node, mint, Keypair()),
        10**12,
    )
    fresh_solana_node.set_unix_timestamp(
        fresh_solana_node.unix_timestamp + 31_556_736
    )  # one 365.24-day year at 5%
    ui = rpc(client, "getTokenSupply", str(mint))["value"]["uiAmountString"]
    assert ui == spl.amount_to_ui_amount(fresh_solana_node, mint, 10**12) == "1051271.096376"


# --- token accounts by owner -----------------------------------------------------------------


def test_token_accounts_by_owner(fresh_solana_node: SolanaNode, client: httpx.Client) -> None:
    owner, other = Keypair(), Keypair()
    spl_mint = spl.create_mint(fresh_solana_node, program="spl", decimals=6)
    t22_a, _ = scaled_mint(fresh_solana_node)
    t22_b, _ = scaled_mint(fresh_solana_node)
    spl_acct = spl.create_token_account(fresh_solana_node, spl_mint, owner, "spl")
    a_ata = spl.create_token_account(fresh_solana_node, t22_a, owner, "token2022", ata=True)
    a_plain = spl.create_token_account(fresh_solana_node, t22_a, owner, "token2022")
    b_acct = spl.create_token_account(fresh_solana_node, t22_b, owner)
    spl.create_token_account(fresh_solana_node, t22_a, other, ata=True)  # someone else's
    spl.mint_to(fresh_solana_node, t22_a, a_ata, 1_234)
    cfg = {"encoding": "base64", "commitment": "confirmed"}

    def keys(filter_: dict[str, str]) -> set[str]:
        reply = rpc(client, "getTokenAccountsByOwner", str(owner.pubkey()), filter_, cfg)
        assert reply["context"]["slot"] == fresh_solana_node.slot
        for item in reply["value"]:
            data = account_bytes(item["account"])
            assert data[32:64] == bytes(owner.pubkey())
            assert set(item) == {"pubkey", "account"}
        return {item["pubkey"] for item in reply["value"]}

    assert keys({"mint": str(t22_a)}) == {str(a_ata), str(a_plain)}
    assert keys({"mint": str(spl_mint)}) == {str(spl_acct)}
    assert keys({"programId": str(TOKEN_2022_PROGRAM_ID)}) == {
        str(a_ata),
        str(a_plain),
        str(b_acct),
    }
    assert keys({"programId": str(TOKEN_PROGRAM_ID)}) == {str(spl_acct)}
    assert keys({"mint": str(t22_b)}) == {str(b_acct)}

    ata_value = rpc(
        client, "getTokenAccountsByOwner", str(owner.pubkey()), {"mint": str(t22_a)}, cfg
    )
    amounts = {
        i["pubkey"]: struct.unpack_from("<Q", account_bytes(i["account"]), 64)[0]
        for i in ata_value["value"]
    }
    assert amounts == {str(a_ata): 1_234, str(a_plain): 0}

    with pytest.raises(RpcFailure) as bad_program:
        keys({"programId": str(Keypair().pubkey())})
    assert (bad_program.value.code, bad_program.value.message) == (
        -32602,
        "Invalid param: unrecognized Token program id",
    )
    with pytest.raises(RpcFailure) as no_mint:
        keys({"mint": str(Keypair().pubkey())})
    assert no_mint.value.message == "Invalid param: could not find mint"


def test_the_owner_index_agrees_with_a_scan_of_every_account(
    fresh_solana_node: SolanaNode,
) -> None:
    """`getTokenAccountsByOwner` reads the node's owner index (Agave's spl-token-owner
    index), kept up to date after every transaction: after new accounts, a change of owner
    and a closed account, it lists exactly what a scan of every token account finds."""
    from spl.token.instructions import AuthorityType, close_account, set_authority
    from spl.token.models import CloseAccountParams, SetAuthorityParams

    from xstock_audit.sandbox.solana.token_state import unpack_token_account

    node = fresh_solana_node
    alice, bob, carol = Keypair(), Keypair(), Keypair()
    node.remember(alice, bob, carol)
    spl_mint = spl.create_mint(node, program="spl", decimals=6)
    t22, _ = scaled_mint(node)
    a1 = spl.create_token_account(node, t22, alice)
    a2 = spl.create_token_account(node, spl_mint, alice)
    spl.create_token_account(node, t22, bob, ata=True)
    spl.create_token_account(node, spl_mint, carol)
    spl.mint_to(node, t22, a1, 5)

    def scan(program: Pubkey, owner: Pubkey) -> list[Pubkey]:
        found = []
        for key, account in node.svm.get_program_accounts(program):
            state = unpack_token_account(bytes(account.data))
            if state is not None and state.owner == owner:
                found.append(key)
        return sorted(found, key=bytes)

    def agree() -> None:
        for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            for who in (alice, bob, carol):
                listed = [k for k, _ in node.token_accounts(program, who.pubkey())]
                assert listed == scan(program, who.pubkey())

    agree()
    # alice's Token-2022 account goes to carol; her SPL account is closed
    node.send_transaction(
        [
            set_authority(
                SetAuthorityParams(
                    program_id=TOKEN_2022_PROGRAM_ID,
                    account=a1,
                    authority=AuthorityType.ACCOUNT_OWNER,
                    current_authority=alice.pubkey(),
                    new_authority=carol.pubkey(),
                )
            ),
            close_account(
                CloseAccountParams(
                    program_id=TOKEN_PROGRAM_ID,
                    account=a2,
                    dest=alice.pubkey(),
                    owner=alice.pubkey(),
                )
            ),
        ],
        [alice],
    )
    agree()
    assert [k for k, _ in node.token_accounts(TOKEN_2022_PROGRAM_ID, carol.pubkey())] == [a1]
    assert node.token_accounts(TOKEN_PROGRAM_ID, alice.pubkey()) == []


def test_transfers_and_burns_move_balances_and_supply(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    mint, _ = scaled_mint(fresh_solana_node, multiplier=2.0, decimals=2)
    alice, bob = Keypair(), Keypair()
    a = spl.create_token_account(fresh_solana_node, mint, alice, ata=True)
    b = spl.create_token_account(fresh_solana_node, mint, bob, ata=True)
    spl.mint_to(fresh_solana_node, mint, a, 1_000)
    spl.transfer_checked(fresh_solana_node, mint, a, b, 300)
    spl.burn(fresh_solana_node, mint, b, 100)
    assert rpc(client, "getTokenSupply", str(mint))["value"]["amount"] == "900"
    assert rpc(client, "getTokenAccountBalance", str(b))["value"] == {
        "amount": "200",
        "decimals": 2,
        "uiAmount": 4.0,
        "uiAmountString": "4",
    }


# --- JSON-RPC semantics ----------------------------------------------------------------------


def test_batch_returns_every_id(fresh_solana_node: SolanaNode, client: httpx.Client) -> None:
    mint, _ = scaled_mint(fresh_solana_node)
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": []},
        {"jsonrpc": "2.0", "id": "two", "method": "getGenesisHash"},
        {"jsonrpc": "2.0", "id": 3, "method": "getTokenSupply", "params": [str(mint)]},
        {"jsonrpc": "2.0", "id": 4, "method": "noSuchMethod", "params": []},
        {"jsonrpc": "2.0", "id": 5, "method": "getMultipleAccounts", "params": [[str(mint)]]},
    ]
    response = client.post("/", json=batch)
    assert response.status_code == 200
    replies = response.json()
    assert [r["id"] for r in replies] == [1, "two", 3, 4, 5]
    assert replies[0]["result"] == fresh_solana_node.slot
    assert replies[1]["result"] == SANDBOX_GENESIS_HASH
    assert replies[2]["result"]["value"]["amount"] == "0"
    assert replies[3]["error"]["code"] == -32601
    assert replies[4]["result"]["value"][0]["data"][1] == "base64"  # the default encoding


def test_protocol_errors(client: httpx.Client) -> None:
    with pytest.raises(RpcFailure) as unknown:
        rpc(client, "getEverything")
    assert (unknown.value.code, unknown.value.message) == (-32601, "Method not found")

    parse = client.post(
        "/", content=b'{"jsonrpc": "2.0", "id": 1,', headers={"Content-Type": "application/json"}
    )
    assert parse.status_code == 200 and parse.json()["error"]["code"] == -32700
    invalid = client.post("/", json={"id": 1, "method": "getSlot"})  # no "jsonrpc": "2.0"
    assert invalid.status_code == 200 and invalid.json()["error"]["code"] == -32600
    empty = client.post("/", json=[])
    assert empty.json()["error"]["code"] == -32600
    notification = client.post("/", json={"jsonrpc": "2.0", "method": "getSlot"})
    assert notification.status_code == 200 and notification.content == b""

    with pytest.raises(RpcFailure) as bad_key:
        rpc(client, "getAccountInfo", "0OIl", {"encoding": "base64"})
    assert (bad_key.value.code, bad_key.value.message) == (-32602, "Invalid param: Invalid")
    with pytest.raises(RpcFailure) as short_key:
        rpc(client, "getAccountInfo", "abc", {"encoding": "base64"})
    assert short_key.value.message == "Invalid param: WrongSize"
    with pytest.raises(RpcFailure) as bad_commitment:
        rpc(client, "getSlot", {"commitment": "rooted"})
    assert bad_commitment.value.code == -32602
    with pytest.raises(RpcFailure) as no_mint:
        rpc(client, "getTokenSupply", str(Keypair().pubkey()))
    assert no_mint.value.message == "Invalid param: could not find account"

    assert (
        client.post(
            "/", content=b"x" * (50 * 1024 + 1), headers={"Content-Type": "application/json"}
        ).status_code
        == 413
    )
    assert (
        client.post("/", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    )


def test_more_than_100_keys_are_refused(client: httpx.Client) -> None:
    keys = [str(Keypair().pubkey()) for _ in range(101)]
    reply = rpc(client, "getMultipleAccounts", keys[:100], {"encoding": "base64"})
    assert reply["value"] == [None] * 100
    with pytest.raises(RpcFailure) as too_many:
        rpc(client, "getMultipleAccounts", keys, {"encoding": "base64"})
    assert (too_many.value.code, too_many.value.message) == (
        -32602,
        "Too many inputs provided; max 100",
    )


def test_min_context_slot(fresh_solana_node: SolanaNode, client: httpx.Client) -> None:
    slot = fresh_solana_node.slot
    ahead = {"encoding": "base64", "minContextSlot": slot + 1}
    clock = str(CLOCK_SYSVAR_ID)
    for method, params in [
        ("getMultipleAccounts", ([clock], ahead)),
        ("getAccountInfo", (clock, ahead)),
        ("getSlot", ({"minContextSlot": slot + 1},)),
        ("getTokenAccountsByOwner", (clock, {"programId": str(TOKEN_PROGRAM_ID)}, ahead)),
    ]:
        with pytest.raises(RpcFailure) as behind:
            rpc(client, method, *params)
        assert behind.value.code == -32016
        assert behind.value.message == "Minimum context slot has not been reached"
        assert behind.value.data == {"contextSlot": slot}
    assert get_multiple(client, CLOCK_SYSVAR_ID, minContextSlot=slot)["context"]["slot"] == slot

    fresh_solana_node.warp_to_slot(slot + 1)
    reply = get_multiple(client, CLOCK_SYSVAR_ID, minContextSlot=slot + 1)
    assert reply["context"]["slot"] == slot + 1 == rpc(client, "getSlot")
    assert struct.unpack_from("<Q", account_bytes(reply["value"][0]), 0)[0] == slot + 1


def test_clock_sysvar_reflects_set_clock(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    fresh_solana_node.set_clock(
        Clock(
            slot=350_000_123,
            epoch_start_timestamp=1_750_000_000,
            epoch=810,
            leader_schedule_epoch=811,
            unix_timestamp=1_760_000_000,
        )
    )
    reply = get_multiple(client, CLOCK_SYSVAR_ID)
    value = reply["value"][0]
    data = account_bytes(value)
    assert value["owner"] == "Sysvar1111111111111111111111111111111111111" and value["space"] == 40
    assert struct.unpack("<QqQQq", data) == (350_000_123, 1_750_000_000, 810, 811, 1_760_000_000)
    assert reply["context"]["slot"] == 350_000_123
    # LiteSVM itself stores the sysvar account: nothing is synthesised for it.
    stored = fresh_solana_node.svm.get_account(CLOCK_SYSVAR_ID)
    assert stored is not None and bytes(stored.data) == data
    assert rpc(client, "getBlockTime", 350_000_123) == 1_760_000_000
    with pytest.raises(RpcFailure) as future:
        rpc(client, "getBlockTime", 350_000_124)
    assert future.value.code == -32004


def test_account_info_encodings_follow_agave(
    fresh_solana_node: SolanaNode, client: httpx.Client
) -> None:
    spl_mint = spl.create_mint(fresh_solana_node, program="spl", decimals=6)
    scaled, _ = scaled_mint(fresh_solana_node)
    legacy = rpc(client, "getAccountInfo", str(spl_mint))["value"]  # default: legacy binary
    assert isinstance(legacy["data"], str) and len(b58decode(legacy["data"])) == 82
    b58 = rpc(client, "getAccountInfo", str(spl_mint), {"encoding": "base58"})["value"]["data"]
    assert b58[1] == "base58" and b58decode(b58[0]) == b58decode(legacy["data"])
    with pytest.raises(RpcFailure) as too_long:
        rpc(client, "getAccountInfo", str(scaled))  # 226 bytes > 128 for base58
    assert too_long.value.code == -32600
    sliced = rpc(
        client,
        "getAccountInfo",
        str(scaled),
        {"encoding": "base64", "dataSlice": {"offset": 36, "length": 9}},
    )
    value = sliced["value"]
    assert value["space"] == 226 and len(account_bytes(value)) == 9
    assert (
        rpc(client, "getAccountInfo", str(Keypair().pubkey()), {"encoding": "base64"})["value"]
        is None
    )


def test_concurrent_requests_while_the_clock_moves(fresh_solana_node: SolanaNode) -> None:
    mint, _ = scaled_mint(fresh_solana_node)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            with httpx.Client(base_url=fresh_solana_node.url) as c:
                for _ in range(25):
                    reply = get_multiple(c, mint, CLOCK_SYSVAR_ID)
                    clock = account_bytes(reply["value"][1])
                    assert struct.unpack_from("<Q", clock, 0)[0] == reply["context"]["slot"]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(50):
        fresh_solana_node.warp_to_slot(fresh_solana_node.slot + 1 + i % 2)
    for t in threads:
        t.join()
    assert errors == []
