"""The EVM chain family: ERC-20 and Backed multiplier tokens, read over JSON-RPC.

Registered as `evm` in the `xstock_audit.chains` entry-point group (`FAMILY`).
"""

from __future__ import annotations

from ..interface import ChainFamily, DeploymentModel
from ..multicall import MULTICALL3_ADDRESS
from .models import EvmChain, EvmDeployment, evm_address
from .reader import EvmReader


class EvmFamily(ChainFamily):
    name = "evm"
    pin_unit = "block"
    chain_model = EvmChain
    reader_class = EvmReader
    deployment_model = EvmDeployment

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
