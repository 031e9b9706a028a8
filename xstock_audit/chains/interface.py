"""The chain-family interface, and the data a chain read returns.

A chain family (EVM, Solana, or a plug-in's) is one `ChainFamily` registered in the
`xstock_audit.chains` entry-point group under the registry's `type`. It owns:

- its registry models: `chain_model` (a `ChainSettings`: the `chains.<name>` block) and
  `deployment_model` (a `DeploymentModel`: one entry of a token's `deployments`); the
  registry validates each deployment against the family of the chain it names;
- its reader (`reader(...)`, a `ChainReader`), which takes the deployments of one chain and
  returns a `ChainRead`: the one block or slot every value was read at (`Pin`) and one
  `DeploymentSupply` per deployment, each with amounts or an error;
- its pin unit (`block`, `slot`) and how a deployment is described to people.

Readers never raise for a chain or token problem; they report it in the result, so one bad
token or one dead chain can't hide the others. What happened on the way (an endpoint
skipped, a failover, a stale head, a quorum) comes back as typed `Note`s; the report formats
write the sentences.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field, StrictInt, field_validator, model_validator

from ..settings import Duration, Model

if TYPE_CHECKING:
    import httpx

    from ..progress import ChainWatch


# --- what a read returns -----------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """The one block or slot every read of a chain was made at."""

    chain: str
    #: the chain family (`type`)
    kind: str
    number: int
    time: datetime
    rpc: str
    #: `check --at`: the instant asked for (None: the head)
    at: datetime | None = None
    #: how the block or slot was found for `at` (e.g. "interpolation search, 6 requests")
    how: str | None = None
    #: Solana `--at`: transactions replayed to reconstruct the state at `at`
    replayed: int | None = None

    @property
    def unit(self) -> str:
        """What the family pins to (`block`, `slot`)."""
        return pin_unit(self.kind)


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
    the multiplier, which is reported but not applied again. `error` is the reader's
    diagnosis of this deployment (no contract, decimals mismatch, ...).
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
    #: a multiplier token (Backed, ScaledUiAmount): its multiplier is shown even when 1
    has_multiplier: bool = False


# Notes: what happened while a chain was read. Hosts are redacted (`Endpoint.shown`).


@dataclass(frozen=True)
class EndpointFailed:
    """An endpoint's probe or read failed; `message` is the transport's or reader's error
    (it names the redacted host)."""

    message: str


@dataclass(frozen=True)
class Lagging:
    """An endpoint skipped: its head is behind the other endpoints' median."""

    host: str
    unit: str
    head: int
    median: int
    max_lag: int


@dataclass(frozen=True)
class StaleHead:
    """The block or slot read is older than the chain's `max_head_age`."""

    host: str
    unit: str
    number: int
    time: datetime
    age: timedelta
    max_head_age: timedelta


@dataclass(frozen=True)
class AheadOfClock:
    """The block or slot read is dated ahead of the run's clock by more than `clock_skew`."""

    host: str
    unit: str
    number: int
    time: datetime
    ahead: timedelta
    clock_skew: timedelta


@dataclass(frozen=True)
class QuorumRead:
    """Several endpoints read the same values; they agreed (or the deployments where they
    did not are errors)."""

    hosts: tuple[str, ...]
    unit: str
    numbers: tuple[int, ...]


Note = EndpointFailed | Lagging | StaleHead | AheadOfClock | QuorumRead


@dataclass(frozen=True)
class ChainRead:
    chain: str
    pin: Pin | None
    supplies: Mapping[str, DeploymentSupply]
    #: why the chain could not be read (None when it was): the reader's diagnosis, as
    #: every deployment of the chain carries it
    error: str | None = None
    #: what happened on the way: endpoints skipped or failed over, a quorum
    notes: tuple[Note, ...] = ()
    #: HTTP requests the read took, and retries among them, over the chain's endpoints
    requests: int = 0
    retries: int = 0
    #: Proof of Reserve feeds read at the same block (custody `chainlink-por`), by address
    feeds: Mapping[str, FeedRound] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedRound:
    """A Chainlink-style aggregator's latest round, read in the chain's pinned block:
    `latestRoundData()` and `decimals()`. `error` says why it could not be read."""

    address: str
    round_id: int = 0
    answer: int = 0
    updated_at: int = 0
    answered_in_round: int = 0
    decimals: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Movement:
    """One change of a deployment's circulating supply after the custody as-of, up to the
    read (`check --movements`): a mint, a burn, or a transfer out of (or into) an excluded
    holder. `raw` is in the token's raw units and signed as it changes the circulating
    supply (a mint +, a burn -, out of an excluded holder +, into one -); `amount`, in
    shares, is set by the audit (x the multiplier applied to balances x
    `shares_per_token`)."""

    chain: str
    #: the deployment's key (contract address, mint)
    address: str
    time: datetime
    #: transaction hash or signature
    tx: str
    kind: str  # "mint" | "burn" | "transfer"
    raw: int
    #: the block or slot of the transaction
    number: int
    amount: Decimal | None = None


