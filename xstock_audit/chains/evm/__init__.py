"""The EVM chain family: ERC-20 and Backed multiplier tokens, read over JSON-RPC.

Registered as `evm` in the `xstock_audit.chains` entry-point group (`FAMILY`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..interface import ChainFamily, ChainReader, ChainSettings, DeploymentModel
from ..multicall import MULTICALL3_ADDRESS
from .models import EvmChain, EvmDeployment, evm_address
from .reader import EvmReader

if TYPE_CHECKING:
    import httpx

    from ...progress import ChainWatch


class EvmFamily(ChainFamily):
    name = "evm"
    pin_unit = "block"
    chain_model = EvmChain
    deployment_model = EvmDeployment

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
        assert isinstance(chain, EvmChain)
        return EvmReader(name, chain, client, now=now, clock_skew=clock_skew, watch=watch)

    def describe(self, deployment: DeploymentModel) -> str:
        return f"contract {deployment.label}"


FAMILY = EvmFamily()

__all__ = [
    "FAMILY",
    "MULTICALL3_ADDRESS",
    "EvmChain",
    "EvmDeployment",
    "EvmFamily",
    "EvmReader",
    "evm_address",
]
