"""Registry loading: a valid registry, and a matrix of malformed ones with exact file:line.

Every malformed case marks the line the error must name with the comment ``# <-`` (counted
from the YAML text, never from what the code reports). No network: input errors stop the
run before any RPC URL is contacted, and these tests only call `registry.load`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from xstock_audit import redact, registry
from xstock_audit.chains.evm import EvmChain, EvmDeployment
from xstock_audit.chains.solana import SolanaChain, SolanaDeployment
from xstock_audit.errors import InputError

MARK = "# <-"

ETH_ADDR_LOWER = "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"
ETH_ADDR_CHECKSUM = "0x8aD3c73F833d3F9A523aB01476625F269aEB7Cf0"
EXCLUDE_ADDR = "0x5F7A4c11bde4f218f0025Ef444c369d838ffa2aD"
MINT = "XsDoVfqeBukxuZHWhdvWHBhgEHjGNst4MLodqsJHzoB"
OWNER = "S7vYFFWH6BjJyEsdrPQpqpYTqLTrPRK6KW3VwsJuRaS"
GENESIS = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(raw: bytes) -> str:
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


MINT_31_BYTES = b58encode(bytes(range(1, 32)))

# Line numbers are given to the right for the reader; the tests find the `# <-` markers.
VALID = f"""\
version: 1
chains:
  ethereum:
    type: evm
    chain_id: 1
    rpc: ["${{ETH_RPC_URL:-https://ethereum-rpc.publicnode.com}}"]
    confirmations: 0
  solana:
    type: solana
    genesis_hash: {GENESIS}
    rpc: ["${{SOLANA_RPC_URL:-https://api.mainnet-beta.solana.com}}"]
    commitment: finalized
custodians:
  acme-custody:
    attestations: ["attestations/*.json", "attestations/*.csv"]
    max_age: 36h
tokens:
  - symbol: TSLAx
    isin: US88160R1014
    custodian: acme-custody
    tolerance: "0.000001"
    deployments:
      - chain: ethereum
        address: "{ETH_ADDR_LOWER}"
        decimals: 18
        exclude: ["{EXCLUDE_ADDR}"]
      - chain: solana
        mint: {MINT}
        exclude_owners: [{OWNER}]
        exclude_accounts: []
"""

SECOND_TOKEN = """\
  - symbol: AAPLx
    isin: US0378331005
    custodian: acme-custody
    deployments:
      - chain: ethereum
        address: "0x9d275685dc284c8eb1c79f6aba7a63dc75ec890a"
