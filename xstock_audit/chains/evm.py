"""EVM reader: ERC-20 and Backed multiplier tokens over JSON-RPC.

Per endpoint, in order: `eth_chainId` must equal the registry's `chain_id`; the block is
pinned (head - confirmations, or the `finalized`/`safe`/`latest` tag resolved to a number);
then one batch of `eth_getCode` + `eth_call`s, all at that block: `decimals()`,
`totalSupply()`, `balanceOf(x)` per excluded holder, and the Backed multiplier views
(a plain ERC-20 reverts on them). If an endpoint fails, the whole read moves to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from .. import amounts
from ..errors import RpcError
from ..registry import Deployment, EvmChain, EvmDeployment
from ..rpc import Call, Endpoint
from . import ChainRead, DeploymentSupply, Pin, failed

WAD = 10**18


def selector(signature: str) -> str:
    from eth_utils.abi import function_signature_to_4byte_selector

    return "0x" + bytes(function_signature_to_4byte_selector(signature)).hex()


def _encode_address_arg(address: str) -> str:
    return address[2:].lower().rjust(64, "0")


def _uint(result: Any) -> int:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError("reply is not hex data")
    data = bytes.fromhex(result[2:])
    if len(data) < 32:
        raise ValueError(f"returned {len(data)} bytes, expected 32")
    return int.from_bytes(data[:32], "big")


def _quantity(result: Any) -> int:
    if not isinstance(result, str) or not result.startswith("0x"):
        raise ValueError(f"not a hex quantity: {result!r}")
    return int(result, 16)


@dataclass(frozen=True)
class _Plan:
    """Where each value of one deployment sits in the batch."""

    code: int
    decimals: int
    total_supply: int
    balances: tuple[int, ...]
    multiplier: int
    current_multiplier: int
    new_multiplier: int
    activation: int


class EvmReader:
    def __init__(self, name: str, chain: EvmChain, client: httpx.AsyncClient) -> None:
        self.name = name
        self.chain = chain
        self.endpoints = [
            Endpoint(
                url,
                client,
                headers=chain.headers,
                timeout=chain.timeout,
                batch_size=chain.batch_size,
            )
            for url in chain.rpc
        ]

    async def read(self, deployments: Sequence[Deployment], at: int | None = None) -> ChainRead:
        evm = [d for d in deployments if isinstance(d, EvmDeployment)]
        errors: list[str] = []
        for ep in self.endpoints:
            try:
                return await self._read(ep, evm, at)
            except RpcError as exc:
                errors.append(exc.message)
        return failed(self.name, evm, "; ".join(errors) or "no RPC endpoint")

    async def _pin(self, ep: Endpoint, at: int | None) -> tuple[int, int]:
        """Return (block number, block timestamp)."""
        if at is not None:
            tag: str = hex(at)
        elif self.chain.confirmations is not None:
            head = _quantity(await ep.call("eth_blockNumber"))
            tag = hex(max(0, head - self.chain.confirmations))
        else:
            tag = self.chain.block or "latest"
        block = await ep.call("eth_getBlockByNumber", [tag, False])
        if not isinstance(block, dict):
            raise RpcError(f"{ep.shown}: block {tag} not found")
        return _quantity(block.get("number")), _quantity(block.get("timestamp"))

    async def _read(self, ep: Endpoint, deps: Sequence[EvmDeployment], at: int | None) -> ChainRead:
        chain_id = _quantity(await ep.call("eth_chainId"))
        if chain_id != self.chain.chain_id:
            raise RpcError(
                f"{ep.shown}: endpoint is chain id {chain_id}, the registry says "
                f"{self.chain.chain_id} (wrong network?)"
            )
        number, timestamp = await self._pin(ep, at)
        block = hex(number)
        when = datetime.fromtimestamp(timestamp, UTC)

        calls: list[Call] = []

        def add(method: str, *params: Any) -> int:
            calls.append(Call(method, [*params, block]))
            return len(calls) - 1

        def call(to: str, signature: str, arg: str = "") -> int:
            return add("eth_call", {"to": to, "data": selector(signature) + arg})

        plan = [
            _Plan(
                code=add("eth_getCode", d.address),
                decimals=call(d.address, "decimals()"),
                total_supply=call(d.address, "totalSupply()"),
                balances=tuple(
                    call(d.address, "balanceOf(address)", _encode_address_arg(x)) for x in d.exclude
                ),
                multiplier=call(d.address, "multiplier()"),
                current_multiplier=call(d.address, "getCurrentMultiplier()"),
                new_multiplier=call(d.address, "newMultiplier()"),
                activation=call(d.address, "newMultiplierActivationTime()"),
            )
            for d in deps
        ]

        results = await ep.batch(calls)
        supplies = {
            d.key: self._supply(d, entry, results, number, timestamp)
            for d, entry in zip(deps, plan, strict=True)
        }
        return ChainRead(
            chain=self.name,
            pin=Pin(self.name, "evm", number, when, ep.shown),
            supplies=supplies,
        )

    def _supply(
        self,
        d: EvmDeployment,
        entry: _Plan,
        results: list[Any],
        number: int,
        timestamp: int,
    ) -> DeploymentSupply:
        def err(message: str) -> DeploymentSupply:
            return DeploymentSupply(self.name, d.address, error=message)

        def get(i: int, what: str) -> int:
            r = results[i]
            if isinstance(r, RpcError):
                raise r
            try:
                return _uint(r)
            except ValueError as exc:
                raise RpcError(f"{what}: {exc}") from None

        code = results[entry.code]
        if isinstance(code, RpcError):
            return err(code.message)
        if code in ("0x", "0x0", None):
            return err(f"no contract at {d.address} on {self.name} at block {number}")
        try:
            decimals = get(entry.decimals, "decimals()")
            total_raw = get(entry.total_supply, "totalSupply()")
            balances = [
                get(i, f"balanceOf({x})") for i, x in zip(entry.balances, d.exclude, strict=True)
            ]
        except RpcError as exc:
            text = exc.message
            if exc.is_revert:
                text = f"call reverted ({text}); is {d.address} an ERC-20 token?"
            return err(text)
        if decimals > 77:
            return err(f"decimals() returned {decimals}, not a plausible ERC-20 value")
        if d.decimals is not None and d.decimals != decimals:
            return err(f"decimals mismatch: the registry says {d.decimals}, the chain {decimals}")

        messages: list[str] = []
        multiplier = Decimal(1)
        details: dict[str, str] = {}
        mult_result = results[entry.multiplier]
        if isinstance(mult_result, RpcError):
            if not mult_result.is_revert:
                return err(f"multiplier(): {mult_result.message}")
            # A plain ERC-20: it has no multiplier() and reverts.
        else:
            try:
                stored = _uint(mult_result)
                new_mult = get(entry.new_multiplier, "newMultiplier()")
                activation = get(entry.activation, "newMultiplierActivationTime()")
            except (RpcError, ValueError) as exc:
                return err(f"multiplier token with unreadable multiplier views: {exc}")
            # multiplier() is the stored value; getCurrentMultiplier() includes the management
            # fee decayed since the last update, as totalSupply()/balanceOf() do.
            current = results[entry.current_multiplier]
            try:
                in_force = stored if isinstance(current, RpcError) else _uint(current)
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
                at = datetime.fromtimestamp(activation, UTC).isoformat().replace("+00:00", "Z")
                messages.append(
                    f"{self.name}: multiplier change scheduled: "
                    f"{amounts.fmt_short(amounts.scale(stored, 18))} -> "
                    f"{amounts.fmt_short(amounts.scale(new_mult, 18))} at {at}"
                )

        excluded_raw = sum(balances)
        if excluded_raw > total_raw:
            return err(
                f"excluded balances ({excluded_raw}) exceed totalSupply ({total_raw}) at block "
                f"{number}: inconsistent reads"
            )
        total = amounts.scale(total_raw, decimals)
        excluded = amounts.scale(excluded_raw, decimals)
        return DeploymentSupply(
            chain=self.name,
            address=d.address,
            decimals=decimals,
            total_supply=total,
            excluded=excluded,
            multiplier=multiplier,
            multiplier_applied=False,
            circulating=amounts.sub(total, excluded),
            messages=tuple(messages),
            details=details,
        )
