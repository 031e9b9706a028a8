"""A toy chain family: supply is `toy_supply [token]` at `toy_height` over JSON-RPC.

The worked example of docs/architecture.md ("Adding a chain family").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

import httpx

from xstock_audit.chains import endpoints_for, failed
from xstock_audit.chains.interface import (
    ChainFamily,
    ChainRead,
    ChainReader,
    ChainSettings,
    DeploymentModel,
    DeploymentSupply,
    EndpointFailed,
    Pin,
)
from xstock_audit.errors import RpcError
from xstock_audit.rpc import Call


class ToyChain(ChainSettings):
    type: Literal["toy"]


class ToyDeployment(DeploymentModel):
    token: str

    @property
    def key(self) -> str:
        return self.token


class ToyReader(ChainReader):
    def __init__(self, name: str, chain: ToyChain, client: httpx.AsyncClient) -> None:
        self.name, self.endpoints = name, endpoints_for(chain, client)

    async def read(
        self, deployments: Sequence[DeploymentModel], at: int | None = None
    ) -> ChainRead:
        ep = self.endpoints[0]
        tokens = [d.key for d in deployments]
        try:
            height, clock, *supplies = await ep.batch(
                [Call("toy_height"), Call("toy_time"), *(Call("toy_supply", [t]) for t in tokens)]
            )
        except RpcError as exc:
            return failed(self.name, deployments, EndpointFailed(exc.message))
        pin = Pin(self.name, "toy", height, datetime.fromtimestamp(clock, UTC), ep.shown)
        return ChainRead(
            chain=self.name,
            pin=pin,
            supplies={
                t: DeploymentSupply(
                    self.name,
                    t,
                    decimals=0,
                    total_supply=Decimal(n),
                    excluded=Decimal(0),
                    circulating=Decimal(n),
                )
                for t, n in zip(tokens, supplies, strict=True)
            },
            requests=ep.stats.http_requests,
        )


class ToyFamily(ChainFamily):
    name = "toy"
    pin_unit = "height"
    chain_model = ToyChain
    deployment_model = ToyDeployment

    def reader(
        self,
        name: str,
        chain: ChainSettings,
        client: httpx.AsyncClient,
        *,
        now: datetime | None = None,
        clock_skew: timedelta = timedelta(minutes=5),
        watch: object = None,
    ) -> ChainReader:
        assert isinstance(chain, ToyChain)
        return ToyReader(name, chain, client)


FAMILY = ToyFamily()
