"""The http-json custody source: an issuer's reserve API, read over HTTPS.

Registry entry (see the README)::

    issuer-api:
      format: http-json
      url: "${RESERVES_URL}"                 # a secret, like an RPC URL
      headers: {X-Api-Key: "${RESERVES_KEY}"}  # sent with every request; values are secrets
      items: "data[]"                        # JMESPath on each page: the list of records
      fields: {isin: isin, quantity: sharesHeld, as_of: updatedAt, account: account}
      next: "links.next"                     # optional JMESPath on each page: next page URL
      max_age: 26h

Each page is parsed with ``json.loads(parse_float=Decimal)``, so no float ever exists: a
JSON number is the exact decimal the document wrote. For each record of `items`:

- ``isin``: a string with a valid ISO 6166 check digit;
- ``quantity``: a decimal string, an integer or a JSON number (exact; not negative);
- ``as_of``: ISO 8601 with a zone (``2026-11-20T23:59:59Z``) or unix seconds (a number);
- ``account`` (optional field): a string or integer; without the field every record is in
  one account named after the custodian.

Records are grouped into one `Statement` per (account, as_of), as the CSV format does, so
that `build_book` keeps the newest as_of per account. An API whose records carry different
times within one account therefore counts only its newest records for that account: it
should give one snapshot time. An ISIN twice in one (account, as_of) is refused.

Pages: `next` gives the next page's URL (relative ones resolve against the current page);
null, missing or "" ends. A link to another scheme, host or port (which would receive the
headers), a link back to a page already read, and more than `max_pages` pages are refused.

HTTP: GET with the registry's headers, a per-request deadline, no redirects (a 3xx is an
error: follow it in the registry), retries with exponential backoff on connection errors,
timeouts and HTTP 429/5xx, honouring ``Retry-After`` up to a small cap (`rpc.py`'s helpers).
Bodies are read as a stream and refused past `max_body_bytes` (after decompression). An
answer with an ETag is cached (see `ETagCache`); the next request sends ``If-None-Match``
and a 304 reuses the cached body.

Errors: anything the remote side does wrong (unreachable, HTTP error, not JSON, too large,
`items` not a list, a field missing or of the wrong type, a bad `next` link) raises
`SourceError` naming the field, the page and the record index: the audit makes every token
of this custodian ERROR, it is not an input error (exit 2). The URL is shown only redacted
(``https://host/…``), in errors and in `Statement.file` alike, and header values never.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from .. import redact
from ..errors import InputError
from ..rpc import backoff_delay, make_client, parse_retry_after
from . import fields
from .interface import Holding, SourceError, Statement

if TYPE_CHECKING:
    from jmespath.parser import ParsedResult

    from ..registry.schema import Custodian

__all__ = [
    "FIELDS",
    "ETagCache",
    "FetchStats",
    "SourceError",
    "check_settings",
    "default_cache_dir",
    "fetch_statements",
    "read_statements",
]

#: the field names `fields` may map (the first three are required)
FIELDS = ("isin", "quantity", "as_of", "account")
MAX_PAGES = 1000
MAX_BODY_BYTES = 50 * 1024 * 1024
#: unix seconds at or past this (year 5138) are refused: most likely milliseconds
_MAX_UNIX_SECONDS = 10**11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOOPBACK_NAMES = ("localhost",)


@dataclass
class FetchStats:
    """What one fetch did (for tests, benchmarks and the report's detail)."""

    #: HTTP requests sent, retries included
    requests: int = 0
    retries: int = 0
    #: answers 304 Not Modified, served from the cache
    not_modified: int = 0
    pages: int = 0
    records: int = 0


# ---------------------------------------------------------------------- settings


def _compile(expr: str, what: str) -> ParsedResult:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.compile(expr)
    except JMESPathError as exc:
        detail = str(exc).replace("\n", " ")
        raise ValueError(f"{what}: {expr!r} is not a JMESPath expression ({detail})") from None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_settings(custodian: Custodian) -> None:
    """Check an http-json custodian's settings; ValueError (for the registry's schema) naming
    what is wrong. The URL must be https (plain http only to this machine: an API key must
    not cross a network in clear); `fields` names only known fields; every expression parses.
    No message holds the URL."""
    url = custodian.url or ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError("url is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("url must be an https:// URL")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValueError(
            "url must be https:// (plain http:// only to this machine: 127.0.0.1, ::1, "
            "localhost), so that the URL and headers never cross a network in clear"
        )
    unknown = sorted(set(custodian.fields_ or {}) - set(FIELDS))
    if unknown:
        raise ValueError(f"fields: unknown field(s) {', '.join(unknown)}; known: {FIELDS}")
    _compile(custodian.items or "", "items")
    for name, expr in (custodian.fields_ or {}).items():
        _compile(expr, f"fields.{name}")
    if custodian.next is not None:
        _compile(custodian.next, "next")


# ---------------------------------------------------------------------- the ETag cache


def default_cache_dir() -> Path:
    """The user's cache folder for this source (``~/.cache/xstock-audit/http-json`` on Linux,
    honouring ``$XDG_CACHE_HOME``; the platform's own elsewhere)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("xstock-audit")) / "http-json"


@dataclass(frozen=True)
class _Entry:
    etag: str
    body: bytes


class ETagCache:
    """Bodies and ETags of earlier answers, one file per (URL, headers).

    A file is named by the SHA-256 of the URL and the headers sent (so neither the secret URL
    nor an API key appears in a file name, and answers for different keys never mix). It
    holds a magic line, a JSON line ``{"etag", "length", "sha256"}`` and the body; one that
    does not check out (truncated, edited, another version) is ignored, as is any error
    writing the cache. The folder is made private (0700), files 0600.
    """

    MAGIC = b"xstock-audit http-json cache v1\n"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, url: str, headers: Mapping[str, str]) -> Path:
        key = json.dumps([url, sorted((k.lower(), v) for k, v in headers.items())])
        return self.folder / (hashlib.sha256(key.encode()).hexdigest() + ".cache")

    def load(self, url: str, headers: Mapping[str, str]) -> _Entry | None:
        try:
            data = self.path(url, headers).read_bytes()
            if not data.startswith(self.MAGIC):
                return None
            head, sep, body = data[len(self.MAGIC) :].partition(b"\n")
            meta = json.loads(head) if sep else None
            if (
                not isinstance(meta, dict)
                or not _valid_etag(meta.get("etag"))
                or meta.get("length") != len(body)
                or meta.get("sha256") != hashlib.sha256(body).hexdigest()
            ):
                return None
            return _Entry(etag=meta["etag"], body=body)
        except (OSError, ValueError):
            return None

    def store(self, url: str, headers: Mapping[str, str], etag: str, body: bytes) -> None:
        if not _valid_etag(etag):
            return
        meta = {"etag": etag, "length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        target = self.path(url, headers)
        tmp: str | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")  # mode 0600
            with os.fdopen(fd, "wb") as f:
                f.write(self.MAGIC + json.dumps(meta).encode() + b"\n" + body)
            os.replace(tmp, target)
            tmp = None
        except OSError:
            pass  # a cache that cannot be written only costs a full download next time
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _valid_etag(value: object) -> bool:
    """An ETag we can send back: printable ASCII, not absurdly long."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= 1024
        and all(0x20 <= ord(c) < 0x7F for c in value)
    )


