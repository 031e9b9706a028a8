"""`xstock-audit registry lint --online`: does the registry match the chains?

Per chain, over the same transport as `check` (the chain's timeouts, retries, headers;
hosts shown redacted):

- every endpoint, at once, in one JSON-RPC batch: is it reachable, and is it the chain the
  registry says (EVM `eth_chainId` against `chain_id`; Solana `getGenesisHash` against
  `genesis_hash` when given);
- then, on the first endpoint that passed, one more batch for every deployment of the
  chain: EVM `eth_getCode` (the contract exists), `decimals()` (against the registry's
  `decimals` when given), Multicall3's code when the chain uses it and the code of the
  chain's Proof of Reserve feeds; Solana `getMultipleAccounts` of every mint (it exists, is
  owned by the SPL Token or Token-2022 program, is an initialised mint, its decimals).

The transport splits a batch larger than the chain's `batch_size` / `max_body_bytes` into
several HTTP requests sent at once, as it does for `check`.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ..chains.interface import ChainSettings, DeploymentModel
from ..errors import RpcError
from ..rpc import Call, Endpoint
from ..yamlsrc import SourceMap, dotted
from .schema import Registry

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """One line of the online report: a check passed (`ok`) or failed, about a place of the
    registry."""

    ok: bool
    place: Path_
    message: str

    def render(self, smap: SourceMap) -> str:
        field = dotted(self.place)
        if self.ok:
            return f"ok: {field}: {self.message}"
        line = smap.line(self.place)
        where = smap.file + (f":{line}" if line else "")
        return f"{where}: {field}: {self.message}"


@dataclass(frozen=True)
class Placed:
    """A deployment and where the registry lists it."""

    place: Path_
    deployment: DeploymentModel


def deployments_by_chain(reg: Registry) -> dict[str, list[Placed]]:
    out: dict[str, list[Placed]] = {name: [] for name in reg.chains}
    for i, tok in enumerate(reg.tokens):
        for j, dep in enumerate(tok.deployments):
            out.setdefault(dep.chain, []).append(Placed(("tokens", i, "deployments", j), dep))
    return out


async def check(reg: Registry, timeout: float) -> list[Finding]:
    """Every chain's checks, the chains at once; a chain not done within `timeout` seconds
    fails with a message saying so."""
    from ..rpc import make_client

    by_chain = deployments_by_chain(reg)
    async with make_client() as client:
        runs = [
            _bounded(name, chain, by_chain.get(name, []), reg, client, timeout)
            for name, chain in reg.chains.items()
        ]
        results = await asyncio.gather(*runs)
    return [f for found in results for f in found]


async def _bounded(
    name: str,
    chain: ChainSettings,
    deps: list[Placed],
    reg: Registry,
    client: httpx.AsyncClient,
    timeout: float,
) -> list[Finding]:
    try:
        return await asyncio.wait_for(_chain(name, chain, deps, reg, client), timeout)
    except TimeoutError:
        return [Finding(False, ("chains", name), f"not checked within {timeout:g}s (--timeout)")]


async def _chain(
    name: str,
    chain: ChainSettings,
    deps: list[Placed],
    reg: Registry,
    client: httpx.AsyncClient,
) -> list[Finding]:
    from ..chains import endpoints_for
    from ..chains.evm.models import EvmChain
    from ..chains.solana.models import SolanaChain

    endpoints = endpoints_for(chain, client)
    if isinstance(chain, EvmChain):
        feeds = sorted(
            {
                f.address
                for c in reg.custodians.values()
                for f in (c.feeds or {}).values()
                if f.chain == name
            }
        )
        return await _evm(name, chain, endpoints, deps, feeds)
    if isinstance(chain, SolanaChain):
        return await _solana(name, chain, endpoints, deps)
    return [Finding(True, ("chains", name), f"type {chain.type}: no online checks for this family")]


def _failed(result: Any) -> RpcError | None:
    return result if isinstance(result, RpcError) else None


async def _probe_all(
    name: str, endpoints: Sequence[Endpoint], calls: list[Call]
) -> list[tuple[int, Endpoint, list[Any] | RpcError]]:
    async def one(ep: Endpoint) -> list[Any] | RpcError:
        try:
            return await ep.batch(calls)
        except RpcError as exc:
            return exc

    replies = await asyncio.gather(*(one(ep) for ep in endpoints))
    return [(k, ep, r) for k, (ep, r) in enumerate(zip(endpoints, replies, strict=True))]


def _text(exc: RpcError, ep: Endpoint) -> str:
    return exc.message if exc.message.startswith(ep.shown) else f"{ep.shown}: {exc.message}"


def _no_usable_endpoint(found: list[Finding], name: str, deps: list[Placed]) -> list[Finding]:
    """The findings of a chain none of whose endpoints answered: its deployments unchecked."""
    if not deps:
        return found
    return [
        *found,
        Finding(
            False, ("chains", name), f"no usable endpoint: {len(deps)} deployments not checked"
        ),
    ]


# ---------------------------------------------------------------------- EVM


def _hex_int(value: Any) -> int:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"not a hex quantity: {value!r}")
    return int(value, 16) if len(value) > 2 else 0


def _has_code(value: Any) -> bool:
    return isinstance(value, str) and value not in ("0x", "0x0", "")


async def _evm(
    name: str,
    chain: Any,
    endpoints: Sequence[Endpoint],
    deps: list[Placed],
    feeds: list[str],
) -> list[Finding]:
    from ..chains.evm import batchread
    from ..chains.evm.models import EvmDeployment
    from ..chains.evm.values import SEL_DECIMALS

    found: list[Finding] = []
    good: Endpoint | None = None
    probes = await _probe_all(name, endpoints, [Call("eth_chainId"), Call("eth_blockNumber")])
    for k, ep, reply in probes:
        place: Path_ = ("chains", name, "rpc", k)
        if isinstance(reply, RpcError) or (err := next(filter(None, map(_failed, reply)), None)):
            exc = reply if isinstance(reply, RpcError) else err
            assert exc is not None
            found.append(Finding(False, place, f"unreachable: {_text(exc, ep)}"))
            continue
        try:
            chain_id, head = _hex_int(reply[0]), _hex_int(reply[1])
        except ValueError as exc:
            found.append(Finding(False, place, f"{ep.shown}: malformed reply: {exc}"))
            continue
        if chain_id != chain.chain_id:
            found.append(
                Finding(
                    False,
                    ("chains", name, "chain_id"),
                    f"{ep.shown} is chain id {chain_id}, the registry says {chain.chain_id} "
                    "(wrong network?)",
                )
            )
            continue
        found.append(Finding(True, place, f"{ep.shown}: chain id {chain_id}, block {head}"))
        good = good or ep
    if good is None:
        return _no_usable_endpoint(found, name, deps)
    evm_deps = [p for p in deps if isinstance(p.deployment, EvmDeployment)]
    calls: list[Call] = []
    # the batch calls the audit will make: deployless (an empty batch must run), or Multicall3
    deployless = chain.batches_deployless
    if deployless:
        calls.append(Call("eth_call", [{"data": "0x" + batchread.encode([], []).hex()}, "latest"]))
    elif chain.multicall:
        calls.append(Call("eth_getCode", [chain.multicall, "latest"]))
    for p in evm_deps:
        address = p.deployment.address  # type: ignore[attr-defined]
        calls.append(Call("eth_getCode", [address, "latest"]))
        calls.append(
            Call("eth_call", [{"to": address, "data": "0x" + SEL_DECIMALS.hex()}, "latest"])
        )
    calls += [Call("eth_getCode", [address, "latest"]) for address in feeds]
    try:
        replies = await good.batch(calls)
    except RpcError as exc:
        return [
            *found,
            Finding(False, ("chains", name), f"deployments not checked: {_text(exc, good)}"),
        ]
    pos = 0
    if deployless:
        pos = 1
        ran = replies[0]
        try:
            if isinstance(ran, RpcError) or not isinstance(ran, str):
                raise ValueError(_text(ran, good) if isinstance(ran, RpcError) else repr(ran))
            number = batchread.decode(bytes.fromhex(ran.removeprefix("0x")), [])[0]
        except ValueError as exc:
            found.append(
                Finding(
                    False,
                    ("chains", name, "deployless"),
                    f"{good.shown} does not run deployless batch calls ({exc}): the audit "
                    "falls back to Multicall3, one more round trip; set deployless: false",
                )
            )
        else:
            found.append(
                Finding(
                    True,
                    ("chains", name, "deployless"),
                    f"deployless batch calls run on {good.shown} (block {number})",
                )
            )
    elif chain.multicall:
        code = replies[0]
        pos = 1
        if (bad := _failed(code)) is not None:
            found.append(Finding(False, ("chains", name, "multicall"), _text(bad, good)))
        elif not _has_code(code):
            found.append(
                Finding(
                    False,
                    ("chains", name, "multicall"),
                    f"no Multicall3 contract at {chain.multicall} on {good.shown}: deploy it, "
                    "give its address as multicall:, or set multicall: false",
                )
            )
        else:
            found.append(
                Finding(True, ("chains", name, "multicall"), f"Multicall3 at {chain.multicall}")
            )
    have_code = matched = 0
    read: list[str] = []
    for p in evm_deps:
        dep: EvmDeployment = p.deployment  # type: ignore[assignment]
        code, decimals = replies[pos], replies[pos + 1]
        pos += 2
        what = f"{name} {dep.address}"
        if (bad := _failed(code)) is not None:
            found.append(Finding(False, (*p.place, "address"), f"{what}: {_text(bad, good)}"))
            continue
        if not _has_code(code):
            found.append(
                Finding(False, (*p.place, "address"), f"{what}: no contract code at this address")
            )
            continue
        have_code += 1
        if (bad := _failed(decimals)) is not None:
            found.append(
                Finding(
                    False,
                    (*p.place, "address"),
                    f"{what}: decimals() failed (not an ERC-20?): {_text(bad, good)}",
                )
            )
            continue
        try:
            value = _hex_int(decimals)
            if len(decimals) == 2:
                raise ValueError("decimals() returned no data (not an ERC-20?)")
        except ValueError as exc:
            found.append(Finding(False, (*p.place, "address"), f"{what}: {exc}"))
            continue
        if dep.decimals is None:
            read.append(f"{dep.address[:10]}… {value}")
        elif value != dep.decimals:
            found.append(
                Finding(
                    False,
                    (*p.place, "decimals"),
                    f"{what}: decimals() is {value}, the registry says {dep.decimals}",
                )
            )
            continue
        else:
            matched += 1
    for address, code in zip(feeds, replies[pos:], strict=True):
        if (bad := _failed(code)) is not None or not _has_code(code):
            reason = _text(bad, good) if bad is not None else "no contract code at this address"
            found.append(
                Finding(False, ("chains", name), f"Proof of Reserve feed {address}: {reason}")
            )
    if evm_deps:
        found.append(
            Finding(
                True,
                ("chains", name),
                _summary(len(evm_deps), have_code, matched, read, "contracts have code"),
            )
        )
    return found


def _summary(total: int, exist: int, matched: int, read: list[str], exist_text: str) -> str:
    text = f"{exist}/{total} {exist_text}, {matched} decimals as the registry states"
    if read:
        text += f"; decimals not stated: {', '.join(read[:5])}" + (" …" if len(read) > 5 else "")
    return text


# ---------------------------------------------------------------------- Solana


MAX_KEYS_PER_CALL = 100


async def _solana(
    name: str, chain: Any, endpoints: Sequence[Endpoint], deps: list[Placed]
) -> list[Finding]:
    from ..chains.solana.models import SolanaDeployment
    from ..chains.spl_layout import TOKEN_PROGRAMS, LayoutError, parse_mint

    found: list[Finding] = []
    good: Endpoint | None = None
    probe = [Call("getGenesisHash"), Call("getSlot", [{"commitment": chain.commitment}])]
    for k, ep, reply in await _probe_all(name, endpoints, probe):
        place: Path_ = ("chains", name, "rpc", k)
        if isinstance(reply, RpcError) or (err := next(filter(None, map(_failed, reply)), None)):
            exc = reply if isinstance(reply, RpcError) else err
            assert exc is not None
            found.append(Finding(False, place, f"unreachable: {_text(exc, ep)}"))
            continue
        genesis, slot = reply
        if chain.genesis_hash is not None and genesis != chain.genesis_hash:
            found.append(
                Finding(
                    False,
                    ("chains", name, "genesis_hash"),
                    f"{ep.shown} has genesis hash {genesis}, the registry says "
                    f"{chain.genesis_hash} (wrong cluster?)",
                )
            )
            continue
        stated = "" if chain.genesis_hash is not None else " (not stated in the registry)"
        found.append(
            Finding(True, place, f"{ep.shown}: genesis hash {genesis}{stated}, slot {slot}")
        )
        good = good or ep
    if good is None:
        return _no_usable_endpoint(found, name, deps)
    sol = [p for p in deps if isinstance(p.deployment, SolanaDeployment)]
    mints = [p.deployment.mint for p in sol]  # type: ignore[attr-defined]
    config = {"encoding": "base64", "commitment": chain.commitment}
    calls = [
        Call("getMultipleAccounts", [mints[i : i + MAX_KEYS_PER_CALL], config])
        for i in range(0, len(mints), MAX_KEYS_PER_CALL)
    ]
    try:
        replies = await good.batch(calls)
    except RpcError as exc:
        return [
            *found,
            Finding(False, ("chains", name), f"deployments not checked: {_text(exc, good)}"),
        ]
    accounts: list[Any] = []
    for call, reply in zip(calls, replies, strict=True):
        n = len(call.params[0])
        if (bad := _failed(reply)) is not None:
            accounts += [bad] * n
            continue
        value = reply.get("value") if isinstance(reply, dict) else None
        if not isinstance(value, list) or len(value) != n:
            accounts += [RpcError(f"{good.shown}: malformed getMultipleAccounts reply")] * n
            continue
        accounts += value
    exist = matched = 0
    read: list[str] = []
    for p, account in zip(sol, accounts, strict=True):
        dep: SolanaDeployment = p.deployment  # type: ignore[assignment]
        what = f"{name} {dep.mint}"
        at = (*p.place, "mint")
        if (bad := _failed(account)) is not None:
            found.append(Finding(False, at, f"{what}: {_text(bad, good)}"))
            continue
        if account is None:
            found.append(Finding(False, at, f"{what}: no such account (wrong cluster or a typo?)"))
            continue
        owner = str(account.get("owner")) if isinstance(account, dict) else "?"
        if owner not in TOKEN_PROGRAMS:
            found.append(
                Finding(
                    False,
                    at,
                    f"{what}: owned by {owner}, not the SPL Token or Token-2022 program "
                    "(not a mint)",
                )
            )
            continue
        try:
            raw = base64.b64decode(account["data"][0], validate=True)
            mint = parse_mint(owner, raw)
        except (LayoutError, ValueError, TypeError, KeyError, IndexError) as exc:
            found.append(Finding(False, at, f"{what}: not a mint: {exc}"))
            continue
        if not mint.is_initialized:
            found.append(Finding(False, at, f"{what}: the mint is not initialised"))
            continue
        exist += 1
        if dep.decimals is None:
            read.append(f"{dep.mint[:8]}… {mint.decimals}")
        elif mint.decimals != dep.decimals:
            found.append(
                Finding(
                    False,
                    (*p.place, "decimals"),
                    f"{what}: the mint has {mint.decimals} decimals, the registry says "
                    f"{dep.decimals}",
                )
            )
        else:
            matched += 1
    if sol:
        found.append(
            Finding(
                True,
                ("chains", name),
                _summary(len(sol), exist, matched, read, "mints exist (SPL Token / Token-2022)"),
            )
        )
    return found
