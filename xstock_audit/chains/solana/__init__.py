"""The Solana chain family: SPL Token and Token-2022 mints, read over JSON-RPC.

Registered as `solana` in the `xstock_audit.chains` entry-point group (`FAMILY`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..interface import ChainFamily, ChainReader, ChainSettings, DeploymentModel
from .models import SolanaChain, SolanaDeployment, pubkey_bytes
from .reader import SolanaReader

if TYPE_CHECKING:
    import httpx

    from ...progress import ChainWatch


class SolanaFamily(ChainFamily):
    name = "solana"
    pin_unit = "slot"
    chain_model = SolanaChain
    deployment_model = SolanaDeployment

    def reader(
        self,
        name: str,
        chain: ChainSettings,
        client: httpx.AsyncClient,
        *,
        now: datetime | None = None,
        clock_skew: timedelta = timedelta(minutes=5),
        watch: ChainWatch | None = None,
    ) -> ChainReader:
        assert isinstance(chain, SolanaChain)
        return SolanaReader(name, chain, client, now=now, clock_skew=clock_skew, watch=watch)

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