"""


def edit(old: str, new: str, base: str = VALID) -> str:
    """Replace exactly one whole line `old` (without its indentation-sensitive context)."""
    lines = base.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.rstrip("\n") == old]
    assert len(hits) == 1, f"{old!r} must occur once in the base registry"
    i = hits[0]
    lines[i] = new + "\n" if new else ""
    return "".join(lines)


def marked_line(text: str) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if MARK in line]
    assert len(lines) == 1, "a case marks exactly one line"
    return lines[0]


def write(tmp_path: Path, content: str | bytes, name: str = "xstocks.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """registry.load registers URLs/env values for scrubbing; keep that per test."""
    monkeypatch.setattr(redact, "_secrets", dict(getattr(redact, "_secrets", {})), raising=False)


# ----------------------------------------------------------------------------- valid


def test_valid_registry_loads(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    reg = registry.load(path, env={})

    assert reg.version == 1
    assert reg.source == str(path)
    assert Path(reg.base_dir) == tmp_path.resolve()

    eth = reg.chains["ethereum"]
    assert isinstance(eth, EvmChain)
    assert eth.chain_id == 1
    assert eth.confirmations == 0
    assert eth.rpc == ["https://ethereum-rpc.publicnode.com"]  # the ${VAR:-default}

    sol = reg.chains["solana"]
    assert isinstance(sol, SolanaChain)
    assert sol.genesis_hash == GENESIS
    assert sol.commitment == "finalized"
    assert sol.rpc == ["https://api.mainnet-beta.solana.com"]

    cust = reg.custodians["acme-custody"]
    assert cust.attestations == ["attestations/*.json", "attestations/*.csv"]
    assert cust.max_age == timedelta(hours=36)

    (tok,) = reg.tokens
    assert tok.symbol == "TSLAx"
    assert tok.isin == "US88160R1014"
    assert tok.custodian == "acme-custody"
    assert tok.tolerance.units == Decimal("0.000001")
    assert tok.tolerance.bps == 0
    assert tok.shares_per_token == Decimal(1)
    evm, sol_dep = tok.deployments
    assert isinstance(evm, EvmDeployment)
    # all-lowercase is accepted and normalised to its EIP-55 form
    assert evm.address == ETH_ADDR_CHECKSUM
    assert evm.decimals == 18
    assert evm.exclude == [EXCLUDE_ADDR]
    assert isinstance(sol_dep, SolanaDeployment)
    assert sol_dep.mint == MINT
    assert sol_dep.decimals is None
    assert sol_dep.exclude_owners == [OWNER]
    assert sol_dep.exclude_accounts == []


def test_checksummed_and_uppercase_addresses_accepted(tmp_path: Path) -> None:
    for form in (ETH_ADDR_CHECKSUM, "0x" + ETH_ADDR_LOWER[2:].upper()):
        text = edit(f'        address: "{ETH_ADDR_LOWER}"', f'        address: "{form}"')
        reg = registry.load(write(tmp_path, text), env={})
        assert reg.tokens[0].deployments[0].address == ETH_ADDR_CHECKSUM


def test_example_registry_in_repo_loads() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "xstocks.yaml"
    reg = registry.load(example, env={})
    assert [t.symbol for t in reg.tokens] == ["TSLAx", "AAPLx", "SPYx", "NVDAx"]
    assert reg.tokens[2].tolerance.units == Decimal("0.000001")
    assert reg.tokens[2].tolerance.bps == Decimal(1)
    assert reg.tokens[3].tolerance.bps == Decimal(1)


@pytest.mark.parametrize(
    ("line", "units", "bps"),
    [
        ('    tolerance: "5bps"', Decimal(0), Decimal(5)),
        ("    tolerance: 2", Decimal(2), Decimal(0)),
        ('    tolerance: {units: "0.5", bps: 3}', Decimal("0.5"), Decimal(3)),
    ],
)
def test_tolerance_forms(tmp_path: Path, line: str, units: Decimal, bps: Decimal) -> None:
    reg = registry.load(write(tmp_path, edit('    tolerance: "0.000001"', line)), env={})
    assert reg.tokens[0].tolerance.units == units
    assert reg.tokens[0].tolerance.bps == bps


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("36h", 129600), ("1d12h", 129600), ("90m", 5400), ("3600s", 3600), (3600, 3600)],
)
def test_parse_duration(text: object, seconds: int) -> None:
    assert registry.parse_duration(text) == timedelta(seconds=seconds)


# ---------------------------------------------------------------------- environment


def test_env_default_used_when_unset_or_empty(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert registry.load(path, env={}).chains["ethereum"].rpc == [
        "https://ethereum-rpc.publicnode.com"
    ]
    # `:-` also replaces an empty value, as in the shell
    assert registry.load(path, env={"ETH_RPC_URL": ""}).chains["ethereum"].rpc == [
        "https://ethereum-rpc.publicnode.com"
    ]


def test_env_parameter_sets_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETH_RPC_URL", "https://from-os-environ.invalid")
    path = write(tmp_path, VALID)
    reg = registry.load(path, env={"ETH_RPC_URL": "https://from-env-param.invalid/k"})
    assert reg.chains["ethereum"].rpc == ["https://from-env-param.invalid/k"]
    # without `env`, os.environ is used
    assert registry.load(path).chains["ethereum"].rpc == ["https://from-os-environ.invalid"]


def test_env_plain_var_set(tmp_path: Path) -> None:
    text = edit("  - symbol: TSLAx", "  - symbol: ${SYM}")
    reg = registry.load(write(tmp_path, text), env={"SYM": "TSLAx"})
    assert reg.tokens[0].symbol == "TSLAx"


def test_double_dollar_is_literal(tmp_path: Path) -> None:
    text = edit(
        '    attestations: ["attestations/*.json", "attestations/*.csv"]',
        '    attestations: ["att/$$HOME/*.json", "att/$${NOT_EXPANDED}.csv"]',
    )
    reg = registry.load(write(tmp_path, text), env={"HOME": "/root", "NOT_EXPANDED": "x"})
    assert reg.custodians["acme-custody"].attestations == [
        "att/$HOME/*.json",
        "att/${NOT_EXPANDED}.csv",
    ]


def test_env_secret_in_rpc_is_registered_for_scrubbing(tmp_path: Path) -> None:
    secret = "https://user:pw@host.invalid/v2/SECRETKEY123?apikey=SECRETQ"
    registry.load(write(tmp_path, VALID), env={"ETH_RPC_URL": secret})
    scrubbed = redact.scrub(f"failed to reach {secret} (timeout)")
    for leak in ("SECRETKEY123", "SECRETQ", ":pw@"):
        assert leak not in scrubbed
    assert "host.invalid" in scrubbed


# ------------------------------------------------------------------- malformed matrix


@dataclass(frozen=True)
class Bad:
    id: str
    content: str | bytes
    needle: str  # must appear in the rendered error (the key, field or variable)
    line: int | str | None = "mark"  # "mark": the line carrying `# <-`
    env: tuple[tuple[str, str], ...] = ()


def _cases() -> list[Bad]:
    e = edit
    chain_id = "    chain_id: 1"
    rpc_eth = '    rpc: ["${ETH_RPC_URL:-https://ethereum-rpc.publicnode.com}"]'
    conf = "    confirmations: 0"
    commit = "    commitment: finalized"
    genesis = f"    genesis_hash: {GENESIS}"
    att = '    attestations: ["attestations/*.json", "attestations/*.csv"]'
    max_age = "    max_age: 36h"
    isin = "    isin: US88160R1014"
    cust = "    custodian: acme-custody"
    tol = '    tolerance: "0.000001"'
    addr = f'        address: "{ETH_ADDR_LOWER}"'
    dec = "        decimals: 18"
    excl = f'        exclude: ["{EXCLUDE_ADDR}"]'
    mint = f"        mint: {MINT}"
    sol_dep = "      - chain: solana"
    eth_dep = "      - chain: ethereum"
    bad_checksum = "0x8AD3c73F833d3F9A523aB01476625F269aEB7Cf0"  # 'a' -> 'A'
    out = [
        # --- the file itself
        Bad("yaml-syntax", e(chain_id, f"    chain_id: 1: 2  {MARK}"), "mapping values"),
        # an unclosed `[`: the parser notices at the next key, two lines on
        Bad(
            "yaml-unclosed-flow",
            e("  solana:", f"  solana:  {MARK}", e(rpc_eth, '    rpc: ["https://a.invalid",')),
            "expected ',' or ']'",
        ),
        Bad("tab-indentation", e(chain_id, f"\tchain_id: 1  {MARK}"), "tab"),
        Bad("empty-file", "", "empty", line=1),
        Bad("comments-only", "# just a comment\n\n", "empty", line=1),
        Bad("top-level-list", f"- version: 1  {MARK}\n- chains: {{}}\n", "mapping"),
        Bad("top-level-scalar", f"just a string  {MARK}\n", "mapping"),
        Bad("binary-nul", b"version: 1\nchains:\x00\x01\x02\n", "binary", line=None),
        Bad(
            "non-utf8",
            VALID.replace("  - symbol: TSLAx", "  - symbol: TSLA\xff").encode("latin-1"),
            "UTF-8",
            line=18,
        ),
        Bad("duplicate-key", e(conf, f"{conf}\n    chain_id: 2  {MARK}"), "chain_id"),
        Bad("yaml-merge-key", e(conf, f"{conf}\n    <<: {{block: safe}}  {MARK}"), "merge"),
        Bad("non-string-key", e(conf, f"{conf}\n    1.5: x  {MARK}"), "1.5"),
        # --- unknown keys (typos)
        Bad("unknown-top-level", VALID + f"oracle: chainlink  {MARK}\n", "oracle"),
        Bad("reserved-top-level", VALID + f"base_dir: /etc  {MARK}\n", "base_dir"),
        Bad("unknown-chain-key", e(conf, f"    confirmation: 0  {MARK}"), "confirmation"),
        Bad("unknown-custodian-key", e(max_age, f"{max_age}\n    maxage: 2h  {MARK}"), "maxage"),
        Bad("missing-custodian-max-age", e(max_age, ""), "max_age", line=14),
        Bad("unknown-token-key", e(tol, f'    tolerence: "0.1"  {MARK}'), "tolerence"),
        Bad("unknown-deployment-key", e(dec, f"        decimal: 18  {MARK}"), "decimal"),
        Bad("address-and-mint", e(dec, f"        mint: {MINT}  {MARK}"), "mint"),
        # --- version
        Bad(
            "missing-version",
            e("version: 1", "").replace("chains:", f"chains:  {MARK}", 1),
            "version",
        ),
        Bad("version-2", e("version: 1", f"version: 2  {MARK}"), "version"),
        # --- chains
        Bad(
            "chain-type-unknown",
            e("    type: evm", f"    type: cosmos  {MARK}"),
            "cosmos",
        ),
        Bad(
            "chain-type-missing",
            e("    type: evm", "").replace("  ethereum:", f"  ethereum:  {MARK}"),
            "type",
        ),
        Bad("chain-id-string", e(chain_id, f'    chain_id: "1"  {MARK}'), "chain_id"),
        Bad("chain-id-negative", e(chain_id, f"    chain_id: -1  {MARK}"), "chain_id"),
        Bad("chain-id-zero", e(chain_id, f"    chain_id: 0  {MARK}"), "chain_id"),
        Bad("rpc-empty", e(rpc_eth, f"    rpc: []  {MARK}"), "rpc"),
        Bad("rpc-not-a-list", e(rpc_eth, f'    rpc: "https://a.invalid"  {MARK}'), "rpc"),
        Bad("rpc-not-http", e(rpc_eth, f'    rpc: ["wss://a.invalid/ws"]  {MARK}'), "rpc"),
        Bad("rpc-no-scheme", e(rpc_eth, f'    rpc: ["a.invalid:8545"]  {MARK}'), "rpc"),
        Bad("confirmations-negative", e(conf, f"    confirmations: -1  {MARK}"), "confirmations"),
        Bad("block-tag-invalid", e(conf, f"    block: pending  {MARK}"), "block"),
        Bad("commitment-invalid", e(commit, f"    commitment: max  {MARK}"), "commitment"),
        Bad(
            "genesis-hash-bad", e(genesis, f"    genesis_hash: not-a-hash  {MARK}"), "genesis_hash"
        ),
        Bad(
            "genesis-hash-short",
            e(genesis, f"    genesis_hash: {MINT_31_BYTES}  {MARK}"),
            "genesis_hash",
        ),
        Bad(
            "max-head-age-words",
            e(commit, f"{commit}\n    max_head_age: half an hour  {MARK}"),
            "max_head_age",
        ),
        Bad(
            "max-head-age-zero",
            e(conf, f"{conf}\n    max_head_age: 0m  {MARK}"),
            "max_head_age",
        ),
        Bad(
            "policy-clock-skew-words",
            e("custodians:", f"policy:\n  clock_skew: five minutes  {MARK}\ncustodians:"),
            "clock_skew",
        ),
        Bad(
            "policy-unknown-key",
            e("custodians:", f"policy:\n  clock_skwe: 5m  {MARK}\ncustodians:"),
            "clock_skwe",
        ),
        # --- custodians
        Bad("max-age-words", e(max_age, f'    max_age: "36 hours"  {MARK}'), "max_age"),
        Bad("max-age-zero", e(max_age, f"    max_age: 0h  {MARK}"), "max_age"),
        Bad("max-age-negative", e(max_age, f"    max_age: -1h  {MARK}"), "max_age"),
        Bad("max-age-int-zero", e(max_age, f"    max_age: 0  {MARK}"), "max_age"),
        Bad("attestations-empty", e(att, f"    attestations: []  {MARK}"), "attestations"),
        # --- tokens: cross references
        Bad("unknown-custodian", e(cust, f"    custodian: nobody  {MARK}"), "nobody"),
        Bad("unknown-chain", e(sol_dep, f"      - chain: solana-devnet  {MARK}"), "solana-devnet"),
        Bad("chain-type-mismatch", e(sol_dep, f"      - chain: ethereum  {MARK}"), "ethereum"),
        Bad(
            "deployment-without-address-or-mint",
            e(mint, "        decimals: 8").replace(sol_dep, f"{sol_dep}  {MARK}"),
            "deployments[1]",
        ),
        Bad(
            "duplicate-symbol",
            VALID + SECOND_TOKEN.replace("symbol: AAPLx", f"symbol: TSLAx  {MARK}"),
            "TSLAx",
        ),
        Bad(
            "duplicate-chain-address",
            # the same contract in another case form is the same deployment
            VALID
            + SECOND_TOKEN.replace(eth_dep, f"{eth_dep}  {MARK}").replace(
                "0x9d275685dc284c8eb1c79f6aba7a63dc75ec890a", ETH_ADDR_CHECKSUM
            ),
            "already listed",
        ),
        # --- tokens: values
        Bad("isin-check-digit", e(isin, f"    isin: US88160R1015  {MARK}"), "isin"),
        Bad("isin-length", e(isin, f"    isin: US88160R101  {MARK}"), "isin"),
        Bad(
            "evm-address-length",
            e(addr, f'        address: "{ETH_ADDR_LOWER[:-1]}"  {MARK}'),
            "address",
        ),
        Bad("evm-address-eip55", e(addr, f'        address: "{bad_checksum}"  {MARK}'), "EIP-55"),
        Bad(
            "evm-exclude-eip55",
            e(excl, f'        exclude: ["{EXCLUDE_ADDR.replace("F7A", "f7A")}"]  {MARK}'),
            "EIP-55",
        ),
        Bad("solana-mint-31-bytes", e(mint, f"        mint: {MINT_31_BYTES}  {MARK}"), "31 bytes"),
        Bad(
            "solana-owner-bad",
            e(f"        exclude_owners: [{OWNER}]", f"        exclude_owners: [{OWNER}0]  {MARK}"),
            "exclude_owners",
        ),
        Bad("decimals-negative", e(dec, f"        decimals: -1  {MARK}"), "decimals"),
        Bad("decimals-78", e(dec, f"        decimals: 78  {MARK}"), "decimals"),
        Bad("decimals-string", e(dec, f'        decimals: "18"  {MARK}'), "decimals"),
        Bad("tolerance-float", e(tol, f"    tolerance: 0.5  {MARK}"), "tolerance"),
        Bad("tolerance-abc", e(tol, f'    tolerance: "abc"  {MARK}'), "tolerance"),
        Bad("tolerance-negative", e(tol, f'    tolerance: "-1"  {MARK}'), "tolerance"),
        Bad(
            "tolerance-dict-unknown-key",
            e(tol, f'    tolerance: {{units: "0.1", bsp: 5}}  {MARK}'),
            "bsp",
        ),
        Bad(
            "shares-per-token-zero",
            e(tol, f"{tol}\n    shares_per_token: 0  {MARK}"),
            "shares_per_token",
        ),
        Bad(
            "shares-per-token-float",
            e(tol, f"{tol}\n    shares_per_token: 1.5  {MARK}"),
            "shares_per_token",
        ),
        # --- ${VAR}
        Bad("env-unset", e(rpc_eth, f'    rpc: ["${{NOPE_RPC_URL}}"]  {MARK}'), "NOPE_RPC_URL"),
        Bad(
            "env-unset-block-list-item",
            e(att, f'    attestations:\n      - "a/*.json"\n      - "${{ATT_DIR}}/*.csv"  {MARK}'),
            "ATT_DIR",
        ),
        Bad("env-malformed", e("  - symbol: TSLAx", f"  - symbol: ${{1X}}  {MARK}"), "${1X}"),
        Bad(
            "env-value-invalid",
            e(rpc_eth, f'    rpc: ["${{ETH_RPC_URL}}"]  {MARK}'),
            "rpc",
            env=(("ETH_RPC_URL", "not-a-url"),),
        ),
    ]
    # every invalid base58 character
    for ch in "0OIl":
        bad_mint = MINT[:5] + ch + MINT[6:]
        out.append(
            Bad(f"solana-mint-char-{ch}", e(mint, f"        mint: {bad_mint}  {MARK}"), "base58")
        )
    return out


CASES = _cases()


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id) for c in CASES],
)
def test_malformed_registry(tmp_path: Path, case: Bad) -> None:
    path = write(tmp_path, case.content)
    expected = marked_line(case.content) if case.line == "mark" else case.line
    assert isinstance(case.content, bytes) or case.line != "mark" or MARK in case.content

    with pytest.raises(InputError) as info:
        registry.load(path, env=dict(case.env))
    err = info.value
    rendered = err.render()

    assert err.file == str(path)
    assert err.line == expected, rendered
    assert case.needle.lower() in rendered.lower(), rendered
    prefix = f"{path}:{expected}: " if expected is not None else f"{path}: "
    assert rendered.startswith(prefix), rendered
    assert "\n" not in rendered, "one error, one line"


def test_several_errors_each_on_its_own_line(tmp_path: Path) -> None:
    text = edit("    chain_id: 1", f"    chain_id: -1  {MARK}")
    text = edit("    isin: US88160R1014", "    isin: US88160R1015", base=text)
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        registry.load(path, env={})
    lines = info.value.render().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:5: ")
    assert lines[1].startswith(f"{path}:19: ")
    assert "isin" in lines[1]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(InputError) as info:
        registry.load(path)
    assert info.value.file == str(path)
    assert "not found" in info.value.render()


# ------------------------------------------------------------------ regressions (bugs found, fixed)


def test_deployment_address_typo_names_the_key(tmp_path: Path) -> None:
    text = edit(
        f'        address: "{ETH_ADDR_LOWER}"', f'        adress: "{ETH_ADDR_LOWER}"  {MARK}'
    )
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        registry.load(path, env={})
    assert info.value.line == marked_line(text)
    assert "adress" in info.value.render()


def test_version_true_rejected(tmp_path: Path) -> None:
    text = edit("version: 1", f"version: true  {MARK}")
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        registry.load(path, env={})
    assert info.value.line == marked_line(text)


def test_confirmations_and_block_conflict(tmp_path: Path) -> None:
    text = edit("    confirmations: 0", "    confirmations: 0\n    block: finalized")
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        registry.load(path, env={})
    assert info.value.line in (3, 7, 8)  # the chain, `confirmations` or `block`


def test_non_utf8_after_bom_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfa\n\xff: 1\n")
    with pytest.raises(InputError) as info:
        registry.load(path, env={})
    assert info.value.line == 2


CRASHERS = [
    pytest.param("chains: [ethereum]  " + MARK, id="chains-is-a-list"),
    pytest.param("chains: ethereum  " + MARK, id="chains-is-a-string"),
    pytest.param(
        "chains:\n  ethereum:\n    type: evm\n    chain_id: 1\n    rpc: 8545  " + MARK,
        id="rpc-is-an-int",
    ),
    pytest.param(
        "chains:\n  ethereum:\n    type: evm\n    chain_id: 1\n"
        '    rpc: ["https://a.invalid"]\n    headers: [x]  ' + MARK,
        id="headers-is-a-list",
    ),
]


@pytest.mark.parametrize("chains", CRASHERS)
def test_wrongly_typed_chains_are_input_errors(tmp_path: Path, chains: str) -> None:
    text = (
        "version: 1\n"
        + chains
        + "\ncustodians:\n  c:\n    attestations: [a.json]\n    max_age: 1h\n"
        + "tokens: []\n"
    )
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        registry.load(path, env={})
    assert info.value.line == marked_line(text)


# ------------------------------------------------------------------- end-to-end CLI

BAD = Path(__file__).resolve().parent / "data" / "bad"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("xstock-audit")
    cmd = [exe] if exe else [sys.executable, "-m", "xstock_audit"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("XSTOCK_AUDIT_TEST_")}
    full_env.update(env or {})
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=60, env=full_env, cwd=BAD
    )


def _fixture_line(name: str) -> int:
    return marked_line((BAD / name).read_text(encoding="utf-8"))


CLI_CASES = [
    # (registry fixture, file the error names (None: the registry), line (None: its marker))
    pytest.param("registry-unknown-key.yaml", None, None, "decimal", id="unknown-key"),
    pytest.param("registry-bad-isin.yaml", None, None, "isin", id="bad-isin"),
    pytest.param("registry-unset-var.yaml", None, None, "XSTOCK_AUDIT_TEST_UNSET_VAR", id="env"),
    pytest.param("registry-tab-indent.yaml", None, None, "YAML", id="tab-indent"),
    pytest.param("registry-eip55.yaml", None, None, "EIP-55", id="eip55"),
    pytest.param("registry-unknown-chain.yaml", None, None, "solana-devnet", id="unknown-chain"),
    pytest.param(
        "custody-float-quantity.yaml",
        "custody/float-quantity.json",
        6,
        "floating-point",
        id="attestation-float",
    ),
    pytest.param(
        "custody-short-row.yaml", "custody/short-row.csv", 3, "fields", id="attestation-csv-row"
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("fixture", "names", "line", "needle"), CLI_CASES)
def test_cli_bad_input_exit_2(
    fixture: str, names: str | None, line: int | None, needle: str
) -> None:
    reg = str(BAD / fixture)
    where = f"{names or reg}:{line or _fixture_line(fixture)}:"
    proc = cli("check", reg)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    errors = proc.stderr.strip().splitlines()
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith(f"error: {where}"), proc.stderr
    assert needle in errors[0]


@pytest.mark.slow
def test_cli_debug_still_exit_2() -> None:
    reg = str(BAD / "registry-bad-isin.yaml")
    proc = cli("check", "--debug", reg)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert (
        f"{reg}:{_fixture_line('registry-bad-isin.yaml')}:" in proc.stderr
    )  # a traceback may precede it


@pytest.mark.slow
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_cli_secret_in_rpc_url_never_printed(debug: bool) -> None:
    reg = str(BAD / "registry-secret-url.yaml")
    proc = cli("check", *(["--debug"] if debug else []), reg)
    assert proc.returncode == 2
    assert f"{reg}:{_fixture_line('registry-secret-url.yaml')}:" in proc.stderr
    for secret in ("SECRETKEY123", "SECRETQ", "pw"):
        assert secret not in proc.stderr
        assert secret not in proc.stdout


@pytest.mark.slow
def test_cli_secret_from_environment_never_printed() -> None:
    reg = str(BAD / "registry-secret-env.yaml")
    secret_url = "https://user:pw@host.invalid/v2/SECRETKEY123?apikey=SECRETQ"
    proc = cli("check", "--debug", reg, env={"XSTOCK_AUDIT_TEST_RPC_URL": secret_url})
    assert proc.returncode == 2
    assert f"{reg}:{_fixture_line('registry-secret-env.yaml')}:" in proc.stderr
    for secret in ("SECRETKEY123", "SECRETQ", "pw"):
        assert secret not in proc.stderr