# ---------------------------------------------------------------------- one record


def _quantity(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("quantity must be a decimal string or a number, not a boolean")
    if isinstance(value, Decimal):  # a JSON number, exactly as the document wrote it
        exponent = value.as_tuple().exponent
        if not value.is_finite() or not isinstance(exponent, int) or abs(exponent) > 60:
            raise ValueError(f"quantity {value} is out of range")
        value = format(value, "f")
    return fields.quantity(value)


def _as_of(value: object) -> datetime:
    if isinstance(value, bool):
        raise ValueError("as_of must be an ISO 8601 timestamp or unix seconds, not a boolean")
    if isinstance(value, int | Decimal):
        seconds = Decimal(value)
        if not seconds.is_finite() or seconds < 0:
            raise ValueError(f"as_of {value} is not a time (unix seconds)")
        if seconds >= _MAX_UNIX_SECONDS:
            raise ValueError(
                f"as_of {value} is too large for unix seconds (milliseconds?); the API must "
                "give seconds or ISO 8601"
            )
        return _EPOCH + timedelta(microseconds=int(seconds * 1_000_000))
    if isinstance(value, str):
        return fields.timestamp(value)
    raise ValueError("as_of must be an ISO 8601 timestamp string or unix seconds (a number)")


def _isin(value: object) -> str:
    return fields.isin(value)


def _account(value: object) -> str:
    return fields.account(value)


_PARSERS = {"isin": _isin, "quantity": _quantity, "as_of": _as_of, "account": _account}


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        Decimal: "a number",
    }.get(type(value), type(value).__name__)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------------- the source


