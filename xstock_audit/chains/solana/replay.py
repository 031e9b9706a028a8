"""Solana `check --at`: the state at a past instant, rebuilt from the current state.

A Solana node serves only its current accounts, so the supply at an instant T is the current
supply minus what every transaction after T changed:

1. the current state is read as `read` reads it (one slot S, `SolanaReader._snapshot`);
2. the signatures of every transaction after T (and at or before S) are listed with
   `getSignaturesForAddress`, 1000 a page, newest first, for each mint, each excluded token
   account and each token account of an excluded owner; all addresses' pages go in one
   JSON-RPC batch per round, and a page stops at the first transaction at or before T;
3. those transactions are fetched with `getTransaction` (json) in batches, each page's as
   soon as it is listed, while the next pages are listed; failed ones (`err` in the
   signature list or in `meta.err`) change nothing and are not fetched;
4. a transaction's supply change for a mint is Σ postTokenBalances − Σ preTokenBalances over
   that mint's entries (the change of the sum of all its token accounts = minted − burned,
   whatever program made the MintTo or Burn, inner instructions included); an excluded
   account's change is its own post − pre;
5. the ScaledUiAmount multiplier in force at T is the current extension's when no
   `UpdateMultiplier` came after T; otherwise the mint's history is walked back past T
   through its `UpdateMultiplier` instructions (to its `Initialize` if need be), each one
   decided by the rule the Token-2022 program applies (see `_multiplier_at`).

A node whose history does not reach back to T cannot tell what changed: when an address's
list ends without a transaction at or before T, the node's first available block
(`getFirstAvailableBlock`, `getBlockTime`) must be at or before T, or the read is an error
(and the next endpoint is tried). The pin is the newest slot at or before T at which one of
the addresses changed (the state there is the state at T), with its block time.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from ... import amounts
from ...errors import RpcError
from ...rpc import Call, Endpoint
from ...timefmt import from_unix, iso, setting
from .. import failed, guarded
from ..interface import (
    ChainRead,
    DeploymentModel,
    DeploymentSupply,
    EndpointFailed,
    Movement,
    MovementsRead,
    Note,
    Pin,
)
from ..interface import MultiplierSchedule as Schedule
from ..spl_layout import TOKEN_2022, LayoutError, parse_mint
from .models import SolanaDeployment
from .supply import pubkey_raw, supply

if TYPE_CHECKING:
    from .reader import Snapshot, SolanaReader

#: Agave's most signatures per `getSignaturesForAddress` call
PAGE = 1000
#: TokenInstruction::ScaledUiAmountExtension, then ScaledUiAmountMintInstruction 0/1
IX_SCALED_UI_AMOUNT = 43
SCALED_INITIALIZE = 0
SCALED_UPDATE_MULTIPLIER = 1


class HistoryTooShort(RpcError):
    """The node's history does not reach back to the instant."""


@dataclass(frozen=True)
class MultiplierEvent:
    """A ScaledUiAmount Initialize (`effective_timestamp` None) or UpdateMultiplier of a mint,
    at `block_time`."""

    mint: str
    multiplier: Decimal
    effective_timestamp: int | None
    block_time: int


@dataclass
class TxChange:
    """What one successful transaction changed: raw supply per mint, raw balance per tracked
    account, the (mint, owner, account) of every token balance listed, multiplier events."""

    supply: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)
    holders: set[tuple[str, str, str]] = field(default_factory=set)
    events: list[MultiplierEvent] = field(default_factory=list)


@dataclass
class AddressHistory:
    """One address's transactions after the instant (newest first) and where its list ended."""

    address: str
    after: list[dict[str, Any]] = field(default_factory=list)
    #: (slot, block time) of its newest transaction at or before the instant
    boundary: tuple[int, int] | None = None
    #: the list ended (a short page) without reaching the instant
    exhausted: bool = False
    #: `before` for the next page
    cursor: str | None = None

    @property
    def done(self) -> bool:
        return self.boundary is not None or self.exhausted


