"""The audit, end to end: registry -> custody books + chain reads -> reconcile.

This is the one code path behind `xstock-audit check` (and anything that embeds it).
Custody comes from three kinds of source: files (parsed in a worker thread while the chains
are read; an input error there cancels the reads), issuers' APIs (`http-json`, fetched
alongside the chains) and Proof of Reserve feeds (`chainlink-por`, read by the chains'
readers in the pinned block). The run's reference time `now` is taken once, at the start:
statements dated after it (plus `policy.clock_skew`) are set aside, and every chain's head
is held to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from .chains.interface import ChainRead, ChainReader, DeploymentModel, family
from .custody import CustodyBook, ParseOptions, read_custodian
from .errors import InputError
from .policy import Ignore
from .progress import ChainWatch, Progress, as_progress
from .reconcile import (
    AuditResult,
    PlannedMint,
    PrecomputedCustody,
    conclude,
    custody_of,
    reconcile,
)
from .registry import Registry
from .registry.schema import SOURCE_FORMATS, Custodian

#: a display (`progress.Progress`), or a callable that gets one text line per step
ProgressLike = Progress | Callable[[str], None]


def _used(registry: Registry) -> dict[str, Custodian]:
    """The custodians some token draws on, by name."""
    names = {name for t in registry.tokens for name in t.custodians}
    return {n: c for n, c in registry.custodians.items() if n in names}


def read_custody(registry: Registry, now: datetime | None = None) -> dict[str, CustodyBook]:
    """Every used file custodian's book; with `now`, statements dated after `now` plus
    `policy.clock_skew` are set aside (never used). Sources that are not files
    (`SOURCE_FORMATS`) are read by `read_sources` and `por_books`."""
    base = Path(registry.base_dir)
    not_after = None if now is None else now + registry.policy.clock_skew
    return {
        name: read_custodian(
            name,
            c.attestations or [],
            base,
            not_after,
            format=c.format,
            options=ParseOptions(timezone=ZoneInfo(c.timezone)),
            count_unavailable=c.count_unavailable,
            public_key=c.public_key,
            signer=c.signer,
        )
        for name, c in _used(registry).items()
        if c.format not in SOURCE_FORMATS
    }


async def read_sources(
    registry: Registry, now: datetime | None = None, deadline_s: float | None = None
) -> dict[str, CustodyBook]:
    """The books of the used `http-json` custodians, fetched concurrently. An API that
    fails, answers what the settings don't match or has not answered within `deadline_s`
    (from the start; the run's `--timeout`) gives a book with `errors` (its tokens are
    ERROR), never an empty custody."""
    apis = {n: c for n, c in _used(registry).items() if c.format == "http-json"}
    if not apis:
        return {}
    from . import redact
    from .custody import SourceError, build_book
    from .custody.httpjson import fetch_statements

    not_after = None if now is None else now + registry.policy.clock_skew

    async def one(name: str, c: Custodian) -> tuple[str, CustodyBook]:
        try:
            statements = await asyncio.wait_for(fetch_statements(name, c), deadline_s)
        except TimeoutError:
            exc = SourceError(
                f"no complete answer within the run's deadline of {deadline_s:g} s",
                custodian=name,
                source=redact.register_url(c.url or ""),
                transient=True,
            )
            return name, CustodyBook(name, (), {}, errors=(str(exc),))
        except SourceError as exc:
            return name, CustodyBook(name, (), {}, errors=(str(exc),))
        return name, build_book(name, statements, [s.file for s in statements], not_after)

    return dict(await asyncio.gather(*(one(n, c) for n, c in apis.items())))


def por_books(
    registry: Registry, reads: Mapping[str, ChainRead], now: datetime | None = None
) -> dict[str, CustodyBook]:
    """The books of the used `chainlink-por` custodians, from the feeds the chains' readers
    read in their pinned blocks."""
    from .custody import chainlink

    not_after = None if now is None else now + registry.policy.clock_skew
    return {
        name: chainlink.book(name, c.feeds or {}, reads, not_after)
        for name, c in _used(registry).items()
        if c.format == "chainlink-por"
    }


DEFAULT_DEADLINE_S = 60.0

T = TypeVar("T")


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(work)`, with the result handed over outside the task. When asyncio.run
    restores the SIGINT handler, the signal module looks the old handler (which holds the
    main task) up in an enum, and the failed lookup's message is the task's repr, result
    included: 60,000 dataclass reprs for a 10,000-token audit, thrown away unread."""
    box: list[T] = []

    async def main() -> None:
        box.append(await work)

    asyncio.run(main())
    return box[0]


