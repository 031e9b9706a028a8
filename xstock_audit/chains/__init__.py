"""Chain readers: one package per chain family, behind `chains.interface`.

The families are plug-ins (entry-point group `xstock_audit.chains`); this package holds the
built-in ones (`evm`, `solana`), the interface they fill in, and the helpers every reader
shares: endpoints built from a chain's settings, a failed read, a guarded per-deployment
computation, and the endpoint choice and cross-checks in `consensus`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

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

    from ..progress import ChainWatch
    from ..rpc import Endpoint


class JsonRpcReader(ChainReader):
    """What every JSON-RPC reader starts with: one transport endpoint per RPC URL, the
    run's clock to hold each read to, and the live status to report progress to.

    `now`: the run's start; when given, a block or slot older than the chain's
    `max_head_age`, or ahead of `now` by more than `clock_skew`, is refused
    (`consensus.freshness`) and the read fails over to the next endpoint."""

    #: what the reads are pinned to (the family's `pin_unit`)
    unit: ClassVar[str] = "block"

    def __init__(
        self,
        name: str,
        chain: ChainSettings,
        client: httpx.AsyncClient,
        *,
        now: datetime | None = None,
        clock_skew: timedelta = timedelta(minutes=5),
        watch: ChainWatch | None = None,
    ) -> None:
        from ..progress import ChainWatch
        from .consensus import Clock

        self.name = name
        self.chain = chain
        self.endpoints = endpoints_for(chain, client)
        self.clock = None if now is None else Clock(now, chain.max_head_age, clock_skew)
        self.watch = watch if watch is not None else ChainWatch(name, self.unit)
        self.watch.track(self.endpoints)

    def _retries(self) -> int:
        return sum(ep.stats.retries for ep in self.endpoints)


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
    try:
        return compute()
    except ArithmeticError as exc:
        from ..amounts import failure  # here, not per call: 20,000 calls in a large read

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
    "JsonRpcReader",
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