@dataclass
class Collected:
    """What `_Replay.collect` gathered: the current state (slot `snap.slot`), the tracked
    token accounts per deployment, each address's transactions after the instant, what each
    successful one changed (by signature), the failed ones skipped, and the pin."""

    snap: Snapshot
    tracked: dict[str, list[str]]
    histories: dict[str, AddressHistory]
    changes: dict[str, TxChange]
    failed_skipped: set[str]
    pin_slot: int
    pin_time: int


# --- the read -----------------------------------------------------------------------------------


async def read_at(
    reader: SolanaReader, deployments: Sequence[DeploymentModel], when: datetime
) -> ChainRead:
    deps = [d for d in deployments if isinstance(d, SolanaDeployment)]
    errors: list[Note] = []
    check_genesis = len(reader.endpoints) == 1
    for ep in reader.endpoints:
        try:
            return await _Replay(reader, ep, deps, when).run(check_genesis)
        except RpcError as exc:
            text = exc.message if exc.message.startswith(ep.shown) else f"{ep.shown}: {exc.message}"
            errors.append(EndpointFailed(text))
    return failed(reader.name, deps, *errors)


async def movements(
    reader: SolanaReader, deployments: Sequence[DeploymentModel], since: datetime, pin: Pin
) -> MovementsRead:
    """`check --movements`: the replay's per-transaction changes after `since`, up to the
    read (its slot; with `check --at`, its instant). Per successful transaction and
    deployment: the mint's supply change is a mint (+) or a burn (-); the change of the
    excluded accounts' sum, negated, a transfer (a mint into an excluded account is a mint
    and a transfer that cancel, as in the circulating supply)."""
    deps = [d for d in deployments if isinstance(d, SolanaDeployment)]
    if not deps:
        return MovementsRead(reader.name)
    errors: list[str] = []
    check_genesis = len(reader.endpoints) == 1
    for ep in reader.endpoints:
        try:
            got = await _Replay(reader, ep, deps, since).collect(check_genesis)
        except RpcError as exc:
            errors.append(
                exc.message if exc.message.startswith(ep.shown) else f"{ep.shown}: {exc.message}"
            )
            continue
        return _movements(reader.name, deps, got, pin)
    text = "; ".join(errors) or "no endpoint"
    return MovementsRead(reader.name, errors={d.key: text for d in deps})


def _movements(chain: str, deps: list[SolanaDeployment], got: Collected, pin: Pin) -> MovementsRead:
    until = None if pin.at is None else math.floor(pin.at.timestamp())
    out: dict[str, tuple[Movement, ...]] = {}
    errors: dict[str, str] = {}
    for d in deps:
        accounts = got.tracked[d.key]
        owners = set(d.exclude_owners)
        # oldest first: by slot, then as the lists (newest first) order a slot's
        # transactions, the mint's list first (it has every mint and burn)
        entries: dict[str, tuple[int, int, dict[str, Any]]] = {}
        for a in [d.mint, *accounts]:
            for i, e in enumerate(got.histories[a].after):
                entries.setdefault(e["signature"], (e["slot"], -i, e))
        found: list[Movement] = []
        for sig, (_slot, _i, e) in sorted(entries.items(), key=lambda se: se[1][:2]):
            if (e["slot"] > pin.number) if until is None else (e["blockTime"] > until):
                continue  # after the read
            ch = got.changes.get(sig)
            if ch is None:
                continue  # failed: changed nothing
            moved = [
                (mint, owner, account)
                for mint, owner, account in ch.holders
                if mint == d.mint and owner in owners and account not in accounts
            ]
            if moved:
                errors[d.key] = (
                    f"excluded owner {moved[0][1]} held token account {moved[0][2]} after the "
                    "custody as-of, which it no longer holds: its transfers are unknown"
                )
                break
            when = from_unix(e["blockTime"])
            supply_delta = ch.supply.get(d.mint, 0)
            excluded_delta = sum(ch.accounts.get(a, 0) for a in accounts)
            for kind, raw in (
                ("mint" if supply_delta > 0 else "burn", supply_delta),
                ("transfer", -excluded_delta),
            ):
                if raw:
                    found.append(Movement(chain, d.key, when, sig, kind, raw, e["slot"]))
        if d.key not in errors:
            out[d.key] = tuple(found)
    return MovementsRead(chain, movements=out, errors=errors)


