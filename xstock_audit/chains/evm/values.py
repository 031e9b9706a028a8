"""EVM values: the calls made per deployment, and what their results mean.

`Plan` says where each value of a deployment sits in the call list; `supply` turns the
results (or `Failure`s) into a `DeploymentSupply`: decimals checked, excluded balances
subtracted, a Backed multiplier token's multiplier and scheduled change read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ... import amounts
from ...timefmt import from_unix
from ..interface import DeploymentSupply, FeedRound, MultiplierSchedule
from .models import EvmDeployment

# 4-byte selectors (keccak of the signature; tests recompute them with eth-utils)
SEL_DECIMALS = bytes.fromhex("313ce567")
SEL_TOTAL_SUPPLY = bytes.fromhex("18160ddd")
SEL_BALANCE_OF = bytes.fromhex("70a08231")
SEL_MULTIPLIER = bytes.fromhex("1b3ed722")
SEL_CURRENT_MULTIPLIER = bytes.fromhex("2b63c300")
SEL_NEW_MULTIPLIER = bytes.fromhex("60638067")
SEL_ACTIVATION = bytes.fromhex("5416d876")
#: latestRoundData() returns (uint80 roundId, int256 answer, uint256 startedAt,
#: uint256 updatedAt, uint80 answeredInRound) -- Chainlink's AggregatorV3Interface
SEL_LATEST_ROUND_DATA = bytes.fromhex("feaf968c")


@dataclass(frozen=True)
class Failure:
    """A call that did not return data."""

    message: str
    revert: bool = False


CallResult = bytes | Failure


def uint(data: bytes) -> int:
    if len(data) < 32:
        raise ValueError(f"returned {len(data)} bytes, expected 32")
    return int.from_bytes(data[:32], "big")


def _words(results: Sequence[CallResult], at: Sequence[int]) -> list[int] | None:
    """The uint256 each result at `at` returned, or None if one of them did not return one
    (`uint` and `supply` then say what went wrong)."""
    out = []
    for i in at:
        r = results[i]
        if type(r) is not bytes or len(r) < 32:
            return None
        out.append(int.from_bytes(r[:32], "big"))
    return out


@dataclass(frozen=True)
class Plan:
    """Where each value of one deployment sits in the call list."""

    decimals: int
    total_supply: int
    balances: tuple[int, ...]
    multiplier: int
    current_multiplier: int
    new_multiplier: int
    activation: int


def supply(
    chain: str,
    d: EvmDeployment,
    plan: Plan,
    results: Sequence[CallResult],
    number: int,
    timestamp: int,
) -> DeploymentSupply:
    def err(message: str) -> DeploymentSupply:
        return DeploymentSupply(chain, d.address, error=message)

    def value(i: int, what: str) -> int:
        r = results[i]
        if isinstance(r, Failure):
            text = r.message
            if r.revert:
                text = f"{what} reverted; is {d.address} an ERC-20 token?"
            raise ValueError(text)
        try:
            return uint(r)
        except ValueError as exc:
            raise ValueError(f"{what}: {exc}") from None

    first = results[plan.decimals]
    if isinstance(first, bytes) and not first:
        return err(f"no contract at {d.address} on {chain} at block {number}")
    words = _words(results, (plan.decimals, plan.total_supply, *plan.balances))
    if words is not None:  # the usual case: every value is there
        decimals, total_raw, *balances = words
    else:  # say which one is not
        try:
            decimals = value(plan.decimals, "decimals()")
            total_raw = value(plan.total_supply, "totalSupply()")
            balances = [
                value(i, f"balanceOf({x})") for i, x in zip(plan.balances, d.exclude, strict=True)
            ]
        except ValueError as exc:
            return err(str(exc))
    if decimals > 77:
        return err(f"decimals() returned {decimals}, not a plausible ERC-20 value")
    if d.decimals is not None and d.decimals != decimals:
        return err(f"decimals mismatch: the registry says {d.decimals}, the chain {decimals}")

    multiplier = Decimal(1)
    schedule: MultiplierSchedule | None = None
    details: dict[str, str] = {}
    stored_result = results[plan.multiplier]
    if isinstance(stored_result, bytes) and len(stored_result) >= 32:
        try:
            stored = uint(stored_result)
            new_mult = value(plan.new_multiplier, "newMultiplier()")
            activation = value(plan.activation, "newMultiplierActivationTime()")
        except ValueError as exc:
            return err(f"multiplier token with unreadable multiplier views: {exc}")
        # multiplier() is the stored value; getCurrentMultiplier() includes the management
        # fee decayed since the last update, as totalSupply()/balanceOf() do.
        current = results[plan.current_multiplier]
        try:
            in_force = stored if isinstance(current, Failure) else uint(current)
        except ValueError as exc:
            return err(f"getCurrentMultiplier(): {exc}")
        multiplier = amounts.scale(in_force, 18)
        details = {
            "multiplier_raw": str(stored),
            "current_multiplier_raw": str(in_force),
            "new_multiplier_raw": str(new_mult),
            "new_multiplier_activation_time": str(activation),
        }
        if activation > timestamp and new_mult != stored:
            schedule = MultiplierSchedule(
                current=amounts.scale(stored, 18),
                new=amounts.scale(new_mult, 18),
                at=from_unix(activation),
            )
    elif isinstance(stored_result, Failure) and not stored_result.revert:
        return err(f"multiplier(): {stored_result.message}")
    # else: a plain ERC-20 -- multiplier() reverted or returned nothing

    excluded_raw = sum(balances)
    if excluded_raw > total_raw:
        return err(
            f"excluded balances ({excluded_raw}) exceed totalSupply ({total_raw}) at block "
            f"{number}: inconsistent reads"
        )
    total = amounts.scale(total_raw, decimals)
    excluded = amounts.scale(excluded_raw, decimals)
    return DeploymentSupply(
        chain=chain,
        address=d.address,
        decimals=decimals,
        total_supply=total,
        excluded=excluded,
        multiplier=multiplier,
        multiplier_applied=False,
        has_multiplier=bool(details),
        circulating=amounts.sub(total, excluded),
        details=details,
        schedule=schedule,
    )


def feed_round(address: str, latest: CallResult, decimals: CallResult) -> FeedRound:
    """An aggregator's latest round from the results of `latestRoundData()` and
    `decimals()`; what it means for custody is decided by the custody side."""
    for what, r in (("latestRoundData()", latest), ("decimals()", decimals)):
        if isinstance(r, Failure):
            text = f"{what} reverted: is {address} an aggregator?" if r.revert else r.message
            return FeedRound(address, error=text)
    assert isinstance(latest, bytes) and isinstance(decimals, bytes)
    if not latest:
        return FeedRound(
            address, error=f"no contract at {address}, or not an aggregator (no data returned)"
        )
    if len(latest) < 5 * 32:
        return FeedRound(address, error=f"latestRoundData() returned {len(latest)} bytes")
    try:
        places = uint(decimals)
    except ValueError as exc:
        return FeedRound(address, error=f"decimals(): {exc}")
    words = [int.from_bytes(latest[i * 32 : (i + 1) * 32], "big") for i in range(5)]
    answer = words[1] - (1 << 256) if words[1] >> 255 else words[1]  # int256
    if places > 77:
        return FeedRound(address, error=f"decimals() returned {places}")
    return FeedRound(
        address,
        round_id=words[0],
        answer=answer,
        updated_at=words[3],
        answered_in_round=words[4],
        decimals=places,
    )
