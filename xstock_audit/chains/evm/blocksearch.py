"""Finding the last block at or before an instant (`check --at`), in few round trips.

Block times are irregular (missed slots, outages, a chain that changed its block time), so
plain interpolation can be far off, and plain bisection needs ~20 sequential requests for a
million blocks. The search keeps a bracket of two known headers, `lo` (time <= when) and
`hi` (time > when), and each round trip fetches several headers at once in one JSON-RPC
batch:

- a window around the interpolated position inside the bracket (the first round's
  interpolation is the chain's average block time; each later one uses the narrower
  bracket, so it follows the local block time), its width taken from how far the previous
  estimate was off;
- guard points spread evenly over the bracket, as many as the remaining round budget
  needs in the worst case: the bracket then shrinks by at least (guards + 1) whatever the
  block times are, so `max_rounds` holds even when interpolation is useless;
- and, once the bracket is small enough, every block in it.

Every header fetched is kept in a cache (block number -> timestamp) shared by the run's
searches on that chain; a cached header costs nothing and narrows the bracket at once.
The answer satisfies time(block) <= when < time(block + 1), or block is the head.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass

#: headers fetched in one round trip at most (the batch the node sees)
MAX_PROBES = 24
#: window points around the interpolated position
WINDOW = 12
#: the window points' widths grow by this factor
RATIO = 3.0
#: a search should end within this many round trips (the first one finds the head)
MAX_ROUNDS = 8

Fetch = Callable[[list[int]], Awaitable[dict[int, int]]]


class BeforeGenesis(ValueError):
    """The instant is before the chain's first block."""


@dataclass(frozen=True)
class Found:
    number: int
    timestamp: int
    #: the next block's time (None: the block is the head)
    next_timestamp: int | None
    #: sequential round trips the search made (besides the caller's first one)
    rounds: int
    #: headers fetched (not from the cache)
    headers: int


def bracket(cache: MutableMapping[int, int], when: int, head: int) -> tuple[int, int]:
    """The tightest (lo, hi) the cache knows: time(lo) <= when < time(hi); hi may be
    head + 1 (nothing after the head is known)."""
    lo, hi = -1, head + 1
    for number, stamp in cache.items():
        if number > head:
            continue
        if stamp <= when:
            lo = max(lo, number)
        else:
            hi = min(hi, number)
    return lo, hi


def _spread(lo: int, hi: int, count: int) -> Iterable[int]:
    """`count` block numbers evenly inside (lo, hi)."""
    step = (hi - lo) / (count + 1)
    return (lo + round(step * (i + 1)) for i in range(count))


def plan(
    lo: int,
    t_lo: int,
    hi: int,
    t_hi: int,
    when: int,
    rounds_left: int,
    error: float | None,
    max_probes: int = MAX_PROBES,
) -> tuple[list[int], int]:
    """The blocks to fetch in the next round trip, strictly inside (lo, hi), and the
    interpolated estimate they were placed around.

    `rounds_left` counts this round; `error` is how far the previous estimate was from the
    bracket it led to (None before the first)."""
    interior = hi - lo - 1
    if interior <= max_probes:
        return list(range(lo + 1, hi)), lo + 1
    # interpolation: where `when` falls between the bracket's two times
    span = max(1, t_hi - t_lo)
    estimate = lo + (hi - lo) * (when - t_lo) / span
    estimate = min(hi - 1.0, max(lo + 1.0, estimate))
    # guards: the bracket must shrink by f per round so that after the remaining rounds
    # what is left fits in one final round of `max_probes`
    probes: set[int] = set()
    if rounds_left > 1:
        factor = (interior / max_probes) ** (1 / (rounds_left - 1))
        guards = max(1, math.ceil(factor) - 1)
    else:
        guards = max_probes
    guards = min(guards, max_probes - 2)
    probes.update(_spread(lo, hi, guards))
    # the window: around the estimate, as wide as the previous miss (or, first, a spread
    # in proportion to the square root of the distance interpolated over: the error of a
    # sum of independent block times)
    half = 4 * math.sqrt(interior) + 2 if error is None else 2 * error + 2
    half = min(half, interior / 2)
    # the estimate and its neighbour (interpolation exactly right ends the search), then
    # pairs at widths growing geometrically up to the window's half width
    base = math.floor(estimate)
    probes.update((base, base + 1))
    pairs = max(1, (min(WINDOW, max_probes - len(probes)) - 2) // 2)
    for i in range(pairs):
        offset = half * RATIO ** (i + 1 - pairs)
        probes.update((math.floor(estimate - offset), math.ceil(estimate + offset)))
    inside = sorted(p for p in probes if lo < p < hi)
    return inside, round(estimate)


async def find(
    when: int,
    head: int,
    cache: MutableMapping[int, int],
    fetch: Fetch,
    *,
    max_rounds: int = MAX_ROUNDS - 1,
    max_probes: int = MAX_PROBES,
) -> Found:
    """The last block whose time is <= `when`, among blocks 0..head. `cache` must hold
    the head's and block 0's times; `fetch` fetches headers in one round trip (it returns
    block number -> timestamp, and raises when it can't). `max_rounds` is the budget of
    round trips for the search; it is a target, not a limit: past it, the search goes on
    with every round's guards at `max_probes`."""
    if when < cache[0]:
        raise BeforeGenesis(f"block 0 (genesis) is dated {cache[0]}")
    rounds = headers = 0
    error: float | None = None
    while True:
        lo, hi = bracket(cache, when, head)
        if hi > head:  # the head itself is at or before `when`
            return Found(head, cache[head], None, rounds, headers)
        if hi == lo + 1:
            return Found(lo, cache[lo], cache[hi], rounds, headers)
        numbers, estimate = plan(
            lo, cache[lo], hi, cache[hi], when, max(1, max_rounds - rounds), error, max_probes
        )
        got = await fetch(numbers)
        rounds += 1
        headers += len(numbers)
        for number in numbers:
            if number not in got:
                raise ValueError(f"block {number} not returned")
        cache.update(got)
        lo2, hi2 = bracket(cache, when, head)
        # how far off the estimate was: its distance to the new bracket
        error = max(0, lo2 - estimate, estimate - hi2) + (hi2 - lo2)
