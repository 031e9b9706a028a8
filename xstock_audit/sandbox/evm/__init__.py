"""The sandbox's local Ethereum node: py-evm (through eth-tester) behind JSON-RPC over HTTP.

- `chain.py`: the py-evm chain with anvil's defaults (chain id, dev accounts, Multicall3, a
  wall-clock block clock) and the compiled contracts (`load_artifact`);
- `wire.py`: wire format: params checked on the way in, results and errors on the way out;
- `handlers.py`: the JSON-RPC methods served;
- `node.py`: `EvmNode`, the served node with its in-process controls (mine, warp, snapshot,
  deploy).
"""

from ...chains.multicall import MULTICALL3_ADDRESS
from ..rpc_http import RpcError
from .chain import (
    DEFAULT_ACCOUNT_BALANCE,
    DEFAULT_CHAIN_ID,
    DEV_HD_PATH,
    DEV_MNEMONIC,
    SandboxUnavailable,
    load_artifact,
)
from .node import EvmNode

__all__ = [
    "DEFAULT_ACCOUNT_BALANCE",
    "DEFAULT_CHAIN_ID",
    "DEV_HD_PATH",
    "DEV_MNEMONIC",
    "MULTICALL3_ADDRESS",
    "EvmNode",
    "RpcError",
    "SandboxUnavailable",
    "load_artifact",
]