class _Replay:
    def __init__(
        self, reader: SolanaReader, ep: Endpoint, deps: list[SolanaDeployment], when: datetime
    ) -> None:
        self.reader = reader
        self.ep = ep
        self.deps = deps
        self.when = when
        #: the instant in the chain clock's whole seconds: a block at `t` is not after it
        self.t = math.floor(when.timestamp())
        commitment = reader.chain.commitment
        #: history methods refuse `processed`
        self.commitment = "confirmed" if commitment == "processed" else commitment
        self.fetched: dict[str, asyncio.Future[TxChange]] = {}
        self.failed_skipped: set[str] = set()
        self.fetch_slots = asyncio.Semaphore(max(1, reader.chain.max_concurrency - 1))

    # -- steps ---------------------------------------------------------------------------

    async def run(self, check_genesis: bool) -> ChainRead:
        try:
            return await self._run(check_genesis)
        finally:  # a failed read leaves no request behind
            for future in self.fetched.values():
                future.cancel()

    async def collect(self, check_genesis: bool) -> Collected:
        """The current state, and every transaction after the instant up to it (the
        histories listed, the successful transactions fetched, the pin)."""
        try:
            return await self._collect(check_genesis)
        finally:  # a failed read leaves no request behind
            for future in self.fetched.values():
                future.cancel()

    async def _collect(self, check_genesis: bool) -> Collected:
        reader, ep = self.reader, self.ep
        # the mints' and listed accounts' histories are paged while the current state is read;
        # the excluded owners' accounts, known from that state, join the next round
        self.histories = {
            a: AddressHistory(a)
            for a in dict.fromkeys(
                [d.mint for d in self.deps] + [a for d in self.deps for a in d.exclude_accounts]
            )
        }
        self.all_listed = asyncio.Event()
        listing = asyncio.ensure_future(self._list())
        try:
            snap = await reader._snapshot(ep, self.deps, 0, check_genesis)
        except BaseException:
            listing.cancel()
            raise
        tracked = {d.key: _tracked_accounts(d, snap) for d in self.deps}
        for accounts in tracked.values():
            for account in accounts:
                self.histories.setdefault(account, AddressHistory(account))
        self.all_listed.set()
        histories = await listing
        # a newest slot dated before the instant: the current state is the state at the
        # instant (nothing happened since), unless the node is stuck -- held to max_head_age
        # as a read at the head is (a quiet local node makes no slots while idle)
        behind = self.t - snap.unix_timestamp
        if behind > reader.chain.max_head_age.total_seconds():
            raise RpcError(
                f"{ep.shown}: its newest slot {snap.slot} ({iso(from_unix(snap.unix_timestamp))}) "
                f"is before the instant {iso(self.when)} by more than max_head_age "
                f"{setting(reader.chain.max_head_age)}: the node is stuck or syncing"
            )
        results = await asyncio.gather(*self.fetched.values(), return_exceptions=True)
        fetched: dict[str, TxChange] = {}
        for sig, r in zip(self.fetched, results, strict=True):
            if isinstance(r, BaseException):
                raise r
            fetched[sig] = r
        for h in histories.values():  # newer than the state read: not in it
            h.after = [e for e in h.after if e["slot"] <= snap.slot]
        listed = {e["signature"] for h in histories.values() for e in h.after}
        changes = {sig: ch for sig, ch in fetched.items() if sig in listed}
        failed_skipped = self.failed_skipped & listed
        pin_slot, pin_time = await self._reach(histories)
        return Collected(snap, tracked, histories, changes, failed_skipped, pin_slot, pin_time)

    async def _run(self, check_genesis: bool) -> ChainRead:
        reader, ep = self.reader, self.ep
        got = await self._collect(check_genesis)
        snap, tracked, histories, changes = got.snap, got.tracked, got.histories, got.changes
        failed_skipped, pin_slot, pin_time = got.failed_skipped, got.pin_slot, got.pin_time
        now = {
            d.key: guarded(
                reader.name,
                d.mint,
                partial(supply, reader.name, d, snap.accounts, snap.owned, snap.unix_timestamp),
            )
            for d in self.deps
        }
        supplies: dict[str, DeploymentSupply] = {}
        for d in self.deps:
            current = now[d.key]
            if current.error is not None:
                supplies[d.key] = current
                continue
            supplies[d.key] = await self._at(d, current, snap, tracked[d.key], histories, changes)
        how = (
            f"slot {snap.slot} ({iso(from_unix(snap.unix_timestamp))}) minus the "
            f"{len(changes)} transactions after the instant"
        )
        if failed_skipped:
            how += f" ({len(failed_skipped)} failed ones skipped)"
        return ChainRead(
            chain=reader.name,
            pin=Pin(
                reader.name,
                "solana",
                pin_slot,
                from_unix(pin_time),
                ep.shown,
                at=self.when,
                how=how,
                replayed=len(changes),
            ),
            supplies=supplies,
            requests=ep.stats.http_requests,
            retries=reader._retries(),
        )

    async def _list(self) -> dict[str, AddressHistory]:
        """Page every address back to the instant, one batch per round; each page's
        transactions are fetched while the next page is listed."""
        histories = self.histories
        while True:
            todo = [h for h in histories.values() if not h.done]
            if not todo:
                if self.all_listed.is_set() and all(h.done for h in histories.values()):
                    return histories
                await self.all_listed.wait()
                continue
            calls = [
                Call("getSignaturesForAddress", [h.address, self._page(h.cursor)]) for h in todo
            ]
            replies = await self.ep.batch(calls)
            for h, reply in zip(todo, replies, strict=True):
                self._fetch(self._take(h, reply))

    def _page(self, cursor: str | None) -> dict[str, Any]:
        config: dict[str, Any] = {"limit": PAGE, "commitment": self.commitment}
        if cursor is not None:
            config["before"] = cursor
        return config

    def _take(self, h: AddressHistory, reply: Any) -> list[str]:
        """Read one page into `h`; return the signatures of the successful transactions after
        the instant that it lists."""
        if isinstance(reply, RpcError):
            raise reply
        if not isinstance(reply, list):
            raise RpcError(f"{self.ep.shown}: getSignaturesForAddress did not return a list")
        new: list[str] = []
        for entry in reply:
            sig, slot, block_time = _signature_entry(self.ep, entry)
            if block_time <= self.t:
                h.boundary = (slot, block_time)
                break
            h.after.append(entry)
            if entry.get("err") is not None:
                self.failed_skipped.add(sig)
            else:
                new.append(sig)
        if h.boundary is None:
            if len(reply) < PAGE:
                h.exhausted = True
            else:
                h.cursor = _signature_entry(self.ep, reply[-1])[0]
        return new

    def _fetch(self, signatures: list[str]) -> None:
        """Start fetching these transactions, one JSON-RPC batch of `batch_size` at a time,
        leaving one of the endpoint's concurrent requests to the signature pages (which are
        the critical path: each page needs the one before)."""
        todo = [s for s in signatures if s not in self.fetched]
        size = max(1, self.ep.batch_size)
        for start in range(0, len(todo), size):
            part = todo[start : start + size]
            batch = asyncio.ensure_future(self._get_transactions(part))
            for i, sig in enumerate(part):
                self.fetched[sig] = asyncio.ensure_future(_pick(batch, i))

    async def _get_transactions(self, signatures: list[str]) -> list[TxChange]:
        async with self.fetch_slots:
            txs = await self._get_transactions_now(signatures)
        return [_changes(sig, tx) for sig, tx in zip(signatures, txs, strict=True)]

    async def _get_transactions_now(self, signatures: list[str]) -> list[dict[str, Any]]:
        config = {
            "encoding": "json",
            "maxSupportedTransactionVersion": 0,
            "commitment": self.commitment,
        }
        replies = await self.ep.batch([Call("getTransaction", [s, config]) for s in signatures])
        out: list[dict[str, Any]] = []
        for sig, reply in zip(signatures, replies, strict=True):
            if isinstance(reply, RpcError):
                raise reply
            if reply is None:
                raise HistoryTooShort(f"{self.ep.shown}: transaction {sig} is not available")
            if not isinstance(reply, dict) or not isinstance(reply.get("meta"), dict):
                raise RpcError(f"{self.ep.shown}: transaction {sig} has no meta")
            out.append(reply)
        return out

    async def _reach(self, histories: dict[str, AddressHistory]) -> tuple[int, int]:
        """The pin (slot, block time); raises HistoryTooShort when a list ended after the
        instant and the node's first block is after it too."""
        bounds = [h.boundary for h in histories.values() if h.boundary is not None]
        if all(h.boundary is not None for h in histories.values()) and bounds:
            return max(bounds)
        first = await self.ep.call("getFirstAvailableBlock", [])
        if not isinstance(first, int):
            raise RpcError(f"{self.ep.shown}: getFirstAvailableBlock returned {first!r}")
        try:
            first_time = await self.ep.call("getBlockTime", [first])
        except RpcError as exc:
            raise HistoryTooShort(
                f"{self.ep.shown}: the node's history starts at slot {first}, whose time it "
                f"cannot give ({exc.message}); it cannot show what changed after "
                f"{iso(self.when)}"
            ) from None
        if not isinstance(first_time, int) or first_time > self.t:
            shown = iso(from_unix(first_time)) if isinstance(first_time, int) else "unknown"
            raise HistoryTooShort(
                f"{self.ep.shown}: the node's history starts at slot {first} ({shown}), after "
                f"the instant {iso(self.when)}: it cannot replay back to it"
            )
        return max([*bounds, (first, first_time)])

    async def _at(
        self,
        d: SolanaDeployment,
        current: DeploymentSupply,
        snap: Snapshot,
        accounts: list[str],
        histories: dict[str, AddressHistory],
        changes: dict[str, TxChange],
    ) -> DeploymentSupply:
        chain = self.reader.name

        def err(message: str) -> DeploymentSupply:
            return DeploymentSupply(chain, d.mint, error=message)

        mint_history = histories[d.mint]
        if mint_history.boundary is None:
            return err(f"mint {d.mint} did not exist at {iso(self.when)}")
        sigs = {e["signature"] for a in [d.mint, *accounts] for e in histories[a].after}
        supply_delta = 0
        excluded_delta = 0
        tracked = set(accounts)
        owners = set(d.exclude_owners)
        events: list[MultiplierEvent] = []
        for e in mint_history.after:  # newest first
            ch = changes.get(e["signature"])
            if ch is not None:
                events.extend(ev for ev in reversed(ch.events) if ev.mint == d.mint)
        for sig in sigs:
            ch = changes.get(sig)
            if ch is None:
                continue
            supply_delta += ch.supply.get(d.mint, 0)
            excluded_delta += sum(ch.accounts.get(a, 0) for a in accounts)
            for mint, owner, account in ch.holders:
                if mint == d.mint and owner in owners and account not in tracked:
                    return err(
                        f"excluded owner {owner} held token account {account} after the "
                        "instant, which it no longer holds: its balance at the instant is "
                        "unknown"
                    )
        decimals = current.decimals
        assert decimals is not None and current.total_supply is not None
        assert current.excluded is not None
        total = amounts.sub(current.total_supply, amounts.scale(supply_delta, decimals))
        excluded = amounts.sub(current.excluded, amounts.scale(excluded_delta, decimals))
        if total < 0 or excluded < 0 or excluded > total:
            return err(
                f"the replay does not add up: supply {total}, excluded {excluded} at "
                f"{iso(self.when)} (is the node's history complete?)"
            )
        multiplier = Decimal(1)
        schedule: Schedule | None = None
        if current.multiplier_applied:
            try:
                multiplier, schedule = await self._multiplier_at(d, snap, events, mint_history)
            except HistoryTooShort as exc:
                return err(exc.message)
        return DeploymentSupply(
            chain=chain,
            address=d.mint,
            decimals=decimals,
            total_supply=total,
            excluded=excluded,
            multiplier=multiplier,
            multiplier_applied=current.multiplier_applied,
            has_multiplier=current.has_multiplier,
            circulating=amounts.mul(amounts.sub(total, excluded), multiplier),
            messages=current.messages,
            details={**current.details, "replayed": str(len(sigs & changes.keys()))},
            schedule=schedule,
        )

    async def _multiplier_at(
        self,
        d: SolanaDeployment,
        snap: Snapshot,
        after: list[MultiplierEvent],
        mint_history: AddressHistory,
    ) -> tuple[Decimal, Schedule | None]:
        """The ScaledUiAmount multiplier in force at the instant, and a change then pending.

        Token-2022's UpdateMultiplier(m, ts) at clock time τ sets new_multiplier = m and its
        timestamp = ts, and multiplier = m when ts ≤ τ (having first promoted a due
        new_multiplier). So with no update after the instant, its state then is today's; with
        one, the state then is what the last update at or before the instant (or Initialize)
        left: that update's m when the instant is at or past its ts, else what was in force
        at its own τ, found the same way further back."""
        acc = snap.accounts.get(d.mint)
        assert acc is not None
        scaled = parse_mint(acc.owner, acc.data).scaled_ui_amount
        assert scaled is not None
        if not after:
            schedule = None
            ts = scaled.new_multiplier_effective_timestamp
            if ts > self.t and scaled.new_multiplier != scaled.multiplier:
                schedule = Schedule(scaled.multiplier, scaled.new_multiplier, from_unix(ts))
            return scaled.effective(self.t), schedule
        time = self.t
        pending: tuple[Decimal, int] | None = None
        async for ev in self._older_events(d.mint, mint_history):
            if ev.effective_timestamp is None:  # Initialize
                return ev.multiplier, _schedule(ev.multiplier, pending)
            if time >= max(ev.effective_timestamp, 0):
                return ev.multiplier, _schedule(ev.multiplier, pending)
            if pending is None:
                pending = (ev.multiplier, ev.effective_timestamp)
            time = ev.block_time
        raise HistoryTooShort(
            f"the multiplier at {iso(self.when)} is unknown: the node's history of mint "
            f"{d.mint} ends before its last multiplier change before then"
        )

    async def _older_events(self, mint: str, h: AddressHistory) -> AsyncIterator[MultiplierEvent]:
        """The mint's multiplier events at or before the instant, newest first: its
        transactions are listed and fetched a page at a time, from after the instant down."""
        cursor = h.after[-1]["signature"] if h.after else None
        config = {
            "encoding": "json",
            "maxSupportedTransactionVersion": 0,
            "commitment": self.commitment,
        }
        while True:
            page = await self.ep.call("getSignaturesForAddress", [mint, self._page(cursor)])
            if not isinstance(page, list):
                raise RpcError(f"{self.ep.shown}: getSignaturesForAddress did not return a list")
            ok = [e for e in page if isinstance(e, dict) and e.get("err") is None]
            ok = [e for e in ok if _signature_entry(self.ep, e)[2] <= self.t]
            replies = await self.ep.batch(
                [Call("getTransaction", [e["signature"], config]) for e in ok]
            )
            for e, tx in zip(ok, replies, strict=True):
                if isinstance(tx, RpcError):
                    raise tx
                if not isinstance(tx, dict):
                    raise HistoryTooShort(
                        f"{self.ep.shown}: transaction {e['signature']} is not available"
                    )
                for ev in reversed(_changes(e["signature"], tx).events):
                    if ev.mint == mint:
                        yield ev
            if len(page) < PAGE:
                return
            cursor = _signature_entry(self.ep, page[-1])[0]


