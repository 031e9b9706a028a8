"""Solana reader: SPL Token and Token-2022 mints over JSON-RPC, parsed locally.

Two round trips per endpoint, each one JSON-RPC batch:

1. `getGenesisHash` (checked when the registry gives one) and `getTokenAccountsByOwner`
   once per distinct excluded owner and token program, to find the owners' accounts.
2. `getMultipleAccounts` (base64, at most 100 keys a call) over every mint, every excluded
   token account and the Clock sysvar. All amounts come from this one snapshot: every reply
   must carry the same `context.slot` (else the snapshot is retried, with `minContextSlot`),
   and each discovered account's owner and mint are re-checked at that slot.

The ScaledUiAmount multiplier in force is chosen by the Clock sysvar of the same slot.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from .. import amounts
from ..errors import RpcError
from ..registry import Deployment, SolanaChain, SolanaDeployment
from ..rpc import Call, Endpoint
from . import ChainRead, DeploymentSupply, Pin, failed
from .spl_layout import (
    CLOCK_SYSVAR,
    EXT_CONFIDENTIAL_MINT_BURN,
    EXT_INTEREST_BEARING,
    SPL_TOKEN,
    TOKEN_2022,
    LayoutError,
    parse_clock,
    parse_mint,
    parse_token_account,
)

MAX_KEYS_PER_CALL = 100
SNAPSHOT_ATTEMPTS = 3


def _b58(raw: bytes) -> str:
    from solders.pubkey import Pubkey

    return str(Pubkey.from_bytes(raw))


@dataclass(frozen=True)
class _Account:
    owner: str
    data: bytes


def _account(value: Any) -> _Account | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RpcError("malformed account in reply")
    data = value.get("data")
    if not (isinstance(data, list) and len(data) == 2 and data[1] == "base64"):
        raise RpcError("account data is not base64-encoded as requested")
    try:
        raw = base64.b64decode(data[0], validate=True)
    except (ValueError, TypeError):
        raise RpcError("account data is not valid base64") from None
    return _Account(owner=str(value.get("owner")), data=raw)


def _context_slot(result: Any) -> int:
    try:
        slot = result["context"]["slot"]
    except (TypeError, KeyError):
        raise RpcError("reply has no context.slot") from None
    if not isinstance(slot, int):
        raise RpcError("context.slot is not an integer")
    return slot


class SolanaReader:
    def __init__(self, name: str, chain: SolanaChain, client: httpx.AsyncClient) -> None:
        self.name = name
        self.chain = chain
        self.endpoints = [
            Endpoint(
                url,
                client,
                headers=chain.headers,
                timeout=chain.timeout,
                batch_size=chain.batch_size,
                max_concurrency=chain.max_concurrency,
            )
            for url in chain.rpc
        ]

    async def read(self, deployments: Sequence[Deployment], at: int | None = None) -> ChainRead:
        sol = [d for d in deployments if isinstance(d, SolanaDeployment)]
        errors: list[str] = []
        for ep in self.endpoints:
            try:
                return await self._read(ep, sol, at)
            except RpcError as exc:
                errors.append(
                    exc.message
                    if exc.message.startswith(ep.shown)
                    else f"{ep.shown}: {exc.message}"
                )
        return failed(self.name, sol, "; ".join(errors) or "no RPC endpoint")

    def _config(self, **extra: Any) -> dict[str, Any]:
        return {"encoding": "base64", "commitment": self.chain.commitment, **extra}

    async def _read(
        self, ep: Endpoint, deps: Sequence[SolanaDeployment], at: int | None
    ) -> ChainRead:
        # Round trip 1: chain identity and the excluded owners' token accounts.
        owners = sorted({o for d in deps for o in d.exclude_owners})
        first: list[Call] = []
        if self.chain.genesis_hash:
            first.append(Call("getGenesisHash"))
        owner_calls = [(owner, program) for owner in owners for program in (SPL_TOKEN, TOKEN_2022)]
        for owner, program in owner_calls:
            first.append(
                Call("getTokenAccountsByOwner", [owner, {"programId": program}, self._config()])
            )
        owned: dict[str, set[str]] = {o: set() for o in owners}
        min_slot = at or 0
        if first:
            replies = await ep.batch(first)
            if self.chain.genesis_hash:
                genesis = replies.pop(0)
                if isinstance(genesis, RpcError):
                    raise genesis
                if genesis != self.chain.genesis_hash:
                    raise RpcError(
                        f"{ep.shown}: genesis hash is {genesis}, the registry says "
                        f"{self.chain.genesis_hash} (wrong cluster?)"
                    )
            for (owner, _program), reply in zip(owner_calls, replies, strict=True):
                if isinstance(reply, RpcError):
                    raise reply
                min_slot = max(min_slot, _context_slot(reply))
                for item in reply.get("value") or []:
                    owned[owner].add(str(item["pubkey"]))

        # Round trip 2: one snapshot of every mint, excluded account and the clock.
        keys: list[str] = [CLOCK_SYSVAR]
        for d in deps:
            keys.append(d.mint)
            keys.extend(d.exclude_accounts)
            for o in d.exclude_owners:
                keys.extend(sorted(owned[o]))
        keys = list(dict.fromkeys(keys))
        accounts, slot = await self._snapshot(ep, keys, min_slot)

        clock_acc = accounts.get(CLOCK_SYSVAR)
        if clock_acc is None:
            raise RpcError(f"{ep.shown}: the Clock sysvar is missing from the reply")
        try:
            clock = parse_clock(clock_acc.data)
        except LayoutError as exc:
            raise RpcError(f"{ep.shown}: {exc}") from None
        when = datetime.fromtimestamp(clock.unix_timestamp, UTC)
        supplies = {d.key: self._supply(d, accounts, owned, clock.unix_timestamp) for d in deps}
        return ChainRead(
            chain=self.name,
            pin=Pin(self.name, "solana", slot, when, ep.shown),
            supplies=supplies,
            requests=ep.stats.http_requests,
        )

    async def _snapshot(
        self, ep: Endpoint, keys: list[str], min_slot: int
    ) -> tuple[dict[str, _Account | None], int]:
        chunks = [keys[i : i + MAX_KEYS_PER_CALL] for i in range(0, len(keys), MAX_KEYS_PER_CALL)]
        slots: set[int] = set()
        for _attempt in range(SNAPSHOT_ATTEMPTS):
            config = self._config(**({"minContextSlot": min_slot} if min_slot else {}))
            replies = await ep.batch([Call("getMultipleAccounts", [c, config]) for c in chunks])
            slots = set()
            out: dict[str, _Account | None] = {}
            for chunk, reply in zip(chunks, replies, strict=True):
                if isinstance(reply, RpcError):
                    raise reply
                slots.add(_context_slot(reply))
                values = reply.get("value")
                if not isinstance(values, list) or len(values) != len(chunk):
                    raise RpcError(f"{ep.shown}: getMultipleAccounts returned the wrong count")
                for key, value in zip(chunk, values, strict=True):
                    out[key] = _account(value)
            if len(slots) == 1:
                return out, slots.pop()
            min_slot = max(slots)
        raise RpcError(
            f"{ep.shown}: could not read all accounts at one slot (got slots "
            f"{sorted(slots)} in {SNAPSHOT_ATTEMPTS} attempts)"
        )

    def _supply(
        self,
        d: SolanaDeployment,
        accounts: dict[str, _Account | None],
        owned: dict[str, set[str]],
        now: int,
    ) -> DeploymentSupply:
        def err(message: str) -> DeploymentSupply:
            return DeploymentSupply(self.name, d.mint, error=message)

        acc = accounts.get(d.mint)
        if acc is None:
            return err(f"mint {d.mint} not found on {self.name}")
        try:
            mint = parse_mint(acc.owner, acc.data)
        except LayoutError as exc:
            return err(f"{d.mint} is not a token mint: {exc}")
        if not mint.is_initialized:
            return err(f"mint {d.mint} is not initialized")
        if d.decimals is not None and d.decimals != mint.decimals:
            return err(
                f"decimals mismatch: the registry says {d.decimals}, the chain {mint.decimals}"
            )
        if mint.extension(EXT_CONFIDENTIAL_MINT_BURN) is not None:
            return err(
                "mint has ConfidentialMintBurn: part of its supply is encrypted, so the "
                "plaintext supply is not the whole supply"
            )
        if mint.extension(EXT_INTEREST_BEARING) is not None:
            return err("interest-bearing mints are not supported (UI amounts accrue over time)")
        program_id = TOKEN_2022 if mint.program == "token-2022" else SPL_TOKEN
        messages: list[str] = []
        multiplier = Decimal(1)
        details: dict[str, str] = {"program": mint.program}
        if mint.extensions:
            details["extensions"] = ",".join(mint.extension_names)
        try:
            scaled = mint.scaled_ui_amount
        except LayoutError as exc:
            return err(str(exc))
        if scaled is not None:
            multiplier = scaled.effective(now)
            if multiplier <= 0:
                return err(f"ScaledUiAmount multiplier {multiplier} is not positive")
            pending = scaled.new_multiplier_effective_timestamp
            if pending > now and scaled.new_multiplier != scaled.multiplier:
                at = datetime.fromtimestamp(pending, UTC).isoformat().replace("+00:00", "Z")
                messages.append(
                    f"{self.name}: multiplier change scheduled: "
                    f"{amounts.fmt_short(scaled.multiplier)} -> "
                    f"{amounts.fmt_short(scaled.new_multiplier)} at {at}"
                )

        excluded_raw = 0
        mint_bytes = None
        explicit = set(d.exclude_accounts)
        for key in d.exclude_accounts:
            a = accounts.get(key)
            if a is None:
                messages.append(
                    f"{self.name}: excluded account {key} does not exist (counted as 0)"
                )
                continue
            try:
                ta = parse_token_account(a.owner, a.data)
            except LayoutError as exc:
                return err(f"excluded account {key}: {exc}")
            if a.owner != program_id:
                return err(f"excluded account {key} belongs to another token program")
            mint_bytes = mint_bytes or _pubkey_raw(d.mint)
            if ta.mint != mint_bytes:
                return err(f"excluded account {key} holds mint {_b58(ta.mint)}, not {d.mint}")
            excluded_raw += ta.amount
        for owner in d.exclude_owners:
            owner_raw = _pubkey_raw(owner)
            mint_bytes = mint_bytes or _pubkey_raw(d.mint)
            for key in sorted(owned[owner]):
                a = accounts.get(key)
                if key in explicit or a is None or a.owner != program_id:
                    continue
                try:
                    ta = parse_token_account(a.owner, a.data)
                except LayoutError:
                    continue
                # Re-checked at the snapshot slot: the account may have moved since round 1.
                if ta.mint == mint_bytes and ta.owner == owner_raw:
                    excluded_raw += ta.amount
        if excluded_raw > mint.supply:
            return err(f"excluded balances ({excluded_raw}) exceed the supply ({mint.supply})")
        total = amounts.scale(mint.supply, mint.decimals)
        excluded = amounts.scale(excluded_raw, mint.decimals)
        return DeploymentSupply(
            chain=self.name,
            address=d.mint,
            decimals=mint.decimals,
            total_supply=total,
            excluded=excluded,
            multiplier=multiplier,
            multiplier_applied=scaled is not None,
            circulating=amounts.mul(amounts.sub(total, excluded), multiplier),
            messages=tuple(messages),
            details=details,
        )


def _pubkey_raw(key: str) -> bytes:
    from solders.pubkey import Pubkey

    return bytes(Pubkey.from_string(key))
