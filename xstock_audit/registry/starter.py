"""`xstock-audit init`: a commented starter registry, its JSON Schema and a sample statement."""

from __future__ import annotations

import json
from datetime import UTC, datetime

REGISTRY_FILE = "xstock-audit.yaml"
SCHEMA_FILE = "xstock-audit.schema.json"
ATTESTATION_FILE = "attestations/example-custody-SAFE-0001.json"
#: the environment variables the starter registry needs
ENV_VARS = ("ETH_RPC_URL", "SOLANA_RPC_URL")

REGISTRY = """\
# yaml-language-server: $schema=xstock-audit.schema.json
#
# xstock-audit registry: what to audit and where to read it (written by `xstock-audit init`).
# Replace the custodian, the token and its deployments with yours, then:
#   export ETH_RPC_URL=https://... SOLANA_RPC_URL=https://...   # your own endpoints
#   xstock-audit registry lint --online    # this file, its statements, and the chains
#   xstock-audit check                     # the audit
# Format: "Registry" in the README; `xstock-audit registry schema` prints the JSON Schema
# (xstock-audit.schema.json beside this file, for editors).
version: 1

chains:
  ethereum:
    type: evm
    chain_id: 1                    # verified against eth_chainId before any read
    # one or more endpoints, tried in order; keep API keys in environment variables
    rpc: ["${ETH_RPC_URL}"]
    block: finalized               # or `confirmations: N` to read at head - N
  solana:
    type: solana
    # mainnet-beta; verified against getGenesisHash (remove for another cluster)
    genesis_hash: 5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d
    rpc: ["${SOLANA_RPC_URL}"]
    commitment: finalized

custodians:
  example-custody:
    # statement files, relative to this file: native JSON/YAML, CSV, semt.002, MT535
    attestations: ["attestations/*.json"]
    max_age: 36h                   # older than this, the newest statement makes tokens STALE
    # public_key: "RW..."          # minisign key: every file must then carry FILE.minisig

tokens:
  - symbol: TSLAx
    isin: US88160R1014             # of the underlying share; check digit verified
    custodian: example-custody
    tolerance: "0.000001"          # in shares; or "5bps", or {units: "0.000001", bps: 5}
    deployments:
      - chain: ethereum
        address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"
        decimals: 18               # optional; verified against the chain when given
        exclude: []                # treasury, inventory, bridge wallets: not circulating
      - chain: solana
        mint: XsDoVfqeBukxuZHWhdvWHBhgEHjGNst4MLodqsJHzoB
        decimals: 8
        exclude_owners: []         # owners of token accounts that are not circulating

# policy:
#   fail_on: [under, stale, unverified, error]   # add `over` to fail on excess collateral
#   clock_skew: 5m
"""


def attestation(now: datetime | None = None) -> str:
    """A sample native statement (illustrative figures), dated `now` to the second."""
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    doc = {
        "custodian": "example-custody",
        "account": "SAFE-0001",
        "as_of": when.isoformat().replace("+00:00", "Z"),
        "holdings": [{"isin": "US88160R1014", "quantity": "1523.000000"}],
    }
    return json.dumps(doc, indent=2) + "\n"


def files(now: datetime | None = None) -> dict[str, str]:
    """What `init` writes, by path relative to the folder."""
    from .jsonschema import registry_schema

    return {
        REGISTRY_FILE: REGISTRY,
        SCHEMA_FILE: json.dumps(registry_schema(), indent=2) + "\n",
        ATTESTATION_FILE: attestation(now),
    }
