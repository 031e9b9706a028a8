"""Chain readers: one package per chain family, behind `chains.interface`.

The families are plug-ins (entry-point group `xstock_audit.chains`); this package holds the
built-in ones (`evm`, `solana`), the interface they fill in, and the helpers every reader
shares: endpoints built from a chain's settings, a failed read, a guarded per-deployment
computation, and the endpoint choice and cross-checks in `consensus`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .interface import (
    AheadOfClock,
    ChainFamily,
    ChainRead,
    ChainReader,
    ChainSettings,
    DeploymentModel,
    DeploymentSupply,
    EndpointFailed,
    Lagging,
    MultiplierSchedule,
    Note,
    Pin,
    QuorumRead,
    StaleHead,
    family,
)

if TYPE_CHECKING:
    import httpx

    from ..rpc import Endpoint


def endpoints_for(chain: ChainSettings, client: httpx.AsyncClient) -> list[Endpoint]:
    """One transport endpoint per RPC URL of a chain, with the chain's settings."""
    from ..rpc import Endpoint

    return [
        Endpoint(
            url,
            client,
            headers=chain.headers,
            timeout=chain.timeout,
            connect_timeout=chain.connect_timeout,
            retries=chain.retries,
            batch_size=chain.batch_size,
            max_concurrency=chain.max_concurrency,
            max_body_bytes=chain.max_body_bytes,
        )
        for url in chain.rpc
    ]


def guarded(chain: str, address: str, compute: Callable[[], DeploymentSupply]) -> DeploymentSupply:
    """One deployment's supply, or its error when the exact arithmetic fails on its values:
    one extreme value can't sink the chain's read."""
    from ..amounts import failure

    try:
        return compute()
    except ArithmeticError as exc:
        return DeploymentSupply(chain, address, error=f"arithmetic: {failure(exc)}")


def failed(chain: str, deployments: Sequence[DeploymentModel], *reasons: Note | str) -> ChainRead:
    """A chain that could not be read at all: every deployment carries the error, the
    reasons joined in one line (or "no RPC endpoint" when there are none)."""
    from ..text import joined

    error = joined(reasons) or "no RPC endpoint"
    return ChainRead(
        chain=chain,
        pin=None,
        supplies={d.key: DeploymentSupply(chain, d.label, error=error) for d in deployments},
        error=error,
    )


__all__ = [
    "AheadOfClock",
    "ChainFamily",
    "ChainRead",
    "ChainReader",
    "ChainSettings",
    "DeploymentModel",
    "DeploymentSupply",
    "EndpointFailed",
    "Lagging",
    "MultiplierSchedule",
    "Note",
    "Pin",
    "QuorumRead",
    "StaleHead",
    "endpoints_for",
    "failed",
    "family",
    "guarded",
]