async def read_chains(
    registry: Registry,
    *,
    at: Mapping[str, int] | None = None,
    progress: ProgressLike | None = None,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
    now: datetime | None = None,
    when: datetime | None = None,
) -> dict[str, ChainRead]:
    """Read every chain that has deployments, all chains concurrently.

    A chain not read within `deadline_s` (from the start) is reported as failed: every
    deployment on it is ERROR. The audit never hangs. With `now`, a chain whose head is
    older than its `max_head_age`, or ahead of `now` by more than `policy.clock_skew`, is
    failed too (after trying its other endpoints). With `when` (`check --at`), every chain
    is read as of that instant (`ChainReader.read_at`)."""
    from .chains import failed
    from .rpc import make_client

    loop = asyncio.get_running_loop()
    start = loop.time()

    by_chain: dict[str, list[DeploymentModel]] = {}
    for token in registry.tokens:
        for dep in token.deployments:
            by_chain.setdefault(dep.chain, []).append(dep)
    from .custody.chainlink import feeds_by_chain

    feeds = feeds_by_chain(_used(registry))
    for name in feeds:  # a chain read only for its feeds
        by_chain.setdefault(name, [])

    shown = as_progress(progress)
    tls = any(u[:6].lower() == "https:" for n in by_chain for u in registry.chains[n].rpc)
    async with make_client(tls) as client:
        readers: dict[str, ChainReader] = {}
        watches: dict[str, ChainWatch] = {}

        def make_reader(name: str, settings: Any) -> ChainReader:
            """A reader of chain `name` with `settings` (the registry's, or a copy with
            one endpoint for `_read_at_quorum`), given the chain's feeds to read."""
            reader = family(settings.type).reader(
                name,
                settings,
                client,
                now=now,
                clock_skew=registry.policy.clock_skew,
                watch=watches[name],
            )
            if feeds.get(name):
                if not hasattr(reader, "feeds"):
                    raise InputError(
                        f"chain {name!r} ({settings.type}) cannot read Proof of Reserve feeds",
                        file=registry.source,
                    )
                reader.feeds = feeds[name]
            return reader

        for name, deps in by_chain.items():
            chain = registry.chains[name]
            watches[name] = shown.watch(
                name, family(chain.type).pin_unit, deployments=len(deps), quorum=chain.quorum
            )
            readers[name] = make_reader(name, chain)

        async def one(name: str, deps: Sequence[DeploymentModel]) -> tuple[str, ChainRead]:
            reader = readers[name]
            chain = registry.chains[name]
            watches[name].start()
            if when is None:
                reading = reader.read(deps, (at or {}).get(name))
            elif chain.quorum > 1:
                reading = _read_at_quorum(name, chain, deps, when, partial(make_reader, name))
            else:
                reading = reader.read_at(deps, when)
            try:
                read = await asyncio.wait_for(
                    reading,
                    None if deadline_s is None else max(0.0, start + deadline_s - loop.time()),
                )
            except TimeoutError:
                read = failed(
                    name, deps, f"no complete answer within the run's deadline of {deadline_s:g} s"
                )
            shown.finish(watches[name], read)
            return name, read

        with shown.live():
            results = await asyncio.gather(*(one(n, d) for n, d in by_chain.items()))
    return dict(results)


async def _read_at_quorum(
    name: str,
    chain: Any,
    deps: Sequence[DeploymentModel],
    when: datetime,
    single: Callable[[Any], ChainReader],
) -> ChainRead:
    """`check --at` on a chain with `quorum: N`: each endpoint (the `archive_rpc` ones
    first) finds the instant and reads it on its own, through a reader of the chain with
    that endpoint alone (`single`), and the first N that read it must agree value for value
    (`consensus.merge`), as at the head. Fewer than N answers fail the chain. (Honest nodes
    find the same block or slot for an instant in the past; for an instant at their heads,
    nodes a block apart may differ, which is an ERROR, never a wrong verdict.)"""
    from .chains import failed
    from .chains.consensus import merge
    from .timefmt import iso

    extra: dict[str, Any] = {"archive_rpc": []} if "archive_rpc" in type(chain).model_fields else {}
    urls = list(dict.fromkeys([*getattr(chain, "archive_rpc", ()), *chain.rpc]))
    readers = [
        single(chain.model_copy(update={"rpc": [url], "quorum": 1, **extra})) for url in urls
    ]
    reads = await asyncio.gather(*(r.read_at(deps, when) for r in readers))
    good = [r for r in reads if r.error is None and r.pin is not None]
    need = chain.quorum
    if len(good) < need:
        return failed(
            name,
            deps,
            f"quorum of {need} endpoints not reached for {iso(when)} ({len(good)} read it)",
            *dict.fromkeys(r.error for r in reads if r.error is not None),  # each reason once
        )
    return merge(good[:need])


def run(
    registry: Registry,
    *,
    now: datetime | None = None,
    progress: ProgressLike | None = None,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
    fail_on: Sequence[str] | None = None,
    ignores: Sequence[Ignore] = (),
    mints: Mapping[str, Sequence[PlannedMint]] | None = None,
    when: datetime | None = None,
    movements: bool = False,
) -> AuditResult:
    """The whole audit; with `when`, as of that instant (`check --at`). `fail_on`,
    `ignores` and `mints` are the gate's inputs from the command line (see
    `reconcile.reconcile`). `movements` lists per token what moved on chain since its
    custody as-of (`check --movements`, `movements.attach`)."""
    now = now or datetime.now(UTC)
    shown = as_progress(progress)
    sums: dict[str, PrecomputedCustody] = {}
    books, reads = run_async(_read_both(registry, now, shown, deadline_s, when, sums))
    result = reconcile(
        registry,
        reads,
        books,
        now,
        fail_on=fail_on,
        ignores=ignores,
        mints=mints,
        custody=sums,
    )
    if movements:
        from .movements import attach

        result = attach(registry, result, now=now, deadline_s=deadline_s)
    return result if when is None else replace(result, at=when)


