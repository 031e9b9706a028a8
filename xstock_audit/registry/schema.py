"""The registry's own models: version, custodians, tokens, policy.

Chains and deployments are the chain families' models (`chains.interface.ChainSettings`,
`DeploymentModel`): the loader validates each with the family its `type` names before this
schema sees them (see `typed.py`), so here they are already typed.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .. import amounts, identifiers
from ..chains.interface import ChainSettings, DeploymentModel
from ..policy import DEFAULT_FAIL_ON
from ..settings import Duration, DurationOrZero, Model

DEFAULT_REGISTRY = "xstock-audit.yaml"


#: custody sources that are not files (their settings are read by `custody.sources`)
SOURCE_FORMATS = ("chainlink-por", "http-json")


class Feed(Model):
    """A Chainlink Proof of Reserve feed: an aggregator contract on one EVM chain."""

    chain: str
    address: str

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        from ..chains.evm.models import evm_address

        return evm_address(v)


class Custodian(Model):
    #: `auto` (detect each file by its content), a custody format's name, or a source
    format: str = "auto"
    attestations: Annotated[list[str], Field(min_length=1)] | None = None
    max_age: Duration
    #: for statement dates without a zone (MT535 :98A: and :98C:)
    timezone: str = "UTC"
    #: minisign public key (base64, as in a `.pub` file's second line)
    public_key: str | None = None
    #: Ethereum address whose EIP-191 personal-sign signature each file carries
    signer: str | None = None
    #: count quantities that are not available (pending, in transit, pledged)
    count_unavailable: bool = False
    #: chainlink-por: ISIN -> feed
    feeds: dict[str, Feed] | None = None
    #: http-json: the URL (a secret, like an RPC URL), JMESPath `items`, `fields`, `next`
    url: str | None = None
    items: str | None = None
    fields_: Annotated[dict[str, str] | None, Field(alias="fields")] = None
    next: str | None = None
    headers: Annotated[dict[str, str], Field(default_factory=dict)]

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        from .. import plugins

        known = ["auto", *plugins.names(plugins.CUSTODY_FORMATS), *SOURCE_FORMATS]
        if v not in known:
            raise ValueError(f"unknown format {v!r}; known: {', '.join(known)}")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name like Europe/Zurich)") from None
        return v

    @field_validator("public_key")
    @classmethod
    def _public_key(cls, v: str | None) -> str | None:
        import base64
        import binascii

        if v is None:
            return v
        try:
            raw = base64.b64decode(v.strip(), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 42 or raw[:2] != b"Ed":
            raise ValueError(
                "not a minisign public key (base64 of 'Ed', an 8-byte key id and a 32-byte key)"
            )
        return v.strip()

    @field_validator("signer")
    @classmethod
    def _signer(cls, v: str | None) -> str | None:
        from ..chains.evm.models import evm_address

        return None if v is None else evm_address(v)

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, v: dict[str, Feed] | None) -> dict[str, Feed] | None:
        if v is None:
            return v
        return {identifiers.isin(k): f for k, f in v.items()}

    @model_validator(mode="after")
    def _by_format(self) -> Custodian:
        keys = {
            "attestations": self.attestations is not None,
            "feeds": self.feeds is not None,
            "url": self.url is not None,
            "items": self.items is not None,
            "fields": self.fields_ is not None,
            "next": self.next is not None,
        }
        need = {
            "chainlink-por": {"feeds"},
            "http-json": {"url", "items", "fields"},
        }.get(self.format, {"attestations"})
        allowed = need | ({"next"} if self.format == "http-json" else set())
        missing = sorted(k for k in need if not keys[k])
        extra = sorted(k for k, present in keys.items() if present and k not in allowed)
        if missing:
            raise ValueError(f"format {self.format} needs {', '.join(missing)}")
        if extra:
            raise ValueError(f"{', '.join(extra)} not used by format {self.format}")
        if self.format == "http-json":
            absent = {"isin", "quantity", "as_of"} - set(self.fields_ or {})
            if absent:
                raise ValueError(f"fields needs {', '.join(sorted(absent))}")
            from ..custody import httpjson

            httpjson.check_settings(self)
        if self.format in SOURCE_FORMATS and (self.public_key or self.signer):
            raise ValueError(f"public_key and signer sign files; format {self.format} has none")
        return self


class IgnoreEntry(Model):
    """A token the gate does not fail on (it is still audited and shown)."""

    symbol: Annotated[str, Field(min_length=1)]
    reason: Annotated[str, Field(min_length=1)]
    until: date | None = None


class Policy(Model):
    #: the allowance for clocks: a statement or block dated later than the run's start plus
    #: this is in the future
    clock_skew: DurationOrZero = timedelta(minutes=5)
    #: the statuses that fail the gate (exit 1 for UNDER, 3 for the others)
    fail_on: list[str] = Field(default_factory=lambda: [s.lower() for s in DEFAULT_FAIL_ON])
    #: `history`: on-chain supply moved since the custody as-of by more than this
    drift: amounts.Tolerance | None = None
    #: `history`: supply moved between two runs by more than this
    jump: amounts.Tolerance | None = None
    ignore: list[IgnoreEntry] = Field(default_factory=list)

    @field_validator("fail_on", mode="before")
    @classmethod
    def _fail_on(cls, v: object) -> object:
        from ..policy import parse_fail_on

        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValueError("fail_on is a list of statuses, e.g. [under, stale, error]")
        return [s.lower() for s in parse_fail_on(",".join(v))]

    @field_validator("drift", "jump", mode="before")
    @classmethod
    def _limits(cls, v: object) -> object:
        if v is None or isinstance(v, amounts.Tolerance):
            return v
        return amounts.parse_tolerance(v)


class Token(Model):
    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    isin: str
    #: one custodian's name or a list of them (their quantities are summed)
    custodian: str | Annotated[list[str], Field(min_length=1)]
    tolerance: amounts.Tolerance = amounts.Tolerance()
    shares_per_token: Decimal = Decimal(1)
    deployments: Annotated[list[DeploymentModel], Field(min_length=1)]

    @field_validator("isin")
    @classmethod
    def _isin(cls, v: str) -> str:
        return identifiers.isin(v)

    @property
    def custodians(self) -> tuple[str, ...]:
        """The custodians whose quantities are summed for this token."""
        return (self.custodian,) if isinstance(self.custodian, str) else tuple(self.custodian)

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
