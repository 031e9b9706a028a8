"""Checks across the registry that no single model can make: unique symbols and
(chain, deployment) pairs, and custodians that exist."""

from __future__ import annotations

from ..errors import InputError
from ..yamlsrc import SourceMap
from .errors import raise_all
from .schema import Registry


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
