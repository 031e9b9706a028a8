"""Solana reader: SPL Token and Token-2022 mints over JSON-RPC, parsed locally.

One round trip per endpoint: a single JSON-RPC batch (split by the transport into
concurrent HTTP requests when it is larger than the node accepts) holds

- `getGenesisHash`, checked when the registry gives one (first attempt only);
- `getTokenAccountsByOwner` once per distinct excluded owner and token program, whose
  replies carry the owners' token accounts with their data;
- `getMultipleAccounts` (base64, at most 100 keys a call) over the Clock sysvar, every mint
  and every explicitly excluded token account.

Every reply carries `context.slot`; they must all be equal, or the whole batch is asked
again with `minContextSlot` set to the newest slot seen (a few times, then the chain is an
error). So every amount, and the clock, come from one slot.
The ScaledUiAmount multiplier in force is chosen by the Clock sysvar of the same slot.
"""

from __future__ import annotations

import asyncio
import contextlib
from binascii import a2b_base64
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from ...errors import RpcError
from ...rpc import Call, Endpoint
from ...timefmt import from_unix
from .. import JsonRpcReader, failed, guarded
from ..consensus import Probe, freshness, merge, select
from ..interface import (
    ChainRead,
    DeploymentModel,
    EndpointFailed,
    MovementsRead,
    Note,
    Pin,
)
from ..spl_layout import (
    CLOCK_SYSVAR,
    SPL_TOKEN,
    TOKEN_2022,
    LayoutError,
    Mint,
    parse_clock,
    parse_mint,
    parse_token_account,
)
from .models import SolanaChain, SolanaDeployment
from .supply import Account, Owned, pubkey_raw, supply

MAX_KEYS_PER_CALL = 100
SNAPSHOT_ATTEMPTS = 4
#: "Minimum context slot has not been reached"
MIN_SLOT_NOT_REACHED = -32016
SLOT_WAIT_S = 0.4


@dataclass(frozen=True)
class Snapshot:
    """The accounts a read needs, all at one slot, and that slot's clock."""

    slot: int
    unix_timestamp: int
    accounts: dict[str, Account | None]
    owned: Owned
    #: the accounts that parse as mints, parsed while the batch's other parts were on their
    #: way (`supply` parses the rest)
    mints: dict[str, Mint] = field(default_factory=dict)


def _account(value: Any) -> Account | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RpcError("malformed account in reply")
    data = value.get("data")
    if not (type(data) is list and len(data) == 2 and data[1] == "base64"):
        raise RpcError("account data is not base64-encoded as requested")
    try:
        raw = a2b_base64(data[0], strict_mode=True)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        raise RpcError("account data is not valid base64") from None
    return Account(str(value.get("owner")), raw)


def _context_slot(result: Any) -> int:
    try:
        slot = result["context"]["slot"]
    except (TypeError, KeyError):
        raise RpcError("reply has no context.slot") from None
    if not isinstance(slot, int):
        raise RpcError("context.slot is not an integer")
    return slot


