"""The Solana chain family: SPL Token and Token-2022 mints, read over JSON-RPC.

Registered as `solana` in the `xstock_audit.chains` entry-point group (`FAMILY`).
"""

from __future__ import annotations

from ..interface import ChainFamily, DeploymentModel
from .models import SolanaChain, SolanaDeployment, pubkey_bytes
from .reader import SolanaReader


class SolanaFamily(ChainFamily):
    name = "solana"
    pin_unit = "slot"
    chain_model = SolanaChain
    reader_class = SolanaReader
    deployment_model = SolanaDeployment

    def describe(self, deployment: DeploymentModel) -> str:
        return f"mint {deployment.label}"


FAMILY = SolanaFamily()

__all__ = [
    "FAMILY",
    "SolanaChain",
    "SolanaDeployment",
    "SolanaFamily",
    "SolanaReader",
    "pubkey_bytes",
]