async def _pick(batch: asyncio.Future[list[TxChange]], i: int) -> TxChange:
    return (await batch)[i]


def _schedule(current: Decimal, pending: tuple[Decimal, int] | None) -> Schedule | None:
    if pending is None or pending[0] == current:
        return None
    return Schedule(current, pending[0], from_unix(pending[1]))


def _tracked_accounts(d: SolanaDeployment, snap: Snapshot) -> list[str]:
    """The token accounts whose balances are excluded: the listed ones (existing or not: one
    closed since may have held tokens then) and the excluded owners' accounts of this mint."""
    out = list(d.exclude_accounts)
    acc = snap.accounts.get(d.mint)
    program = acc.owner if acc is not None else None
    mint_raw = pubkey_raw(d.mint)
    for owner in d.exclude_owners:
        for key, (prog, _amount) in snap.owned.get((owner, mint_raw), {}).items():
            if prog == program and key not in out:
                out.append(key)
    return out


def _signature_entry(ep: Endpoint, entry: Any) -> tuple[str, int, int]:
    if not isinstance(entry, dict):
        raise RpcError(f"{ep.shown}: malformed getSignaturesForAddress entry")
    sig, slot, block_time = entry.get("signature"), entry.get("slot"), entry.get("blockTime")
    if not isinstance(sig, str) or not isinstance(slot, int):
        raise RpcError(f"{ep.shown}: malformed getSignaturesForAddress entry")
    if not isinstance(block_time, int):
        raise RpcError(f"{ep.shown}: transaction {sig} (slot {slot}) has no blockTime")
    return sig, slot, block_time