class SolanaReader(JsonRpcReader):
    unit = "slot"

    chain: SolanaChain

    async def read(
        self, deployments: Sequence[DeploymentModel], at: int | None = None
    ) -> ChainRead:
        sol = [d for d in deployments if isinstance(d, SolanaDeployment)]
        eps = self.endpoints
        notes: list[Note] = []
        if len(eps) == 1:
            usable = [(eps[0], at or 0)]
        else:  # probe every endpoint at once: cluster identity and slot (for the lag check)
            probes = list(await asyncio.gather(*(self._probe(ep) for ep in eps)))
            kept, notes = select(probes, self.chain.max_lag, self.unit)
            usable = [(p.state, at or 0) for p in kept if p.state is not None]
        check_genesis = len(eps) == 1
        if self.chain.quorum > 1:
            return await self._quorum(sol, [ep for ep, _ in usable], notes, at)
        errors: list[Note] = []
        for ep, min_slot in usable:
            try:
                read = await self._read(ep, sol, min_slot, check_genesis)
            except RpcError as exc:
                errors.append(EndpointFailed(_named(ep, exc)))
                continue
            problem = freshness(read, self.clock, pinned=at is not None)
            if problem:
                errors.append(problem)
                continue
            return replace(read, notes=(*notes, *errors, *read.notes), retries=self._retries())
        return failed(self.name, sol, *notes, *errors)

    async def _probe(self, ep: Endpoint) -> Probe[Endpoint]:
        calls = [Call("getSlot", [{"commitment": self.chain.commitment}])]
        if self.chain.genesis_hash:
            calls.append(Call("getGenesisHash"))
        try:
            replies = await ep.batch(calls)
            if self.chain.genesis_hash:
                self._check_genesis(ep, replies[1])
            slot = replies[0]
            if isinstance(slot, RpcError):
                raise slot
            if not isinstance(slot, int):
                raise RpcError(f"{ep.shown}: getSlot returned {slot!r}")
        except RpcError as exc:
            return Probe(ep.shown, None, error=exc.message)
        return Probe(ep.shown, slot, state=ep)

    async def _quorum(
        self,
        deps: Sequence[SolanaDeployment],
        usable: list[Endpoint],
        notes: list[Note],
        at: int | None,
    ) -> ChainRead:
        """Read from `quorum` endpoints at one slot; they must agree on every value.

        Solana nodes serve only their current state, so the reads are aligned by asking the
        ones behind again with `minContextSlot` set to the newest slot seen."""
        need = self.chain.quorum
        reads: dict[int, ChainRead] = {}
        errors: list[Note] = []
        candidates = list(usable)
        chosen: list[Endpoint] = []
        target = at or 0
        for _round in range(SNAPSHOT_ATTEMPTS):
            while len(chosen) < need and candidates:
                chosen.append(candidates.pop(0))

            def behind(ep: Endpoint, target: int = target) -> bool:
                r = reads.get(id(ep))
                return r is None or r.pin is None or r.pin.number < target

            todo = [ep for ep in chosen if behind(ep)]
            results = await asyncio.gather(
                *(self._read(ep, deps, target, False) for ep in todo), return_exceptions=True
            )
            for ep, r in zip(todo, results, strict=True):
                if isinstance(r, ChainRead):
                    problem = freshness(r, self.clock, pinned=at is not None)
                    if problem is None:
                        reads[id(ep)] = r
                        continue
                    errors.append(problem)
                elif isinstance(r, RpcError):
                    errors.append(EndpointFailed(r.message))
                else:
                    raise r
                chosen.remove(ep)
                reads.pop(id(ep), None)
            slots = {r.pin.number for r in reads.values() if r.pin}
            if len(reads) >= need and len(slots) == 1:
                break
            if slots:
                target = max(slots)
        if len(reads) < need:
            return failed(
                self.name, deps, f"quorum of {need} endpoints not reached", *notes, *errors
            )
        merged = merge([reads[id(ep)] for ep in chosen])
        return replace(merged, notes=(*notes, *merged.notes), retries=self._retries())

    def _config(self, **extra: Any) -> dict[str, Any]:
        return {"encoding": "base64", "commitment": self.chain.commitment, **extra}

    async def read_at(self, deployments: Sequence[DeploymentModel], when: datetime) -> ChainRead:
        """The supply as of `when`: the current state minus every transaction after it
        (`replay.py`)."""
        from .replay import read_at

        return await read_at(self, deployments, when)

    async def movements(
        self, deployments: Sequence[DeploymentModel], since: datetime, pin: Pin
    ) -> MovementsRead:
        """`check --movements`: the transactions after `since` that changed a supply or an
        excluded balance, from the replay of `check --at` (`replay.py`)."""
        from .replay import movements

        return await movements(self, deployments, since, pin)

    async def _read(
        self, ep: Endpoint, deps: Sequence[SolanaDeployment], min_slot: int, check_genesis: bool
    ) -> ChainRead:
        snap = await self._snapshot(ep, deps, min_slot, check_genesis)
        supplies = {
            d.key: guarded(
                self.name,
                d.mint,
                partial(
                    supply,
                    self.name,
                    d,
                    snap.accounts,
                    snap.owned,
                    snap.unix_timestamp,
                    snap.mints,
                ),
            )
            for d in deps
        }
        return ChainRead(
            chain=self.name,
            pin=Pin(self.name, "solana", snap.slot, from_unix(snap.unix_timestamp), ep.shown),
            supplies=supplies,
            requests=ep.stats.http_requests,
        )

    async def _snapshot(
        self, ep: Endpoint, deps: Sequence[SolanaDeployment], min_slot: int, check_genesis: bool
    ) -> Snapshot:
        """Every mint, excluded account and excluded owner's token accounts, and the Clock,
        read at one slot."""
        self.watch.using(ep)
        owners = sorted({o for d in deps for o in d.exclude_owners})
        owner_calls = [(o, program) for o in owners for program in (SPL_TOKEN, TOKEN_2022)]
        keys = list(
            dict.fromkeys(
                [CLOCK_SYSVAR, *(d.mint for d in deps)]
                + [a for d in deps for a in d.exclude_accounts]
            )
        )
        chunks = [keys[i : i + MAX_KEYS_PER_CALL] for i in range(0, len(keys), MAX_KEYS_PER_CALL)]
        check_genesis = check_genesis and bool(self.chain.genesis_hash)
        slots: set[int] = set()
        for _attempt in range(SNAPSHOT_ATTEMPTS):
            config = self._config(**({"minContextSlot": min_slot} if min_slot else {}))
            calls = [Call("getGenesisHash")] if check_genesis else []
            calls += [
                Call("getTokenAccountsByOwner", [o, {"programId": program}, config])
                for o, program in owner_calls
            ]
            calls += [Call("getMultipleAccounts", [chunk, config]) for chunk in chunks]
            first = len(calls) - len(chunks)
            early: dict[int, list[Account | None]] = {}
            mints: dict[str, Mint] = {}

            def parse_early(
                i: int, reply: Any, first: int = first, early: Any = early, mints: Any = mints
            ) -> None:
                """Decode a part's accounts, and parse its mints, as it arrives, while the
                other parts are on their way; anything amiss is left to the checks below and
                to `supply`, which say what it is."""
                early.pop(i, None)
                if i < first or isinstance(reply, RpcError):
                    return
                try:
                    values = reply["value"]
                    keys = chunks[i - first]
                    if type(values) is list and len(values) == len(keys):
                        early[i] = parsed = [_account(v) for v in values]
                        for key, acc in zip(keys, parsed, strict=True):
                            if acc is not None:
                                with contextlib.suppress(LayoutError):
                                    mints[key] = mint = parse_mint(acc.owner, acc.data)
                                    mint.scaled_ui_amount  # noqa: B018 -- parse it now too
                except (RpcError, TypeError, KeyError):
                    pass

            replies = await ep.batch(calls, parse_early)
            if check_genesis:
                self._check_genesis(ep, replies.pop(0))
                check_genesis = False
            behind = [
                r for r in replies if isinstance(r, RpcError) and r.code == MIN_SLOT_NOT_REACHED
            ]
            if behind:  # a node behind the slot we asked for: give it a moment
                await asyncio.sleep(SLOT_WAIT_S)
                continue
            for r in replies:
                if isinstance(r, RpcError):
                    raise r
            slots = {_context_slot(r) for r in replies}
            if len(slots) == 1:
                break
            min_slot = max(slots)  # the node moved on mid-batch: ask again from there
        else:
            raise RpcError(
                f"{ep.shown}: could not read every account at one slot (got slots "
                f"{sorted(slots)} in {SNAPSHOT_ATTEMPTS} attempts)"
            )
        slot = slots.pop()
        self.watch.pinned(slot, ep)
        # the excluded owners' accounts, indexed by (owner, mint): parsed once, looked up per
        # deployment (an issuer treasury may hold every one of a thousand mints)
        owned: Owned = {}
        for (owner, _program), reply in zip(owner_calls, replies, strict=False):
            owner_raw = pubkey_raw(owner)
            for item in reply.get("value") or []:
                if not isinstance(item, dict):
                    raise RpcError(f"{ep.shown}: malformed getTokenAccountsByOwner reply")
                acc = _account(item.get("account"))
                if acc is None:
                    continue
                try:
                    ta = parse_token_account(acc.owner, acc.data)
                except LayoutError:
                    continue
                if ta.owner == owner_raw:
                    by_mint = owned.setdefault((owner, ta.mint), {})
                    by_mint[str(item.get("pubkey"))] = (acc.owner, ta.amount)
        accounts: dict[str, Account | None] = {}
        for n, (chunk, reply) in enumerate(zip(chunks, replies[len(owner_calls) :], strict=True)):
            parsed = early.get(first + n)
            if parsed is not None:
                accounts.update(zip(chunk, parsed, strict=True))
                continue
            values = reply.get("value")
            if not isinstance(values, list) or len(values) != len(chunk):
                raise RpcError(f"{ep.shown}: getMultipleAccounts returned the wrong count")
            for key, value in zip(chunk, values, strict=True):
                accounts[key] = _account(value)

        clock_acc = accounts.get(CLOCK_SYSVAR)
        if clock_acc is None:
            raise RpcError(f"{ep.shown}: the Clock sysvar is missing from the reply")
        try:
            clock = parse_clock(clock_acc.data)
        except LayoutError as exc:
            raise RpcError(f"{ep.shown}: {exc}") from None
        return Snapshot(slot, clock.unix_timestamp, accounts, owned, mints)

    def _check_genesis(self, ep: Endpoint, genesis: Any) -> None:
        if isinstance(genesis, RpcError):
            raise genesis
        if genesis != self.chain.genesis_hash:
            raise RpcError(
                f"{ep.shown}: genesis hash is {genesis}, the registry says "
                f"{self.chain.genesis_hash} (wrong cluster?)"
            )


def _named(ep: Endpoint, exc: RpcError) -> str:
    """The error text, naming the (redacted) endpoint once."""
    return exc.message if exc.message.startswith(ep.shown) else f"{ep.shown}: {exc.message}"
