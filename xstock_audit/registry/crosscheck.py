"""Checks across the registry that no single model can make: unique symbols and
(chain, deployment) pairs, and custodians that exist."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ..chains.interface import ChainSettings, DeploymentModel
from ..errors import InputError
from ..yamlsrc import SourceMap
from .errors import raise_all
from .schema import Custodian, Policy, Registry, Token


def _typed_deployments(raw: object) -> list[DeploymentModel]:
    """The deployments that their family validated (not `typed`'s placeholders)."""
    items = raw if isinstance(raw, list) else []
    return [d for d in items if isinstance(d, DeploymentModel) and type(d) is not DeploymentModel]


def _names(value: object) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def partial_registry(data: dict[str, Any]) -> Registry | None:
    """A registry of the parts of `data` that validate on their own, for the cross-checks
    of a file whose schema failed. Each token keeps its place (so that messages name the
    right `tokens[i]`); one in error keeps its symbol, custodians and typed deployments, a
    custodian or policy in error is an empty stand-in. None when the file's shape is too
    broken to say anything more."""
    chains, custodians, tokens = data.get("chains"), data.get("custodians"), data.get("tokens")
    if not (isinstance(chains, dict) and isinstance(custodians, dict) and isinstance(tokens, list)):
        return None
    kept: dict[str, Custodian] = {}
    for name, raw in custodians.items():
        try:
            kept[str(name)] = Custodian.model_validate(raw)
        except ValidationError:
            kept[str(name)] = Custodian.model_construct()
    toks: list[Token] = []
    for i, raw in enumerate(tokens):
        try:
            tok = Token.model_validate(raw)
            toks.append(tok.model_copy(update={"deployments": _typed_deployments(tok.deployments)}))
            continue
        except ValidationError:
            pass
        fields = raw if isinstance(raw, dict) else {}
        symbol = fields.get("symbol")
        isin = fields.get("isin")
        toks.append(
            Token.model_construct(
                symbol=symbol if isinstance(symbol, str) and symbol else f"\x00tokens[{i}]",
                isin=isin if isinstance(isin, str) else "",
                custodian=_names(fields.get("custodian")),
                deployments=_typed_deployments(fields.get("deployments")),
            )
        )
    try:
        policy = Policy.model_validate(data.get("policy", {}))
    except ValidationError:
        policy = Policy()
    return Registry.model_construct(
        version=1,
        chains={str(k): v for k, v in chains.items() if isinstance(v, ChainSettings)},
        custodians=kept,
        tokens=toks,
        policy=policy,
    )


def cross_check(reg: Registry, smap: SourceMap) -> None:
    errors: list[InputError] = []
    symbols: dict[str, int] = {}
    places: dict[tuple[str, str], tuple[int, int]] = {}
    for i, tok in enumerate(reg.tokens):
        if tok.symbol in symbols:
            errors.append(
                smap.error(
                    ("tokens", i, "symbol"),
                    f"duplicate symbol {tok.symbol!r} (also tokens[{symbols[tok.symbol]}])",
                )
            )
        symbols.setdefault(tok.symbol, i)
        for n, name in enumerate(tok.custodians):
            where: tuple[str | int, ...] = ("tokens", i, "custodian")
            if not isinstance(tok.custodian, str):
                where = (*where, n)
            feeds = reg.custodians[name].feeds if name in reg.custodians else None
            if feeds is not None and tok.isin not in feeds:
                errors.append(
                    smap.error(
                        where,
                        f"custodian {name!r} (chainlink-por) has no feed for {tok.isin}; "
                        f"add it under custodians.{name}.feeds",
                    )
                )
            if name not in reg.custodians:
                errors.append(
                    smap.error(
                        where,
                        f"unknown custodian {name!r}; defined: "
                        + ", ".join(sorted(reg.custodians)),
                    )
                )
        for j, dep in enumerate(tok.deployments):
            k = (dep.chain, dep.key)
            if k in places:
                ti, dj = places[k]
                errors.append(
                    smap.error(
                        ("tokens", i, "deployments", j),
                        f"{dep.chain} {dep.key} is already listed at "
                        f"tokens[{ti}].deployments[{dj}]",
                    )
                )
            places.setdefault(k, (i, j))
    seen_feeds: dict[tuple[str, str], str] = {}
    for name, custodian in reg.custodians.items():
        for isin, feed in (custodian.feeds or {}).items():
            first = seen_feeds.setdefault(
                (feed.chain, feed.address), f"custodians.{name}.feeds.{isin}"
            )
            if first != f"custodians.{name}.feeds.{isin}":
                errors.append(
                    smap.error(
                        ("custodians", name, "feeds", isin, "address"),
                        f"feed {feed.address} on {feed.chain} is already {first}: one reserve "
                        "would be counted twice",
                    )
                )
            chain = reg.chains.get(feed.chain)
            where = ("custodians", name, "feeds", isin, "chain")
            if chain is None:
                errors.append(
                    smap.error(
                        where,
                        f"unknown chain {feed.chain!r}; defined: " + ", ".join(sorted(reg.chains)),
                    )
                )
            elif chain.type != "evm":
                errors.append(
                    smap.error(
                        where,
                        f"chain {feed.chain!r} is type {chain.type}: Proof of Reserve feeds are "
                        "read on EVM chains",
                    )
                )
    from datetime import UTC, datetime

    from ..policy import Ignore, check_not_expired

    today = datetime.now(UTC).date()
    for n_ig, ig in enumerate(reg.policy.ignore):
        at: tuple[str | int, ...] = ("policy", "ignore", n_ig)
        if ig.symbol not in symbols:
            errors.append(
                smap.error((*at, "symbol"), f"no token has symbol {ig.symbol!r} to ignore")
            )
        try:
            check_not_expired(Ignore(ig.symbol, ig.reason, ig.until), today)
        except ValueError as exc:
            errors.append(smap.error((*at, "until"), str(exc)))
    raise_all(errors)