# --- one transaction ----------------------------------------------------------------------------


def _changes(sig: str, tx: dict[str, Any]) -> TxChange:
    """What a fetched transaction changed (nothing when it failed)."""
    out = TxChange()
    meta = tx.get("meta")
    if not isinstance(meta, dict):
        raise RpcError(f"transaction {sig} has no meta")
    if meta.get("err") is not None:
        return out
    try:
        message = tx["transaction"]["message"]
        keys = list(message["accountKeys"])
        loaded = meta.get("loadedAddresses") or {}
        keys += list(loaded.get("writable") or []) + list(loaded.get("readonly") or [])
        for sign, name in ((-1, "preTokenBalances"), (1, "postTokenBalances")):
            for b in meta.get(name) or []:
                mint = b["mint"]
                account = keys[b["accountIndex"]]
                amount = int(b["uiTokenAmount"]["amount"])
                out.supply[mint] = out.supply.get(mint, 0) + sign * amount
                out.accounts[account] = out.accounts.get(account, 0) + sign * amount
                out.holders.add((mint, str(b.get("owner")), account))
        block_time = tx.get("blockTime")
        inner = {g["index"]: g["instructions"] for g in meta.get("innerInstructions") or []}
        for i, ix in enumerate(message["instructions"]):
            for each in [ix, *inner.get(i, [])]:
                ev = _multiplier_event(keys, each, block_time)
                if ev is not None:
                    out.events.append(ev)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise RpcError(
            f"transaction {sig}: malformed reply ({type(exc).__name__}: {exc})"
        ) from None
    return out