@dataclass(frozen=True)
class MovementsRead:
    """What `ChainReader.movements` found: per deployment key its movements, oldest first,
    or in `errors` why they are unknown."""

    chain: str
    movements: Mapping[str, tuple[Movement, ...]] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


# --- the registry side -------------------------------------------------------------------------


def _check_rpc_urls(urls: list[str]) -> list[str]:
    from urllib.parse import urlsplit

    from ..redact import redact_url

    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"RPC endpoint {redact_url(url)!r} is not an http(s) URL with a host")
    return urls


class ChainSettings(Model):
    """The settings every chain has: its JSON-RPC endpoints and how to use them.

    A family subclasses it with `type: Literal["<family>"]` and its own fields."""

    type: str
    rpc: Annotated[list[str], Field(min_length=1)]
    headers: dict[str, str] = Field(default_factory=dict)
    batch_size: Annotated[StrictInt, Field(ge=1, le=1000)] = 100
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=64)] = 8
    #: seconds to wait for a reply (read timeout) and to connect
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    connect_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0
    #: retries of a failed request (429, 5xx, connection errors, rate-limit errors)
    retries: Annotated[StrictInt, Field(ge=0, le=10)] = 2
    #: read the same values from this many endpoints and require them to agree
    quorum: Annotated[StrictInt, Field(ge=1, le=10)] = 1
    #: skip an endpoint whose head is this many blocks/slots behind the others' median
    max_lag: Annotated[StrictInt, Field(ge=0)] = 10
    #: request body limit of the nodes
    max_body_bytes: Annotated[StrictInt, Field(ge=1024)] = 2_000_000
    #: a head (newest block or slot read) older than this means a stuck or syncing node
    max_head_age: Duration = timedelta(minutes=30)

    @model_validator(mode="after")
    def _quorum_fits(self) -> ChainSettings:
        if self.quorum > len(self.rpc):
            raise ValueError(
                f"quorum {self.quorum} needs at least {self.quorum} rpc endpoints, "
                f"{len(self.rpc)} given"
            )
        return self

    @field_validator("rpc")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return _check_rpc_urls(v)


class DeploymentModel(Model):
    """One deployment of a token on a chain; a family subclasses it with its own fields."""

    chain: str

    @property
    def key(self) -> str:
        """What identifies the deployment on its chain (unique per chain)."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """How the deployment is named in reports (a contract address, a mint)."""
        return self.key


# --- the plug-in --------------------------------------------------------------------------------


class ChainReader(ABC):
    """Reads the supply of many deployments of one chain at one block or slot."""

    @abstractmethod
    async def read(
        self, deployments: Sequence[DeploymentModel], at: int | None = None
    ) -> ChainRead:
        """`at` pins the read to a block or slot; None = the chain's configured head."""

    async def read_at(self, deployments: Sequence[DeploymentModel], when: datetime) -> ChainRead:
        """The supply as of the instant `when` (`check --at`): a family that can read the
        past overrides this (EVM: the last block at or before `when`; Solana: the current
        state minus the transactions after it). The pin says which block or slot was used
        and how it was found (`Pin.how`)."""
        from . import failed

        return failed(
            getattr(self, "name", "?"),
            deployments,
            "this chain family cannot read the past (check --at)",
        )

    async def movements(
        self, deployments: Sequence[DeploymentModel], since: datetime, pin: Pin
    ) -> MovementsRead:
        """The mints, burns and excluded-holder transfers of these deployments after the
        instant `since` and up to `pin` (the read's block or slot; with `check --at`, its
        instant), for `check --movements`. A family that can list them overrides this."""
        return MovementsRead(
            getattr(self, "name", "?"),
            errors={
                d.key: "this chain family cannot list movements (check --movements)"
                for d in deployments
            },
        )


class ChainFamily(ABC):
    """One kind of chain, registered in the `xstock_audit.chains` entry-point group."""

    #: the registry's `type`
    name: ClassVar[str]
    #: what every read is pinned to: "block", "slot", ...
    pin_unit: ClassVar[str]
    chain_model: ClassVar[type[ChainSettings]]
    deployment_model: ClassVar[type[DeploymentModel]]

    #: the reader class `reader()` makes (or override `reader`)
    reader_class: ClassVar[type[ChainReader] | None] = None

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
        """A reader of chain `name`. `now` (the run's start) enables the freshness checks;
        `watch` receives live progress."""
        if self.reader_class is None:
            raise NotImplementedError(f"chain family {self.name!r} has no reader")
        return self.reader_class(  # type: ignore[call-arg]
            name, chain, client, now=now, clock_skew=clock_skew, watch=watch
        )

    def describe(self, deployment: DeploymentModel) -> str:
        """The deployment as people name it (`contract 0x8aD3…`, `mint Xs…`)."""
        return deployment.label


def family(name: str) -> ChainFamily:
    """The installed chain family `name` (the registry's `type`)."""
    from .. import plugins

    return plugins.load_as(plugins.CHAINS, name, ChainFamily)


def pin_unit(kind: str) -> str:
    from .. import plugins

    try:
        return family(kind).pin_unit
    except plugins.UnknownPlugin:
        return "block"
