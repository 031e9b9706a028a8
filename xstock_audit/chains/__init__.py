"""Chain readers: one module per kind of chain, one small interface.

A reader takes the deployments of one chain and returns a `ChainRead`: where the chain was
read (one block or slot, with its time and the redacted endpoint) and one
`DeploymentSupply` per deployment, each with either amounts or an error. Readers never
raise for a chain or token problem; they report it in the result, so one bad token or one
dead chain can't hide the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

import httpx

from ..registry import Chain, Deployment
from ..rpc import Endpoint


@dataclass(frozen=True)
class Pin:
    """The one block (EVM) or slot (Solana) every read of a chain was made at."""

    chain: str
    kind: Literal["evm", "solana"]
    number: int
    time: datetime
    rpc: str


@dataclass(frozen=True)
class MultiplierSchedule:
    """A multiplier change announced on chain, not yet in force at the pinned block or slot
    (Backed `newMultiplier` / `newMultiplierActivationTime`, Token-2022 ScaledUiAmount
    `new_multiplier` / `new_multiplier_effective_timestamp`)."""

    current: Decimal
    new: Decimal
    at: datetime


@dataclass(frozen=True)
class DeploymentSupply:
    """One deployment's supply, in token units (before `shares_per_token`).

    `total_supply` and `excluded` are raw amounts / 10^decimals. `circulating` is
    (total_supply - excluded) x `multiplier` when `multiplier_applied` (Solana
    ScaledUiAmount); for Backed EVM multiplier tokens the contract's balances already include
    the multiplier, which is reported but not applied again.
    """

    chain: str
    address: str
    decimals: int | None = None
    total_supply: Decimal | None = None
    excluded: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    multiplier_applied: bool = False
    circulating: Decimal | None = None
    error: str | None = None
    messages: tuple[str, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)
    schedule: MultiplierSchedule | None = None


@dataclass(frozen=True)
class ChainRead:
    chain: str
    pin: Pin | None
    supplies: Mapping[str, DeploymentSupply]
    error: str | None = None
    messages: tuple[str, ...] = ()
    #: HTTP requests the read took on the endpoint that answered
    requests: int = 0


class ChainReader(Protocol):
    """Reads the supply of many deployments of one chain at one block or slot."""

    async def read(self, deployments: Sequence[Deployment], at: int | None = None) -> ChainRead:
        """`at` pins the read to a block (EVM) or a minimum slot (Solana); None = the
        chain's configured head (confirmations / block tag / commitment)."""
        ...


def endpoints_for(chain: Chain, client: httpx.AsyncClient) -> list[Endpoint]:
    """One transport endpoint per RPC URL of a chain, with the chain's settings."""
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


def failed(chain: str, deployments: Sequence[Deployment], error: str) -> ChainRead:
    """A chain that could not be read at all: every deployment carries the error."""
    return ChainRead(
        chain=chain,
        pin=None,
        supplies={d.key: DeploymentSupply(chain, d.address, error=error) for d in deployments},
        error=error,
    )
