"""The registry's own models: version, custodians, tokens, policy.

Chains and deployments are the chain families' models (`chains.interface.ChainSettings`,
`DeploymentModel`): the loader validates each with the family its `type` names before this
schema sees them (see `typed.py`), so here they are already typed.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator

from .. import amounts, identifiers
from ..chains.interface import ChainSettings, DeploymentModel
from ..settings import Duration, DurationOrZero, Model

DEFAULT_REGISTRY = "xstock-audit.yaml"


class Custodian(Model):
    attestations: Annotated[list[str], Field(min_length=1)]
    max_age: Duration


class Policy(Model):
    #: the allowance for clocks: a statement or block dated later than the run's start plus
    #: this is in the future
    clock_skew: DurationOrZero = timedelta(minutes=5)


class Token(Model):
    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    isin: str
    custodian: str
    tolerance: amounts.Tolerance = amounts.Tolerance()
    shares_per_token: Decimal = Decimal(1)
    deployments: Annotated[list[DeploymentModel], Field(min_length=1)]

    @field_validator("isin")
    @classmethod
    def _isin(cls, v: str) -> str:
        return identifiers.isin(v)

    @field_validator("deployments", mode="before")
    @classmethod
    def _deployments(cls, v: object) -> object:
        """A token validated on its own (not through `load`, which types each deployment by
        its chain): a mapping is typed by the one family whose fields it fits."""
        if not isinstance(v, list):
            return v
        return [by_fields(d) if isinstance(d, dict) else d for d in v]

    @field_validator("tolerance", mode="before")
    @classmethod
    def _tol(cls, v: object) -> amounts.Tolerance:
        if isinstance(v, amounts.Tolerance):
            return v
        return amounts.parse_tolerance(v)

    @field_validator("shares_per_token", mode="before")
    @classmethod
    def _spt(cls, v: object) -> Decimal:
        if isinstance(v, Decimal):
            return v
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise ValueError("write shares_per_token as a quoted decimal string or an integer")
        d = amounts.parse_quantity(str(v))
        if d <= 0:
            raise ValueError("shares_per_token must be positive")
        return d


def by_fields(raw: dict[str, object]) -> object:
    from .. import plugins
    from ..chains.interface import family

    fits = []
    for name in plugins.names(plugins.CHAINS):
        model = family(name).deployment_model
        required = {k for k, f in model.model_fields.items() if f.is_required()}
        if required <= raw.keys() <= model.model_fields.keys():
            fits.append(model)
    return fits[0].model_validate(raw) if len(fits) == 1 else raw


class Registry(Model):
    version: Literal[1]
    chains: Annotated[dict[str, ChainSettings], Field(min_length=1)]
    custodians: Annotated[dict[str, Custodian], Field(min_length=1)]
    tokens: Annotated[list[Token], Field(min_length=1)]
    policy: Policy = Policy()

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("version must be the number 1")
        return v

    #: Where the registry was read from (attestation globs are relative to its folder).
    source: str = ""
    base_dir: str = ""