def _multiplier_event(
    keys: list[str], ix: dict[str, Any], block_time: Any
) -> MultiplierEvent | None:
    """A Token-2022 ScaledUiAmount Initialize (43, 0, authority[32], f64) or UpdateMultiplier
    (43, 1, f64 multiplier, i64 effective timestamp; `UpdateMultiplierInstructionData`)."""
    if keys[ix["programIdIndex"]] != TOKEN_2022:
        return None
    data = _b58decode(ix["data"])
    if len(data) < 2 or data[0] != IX_SCALED_UI_AMOUNT or not ix["accounts"]:
        return None
    mint = keys[ix["accounts"][0]]
    if not isinstance(block_time, int):
        raise ValueError("a multiplier change without a blockTime")
    try:
        if data[1] == SCALED_UPDATE_MULTIPLIER and len(data) == 18:
            (ts,) = struct.unpack_from("<q", data, 10)
            return MultiplierEvent(mint, amounts.f64_from_le_bytes(data[2:10]), ts, block_time)
        if data[1] == SCALED_INITIALIZE and len(data) == 42:
            return MultiplierEvent(mint, amounts.f64_from_le_bytes(data[34:42]), None, block_time)
    except (ValueError, LayoutError):
        return None
    return None


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def _b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        n = n * 58 + _B58_INDEX[c]
    pad = len(text) - len(text.lstrip("1"))
    return b"\0" * pad + (n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b"")


__all__ = ["HistoryTooShort", "movements", "read_at"]