class _Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class _Record:
    page: int
    index: int
    account: str
    as_of: datetime
    isin: str
    quantity: Decimal


@dataclass
class _Source:
    name: str
    url: str
    shown: str
    headers: dict[str, str]
    items: ParsedResult
    field_exprs: dict[str, tuple[str, ParsedResult]]
    next: ParsedResult | None
    client: httpx.AsyncClient
    cache: ETagCache | None
    timeout: float
    connect_timeout: float
    retries: int
    backoff: float
    max_retry_after: float
    max_pages: int
    max_body_bytes: int
    stats: FetchStats
    records: list[_Record] = field(default_factory=list)

    def fail(
        self,
        message: str,
        *,
        page: int | None = None,
        record: int | None = None,
        field: str | None = None,
        transient: bool = False,
    ) -> NoReturn:
        raise SourceError(
            message,
            custodian=self.name,
            source=self.shown,
            page=page,
            record=record,
            field=field,
            transient=transient,
        )

    # -- HTTP ---------------------------------------------------------------------------

    async def get(self, url: str, page: int) -> bytes:
        """One page's body: 200, or 304 from the cache; retried on transient failures."""
        entry = self.cache.load(url, self.headers) if self.cache else None
        headers = dict(self.headers)
        if entry is not None:
            headers["If-None-Match"] = entry.etag
        attempt = 0
        while True:
            try:
                return await self._once(url, page, headers, entry)
            except _Transient as exc:
                if attempt >= self.retries:
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    self.fail(f"{exc}{tries}", page=page, transient=True)
                attempt += 1
                self.stats.retries += 1
                delay = backoff_delay(attempt, self.backoff, exc.retry_after, self.max_retry_after)
                await asyncio.sleep(delay)

    async def _once(
        self, url: str, page: int, headers: dict[str, str], entry: _Entry | None
    ) -> bytes:
        self.stats.requests += 1
        timeouts = httpx.Timeout(self.timeout, connect=min(self.connect_timeout, self.timeout))
        try:
            async with (
                asyncio.timeout(self.timeout),
                self.client.stream("GET", url, headers=headers, timeout=timeouts) as resp,
            ):
                status = resp.status_code
                if status == 304:
                    if entry is None:
                        self.fail(
                            "HTTP 304 Not Modified to a request without If-None-Match", page=page
                        )
                    self.stats.not_modified += 1
                    return entry.body
                if status == 429 or status >= 500:
                    raise _Transient(
                        f"HTTP {status}",
                        parse_retry_after(resp.headers.get("retry-after"), self.max_retry_after),
                    )
                if 300 <= status < 400:
                    self.fail(
                        f"HTTP {status}: redirects are not followed (they could carry the "
                        "headers elsewhere); set url to the final address",
                        page=page,
                    )
                if status != 200:
                    hint = " (check the headers: API key?)" if status in (401, 403) else ""
                    self.fail(f"HTTP {status}{hint}", page=page)
                body = await self._read(resp, page)
                etag = resp.headers.get("etag")
        except TimeoutError:
            raise _Transient(f"no complete answer within {self.timeout:g}s") from None
        except httpx.TimeoutException:
            raise _Transient(f"timed out after {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise _Transient(
                f"{type(exc).__name__}: {_short(redact.scrub(str(exc))) or 'failed'}"
            ) from None
        if etag and self.cache is not None:
            self.cache.store(url, self.headers, etag, body)
        return body

    async def _read(self, resp: httpx.Response, page: int) -> bytes:
        cap = self.max_body_bytes
        try:
            declared = int(resp.headers.get("content-length", "0"))
        except ValueError:
            declared = 0
        if declared > cap:
            self.fail(
                f"answer of {declared} bytes is larger than the {cap} bytes allowed", page=page
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > cap:
                self.fail(f"answer is larger than the {cap} bytes allowed", page=page)
            chunks.append(chunk)
        return b"".join(chunks)

    # -- pages --------------------------------------------------------------------------

    def parse(self, body: bytes, page: int) -> Any:
        def refuse(name: str) -> NoReturn:
            raise ValueError(f"{name} is not JSON")

        try:
            return json.loads(body, parse_float=Decimal, parse_constant=refuse)
        except (ValueError, RecursionError) as exc:
            reason = _short(str(exc)) if isinstance(exc, ValueError) else "nested too deep"
            self.fail(f"answer is not JSON ({len(body)} bytes: {reason})", page=page)

    def take(self, doc: Any, page: int) -> None:
        """The page's records, checked and parsed."""
        from jmespath.exceptions import JMESPathError

        try:
            items = self.items.search(doc)
        except JMESPathError as exc:
            self.fail(_short(str(exc).replace("\n", " ")), page=page, field="items")
        if not isinstance(items, list):
            self.fail(
                f"{self.items.expression!r} gave {_kind(items)}, not a list of records",
                page=page,
                field="items",
            )
        for index, record in enumerate(items):
            values: dict[str, Any] = {"account": self.name}
            for name, (expr, compiled) in self.field_exprs.items():
                where = f"{name} ({expr})" if expr != name else name
                try:
                    value = compiled.search(record)
                except JMESPathError as exc:
                    self.fail(_short(str(exc)), page=page, record=index, field=where)
                if value is None:
                    self.fail(
                        f"missing (the expression gave null; the record is {_kind(record)})",
                        page=page,
                        record=index,
                        field=where,
                    )
                try:
                    values[name] = _PARSERS[name](value)
                except ValueError as exc:
                    self.fail(_short(str(exc)), page=page, record=index, field=where)
            self.records.append(_Record(page=page, index=index, **values))
        self.stats.records += len(items)

    def next_url(self, doc: Any, url: str, page: int) -> str | None:
        if self.next is None:
            return None
        from jmespath.exceptions import JMESPathError

        try:
            link = self.next.search(doc)
        except JMESPathError as exc:
            self.fail(_short(str(exc)), page=page, field="next")
        if link is None or link == "":
            return None
        if not isinstance(link, str):
            self.fail(f"gave {_kind(link)}, not a URL", page=page, field="next")
        target = urljoin(url, link.strip())
        try:
            parts = urlsplit(target)
            origin = _origin(parts)
        except ValueError:
            self.fail("is not a valid URL", page=page, field="next")
        redact.register_url(target)
        if origin != _origin(urlsplit(self.url)):
            self.fail(
                "leads to another server, refused as it would receive the headers: "
                + redact.redact_url(target),
                page=page,
                field="next",
            )
        return urlunsplit(parts._replace(fragment=""))

    async def run(self) -> list[Statement]:
        url = self.url
        seen = {url: 1}
        page = 1
        while True:
            doc = self.parse(await self.get(url, page), page)
            self.stats.pages = page
            self.take(doc, page)
            target = self.next_url(doc, url, page)
            if target is None:
                break
            if target in seen:
                self.fail(f"leads back to page {seen[target]}: a loop", page=page, field="next")
            if page >= self.max_pages:
                self.fail(f"more than {self.max_pages} pages; refused", page=page, field="next")
            page += 1
            seen[target] = page
            url = target
        return self.statements(paginated=page > 1)

    def statements(self, *, paginated: bool) -> list[Statement]:
        if not self.records:
            self.fail(
                "the answer holds no records: no holding and no as_of to date it (check `items`)",
                field="items",
            )
        groups: dict[tuple[str, datetime], dict[str, _Record]] = {}
        for r in self.records:
            group = groups.setdefault((r.account, r.as_of), {})
            prev = group.get(r.isin)
            if prev is not None:
                self.fail(
                    f"{r.isin} is stated twice for account {r.account!r} as of "
                    f"{r.as_of.isoformat()} (also page {prev.page} record [{prev.index}])",
                    page=r.page,
                    record=r.index,
                    field="isin",
                )
            group[r.isin] = r

        def label(pages: set[int]) -> str:
            if not paginated:
                return self.shown
            lo, hi = min(pages), max(pages)
            return f"{self.shown} page {lo}" if lo == hi else f"{self.shown} pages {lo}-{hi}"

        out = []
        for (account, as_of), group in sorted(groups.items()):
            holdings = tuple(
                Holding(isin=r.isin, quantity=r.quantity, file=label({r.page}))
                for r in group.values()
            )
            out.append(
                Statement(
                    account=account,
                    as_of=as_of,
                    holdings=holdings,
                    file=label({r.page for r in group.values()}),
                    custodian=self.name,
                )
            )
        return out


def _origin(parts: Any) -> tuple[str, str, int | None]:
    scheme = str(parts.scheme).lower()
    port = parts.port or {"https": 443, "http": 80}.get(scheme)
    return scheme, str(parts.hostname or "").lower(), port


# ---------------------------------------------------------------------- entry points


async def fetch_statements(
    name: str,
    custodian: Custodian,
    *,
    client: httpx.AsyncClient | None = None,
    cache_dir: Path | None = None,
    cache: bool = True,
    timeout: float = 30.0,
    connect_timeout: float = 5.0,
    retries: int = 2,
    backoff: float = 0.5,
    max_retry_after: float = 10.0,
    max_pages: int = MAX_PAGES,
    max_body_bytes: int = MAX_BODY_BYTES,
    stats: FetchStats | None = None,
) -> list[Statement]:
    """The statements an http-json custodian's API gives now: one per (account, as_of).

    `client`: an `httpx.AsyncClient` to share (default: `rpc.make_client()`, closed after).
    `cache_dir`: where the ETag cache lives (default `default_cache_dir()`); `cache=False`
    neither reads nor writes it. `timeout` is the deadline of one request, body included;
    `retries` more attempts follow a connection error, a timeout or an HTTP 429/5xx, after
    `backoff` x 2^n seconds or the server's ``Retry-After`` (capped at `max_retry_after`).
    `stats`, when given, is filled in.

    Raises `SourceError` (the custodian's tokens are ERROR; see the module's docstring) for
    anything the remote side does wrong, and `InputError` only for settings the registry's
    schema would refuse (`check_settings`).
    """
    if custodian.url is None or custodian.items is None or not custodian.fields_:
        raise InputError(f"custodian {name!r}: format http-json needs url, items and fields")
    try:
        check_settings(custodian)
    except ValueError as exc:
        raise InputError(str(exc), field=f"custodians.{name}") from None
    shown = redact.register_url(custodian.url)
    for value in custodian.headers.values():
        redact.register_secret(value)
    own = client is None
    headers = dict(custodian.headers)
    if not any(k.lower() == "accept" for k in headers):
        headers["Accept"] = "application/json"
    source = _Source(
        name=name,
        url=custodian.url,
        shown=shown,
        headers=headers,
        items=_compile(custodian.items, "items"),
        field_exprs={k: (v, _compile(v, f"fields.{k}")) for k, v in custodian.fields_.items()},
        next=_compile(custodian.next, "next") if custodian.next is not None else None,
        client=make_client() if client is None else client,
        cache=ETagCache(cache_dir or default_cache_dir()) if cache else None,
        timeout=timeout,
        connect_timeout=connect_timeout,
        retries=retries,
        backoff=backoff,
        max_retry_after=max_retry_after,
        max_pages=max_pages,
        max_body_bytes=max_body_bytes,
        stats=stats if stats is not None else FetchStats(),
    )
    try:
        return await source.run()
    finally:
        if own:
            await source.client.aclose()


def read_statements(name: str, custodian: Custodian, **options: Any) -> list[Statement]:
    """`fetch_statements` for synchronous callers (its own event loop and HTTP client)."""
    return asyncio.run(fetch_statements(name, custodian, **options))