def run_at_attestation(
    registry: Registry,
    *,
    now: datetime | None = None,
    progress: ProgressLike | None = None,
    deadline_s: float | None = DEFAULT_DEADLINE_S,
    fail_on: Sequence[str] | None = None,
    ignores: Sequence[Ignore] = (),
    mints: Mapping[str, Sequence[PlannedMint]] | None = None,
) -> AuditResult:
    """`check --at attestation`: each token as of its custody's newest as-of (over the
    statements of its custodians' files and APIs that hold its ISIN); tokens that share an
    instant share the chain reads. A token whose custody has no such statement (only a
    Proof of Reserve feed, or nothing) is read at the head. The result's chains are named
    `CHAIN at TIME` (or `CHAIN` for the head); each token carries its instant."""
    now = now or datetime.now(UTC)
    shown = as_progress(progress)
    return run_async(
        _at_attestation(registry, now, shown, deadline_s, fail_on, ignores, mints or {})
    )


def instants(registry: Registry, books: Mapping[str, CustodyBook]) -> dict[str, datetime | None]:
    """symbol -> the newest as-of of the statements that hold its ISIN (None: none)."""
    out: dict[str, datetime | None] = {}
    for token in registry.tokens:
        newest: datetime | None = None
        for name in token.custodians:
            book = books.get(name)
            if book is None:
                continue
            for statement, holding in book.positions(token.isin):
                if holding is not None and (newest is None or statement.as_of > newest):
                    newest = statement.as_of
        out[token.symbol] = newest
    return out


async def _at_attestation(
    registry: Registry,
    now: datetime,
    shown: Progress,
    deadline_s: float | None,
    fail_on: Sequence[str] | None,
    ignores: Sequence[Ignore],
    mints: Mapping[str, Sequence[PlannedMint]],
) -> AuditResult:
    from .timefmt import iso

    apis = asyncio.create_task(read_sources(registry, now, deadline_s))
    books = await asyncio.to_thread(read_custody, registry, now)
    books.update(await apis)
    when_of = instants(registry, books)
    groups: dict[datetime | None, list[Any]] = {}
    for token in registry.tokens:
        groups.setdefault(when_of[token.symbol], []).append(token)
    by_symbol: dict[str, Any] = {}
    chains: dict[str, ChainRead] = {}
    for when, tokens in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or now)):
        sub = registry.model_copy(update={"tokens": tokens})
        if when is not None:
            shown.say(f"reading {len(tokens)} token(s) as of {iso(when)}")
        reads = await read_chains(sub, progress=shown, deadline_s=deadline_s, now=now, when=when)
        part = reconcile(sub, reads, {**books, **por_books(sub, reads, now)}, now, mints=mints)
        for t in part.tokens:
            by_symbol[t.symbol] = t
        for name, read in reads.items():
            chains[name if when is None else f"{name} at {iso(when)}"] = read
    result = conclude(
        registry,
        chains,
        [by_symbol[t.symbol] for t in registry.tokens],
        now,
        fail_on=fail_on,
        ignores=ignores,
    )
    return replace(result, token_at={s: w for s, w in when_of.items() if w is not None})


async def _read_both(
    registry: Registry,
    now: datetime,
    shown: Progress,
    deadline_s: float | None,
    when: datetime | None = None,
    sums: dict[str, PrecomputedCustody] | None = None,
) -> tuple[dict[str, CustodyBook], dict[str, ChainRead]]:
    """The custody files are parsed (in a worker thread) while the chains and the custody
    APIs are read: the event loop mostly waits for the nodes, and 10,000 holdings take a
    noticeable time to parse. With `sums`, the same thread then works out the tokens'
    custody sums from those files (`reconcile.custody_of`) into it. An error in the custody
    files cancels the rest."""

    from .rpc import preload

    preload()  # before any worker thread starts (see `preload`)

    def parse_files() -> dict[str, CustodyBook]:
        books = read_custody(registry, now)
        if sums is not None:
            sums.update(custody_of(registry, books, now))
        return books

    chains = asyncio.create_task(
        read_chains(registry, progress=shown, deadline_s=deadline_s, now=now, when=when)
    )
    apis = asyncio.create_task(read_sources(registry, now, deadline_s))
    try:
        books = await asyncio.to_thread(parse_files)
    except BaseException:
        for task in (chains, apis):
            task.cancel()
        for task in (chains, apis):
            with contextlib.suppress(BaseException):
                await task
        raise
    files = sum(len(b.files) for b in books.values())
    shown.say(f"read {files} attestation file(s)")
    reads = await chains
    books.update(await apis)
    books.update(por_books(registry, reads, now))
    return books, reads
