"""The http-json custody source (custody/httpjson.py) against a real HTTP server on 127.0.0.1
(slow: it binds a socket), and against httpx's in-process MockTransport for the answers'
shapes (pure: no socket).

The API's URL carries secrets in its path and query and its key header a third: none of
them may appear in any error, in `Statement.file` or in the cache's file names.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support.jsonapi import JsonApi, Request, body
from support.proxy import Reply

from xstock_audit import redact
from xstock_audit.custody import SourceError, Statement, build_book
from xstock_audit.custody.httpjson import ETagCache, FetchStats, fetch_statements
from xstock_audit.registry.schema import Custodian

PATH_SECRET = "pathsecret7f3a9c"
QUERY_SECRET = "querysecret51be0d"
HEADER_SECRET = "headersecret0a8e2f"
SECRETS = (PATH_SECRET, QUERY_SECRET, HEADER_SECRET)
PATH = f"/v1/{PATH_SECRET}/reserves"

TSLA, AAPL, NVDA = "US88160R1014", "US0378331005", "US67066G1040"
AS_OF = "2026-11-20T23:59:59Z"
AS_OF_DT = datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
FIELDS = {"isin": "isin", "quantity": "sharesHeld", "as_of": "updatedAt", "account": "account"}


@pytest.fixture(autouse=True)
def _isolated_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_secrets", dict(redact._secrets))


def custodian(url: str, **extra: Any) -> Custodian:
    settings: dict[str, Any] = {
        "format": "http-json",
        "url": url,
        "items": "data[]",
        "fields": FIELDS,
        "headers": {"X-Api-Key": HEADER_SECRET},
        "max_age": "26h",
    }
    settings.update(extra)
    return Custodian.model_validate(settings)


def rec(isin: str, qty: Any, account: str = "SAFE-1", as_of: Any = AS_OF) -> dict[str, Any]:
    return {"isin": isin, "sharesHeld": qty, "updatedAt": as_of, "account": account}


def fetch(cust: Custodian, **options: Any) -> list[Statement]:
    options.setdefault("backoff", 0.01)
    return asyncio.run(fetch_statements("issuer-api", cust, **options))


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text!r}"


def error_of(cust: Custodian, **options: Any) -> SourceError:
    with pytest.raises(SourceError) as info:
        fetch(cust, **options)
    err = info.value
    assert_no_secret(str(err), repr(err), err.message, err.source)
    return err


def holdings(statements: list[Statement]) -> dict[tuple[str, str], Decimal]:
    return {(st.account, h.isin): h.quantity for st in statements for h in st.holdings}


# ---------------------------------------------------------------------- pure: MockTransport


def mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def serve_json(text: str | bytes, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    content = text.encode() if isinstance(text, str) else text
    return lambda request: httpx.Response(status, content=content)


URL = f"https://reserves.example{PATH}?key={QUERY_SECRET}"


def run_mock(text: str | bytes, cust: Custodian | None = None, **options: Any) -> list[Statement]:
    return fetch(cust or custodian(URL), client=mock(serve_json(text)), cache=False, **options)


def mock_error(text: str | bytes, cust: Custodian | None = None, **options: Any) -> SourceError:
    return error_of(cust or custodian(URL), client=mock(serve_json(text)), cache=False, **options)


def test_json_numbers_are_exact_decimals_never_floats() -> None:
    text = (
        '{"data": [{"isin": "US88160R1014", "sharesHeld": 1523.1, "updatedAt": '
        f'"{AS_OF}", "account": "A", "price": 0.1}},'
        f'{{"isin": "{AAPL}", "sharesHeld": 0.0000001, "updatedAt": "{AS_OF}", "account": "A"}},'
        f'{{"isin": "{NVDA}", "sharesHeld": 1.50E+2, "updatedAt": "{AS_OF}", "account": "A"}}]}}'
    )
    (st,) = run_mock(text)
    got = {h.isin: h.quantity for h in st.holdings}
    assert got == {TSLA: Decimal("1523.1"), AAPL: Decimal("0.0000001"), NVDA: Decimal("150")}
    assert str(got[TSLA]) == "1523.1"  # not 1523.0999999999999 (what a float would give)
    assert all(type(q) is Decimal for q in got.values())


def test_strings_and_integers_and_places_kept() -> None:
    doc = {"data": [rec(TSLA, "1523.000000"), rec(AAPL, 42)]}
    (st,) = run_mock(json.dumps(doc))
    assert [(h.isin, str(h.quantity)) for h in st.holdings] == [
        (TSLA, "1523.000000"),
        (AAPL, "42"),
    ]
    assert st.account == "SAFE-1" and st.as_of == AS_OF_DT and st.custodian == "issuer-api"
    assert st.file == "https://reserves.example/…"


def test_nan_and_infinity_are_not_json() -> None:
    err = mock_error('{"data": [{"isin": "US88160R1014", "sharesHeld": NaN}]}')
    assert "not JSON" in err.message and err.page == 1


def test_unix_seconds_as_of_and_default_account() -> None:
    fields = {"isin": "isin", "quantity": "sharesHeld", "as_of": "updatedAt"}
    doc = {"data": [rec(TSLA, "1", as_of=1795219199), rec(AAPL, "2", as_of=1795219199)]}
    (st,) = run_mock(json.dumps(doc), custodian(URL, fields=fields))
    assert st.as_of == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
    assert st.account == "issuer-api"  # the custodian's name when there is no account field


def test_milliseconds_are_refused() -> None:
    err = mock_error(json.dumps({"data": [rec(TSLA, "1", as_of=1795219199000)]}))
    assert err.field == "as_of (updatedAt)" and err.record == 0
    assert "milliseconds" in err.message


def test_one_statement_per_account_and_as_of() -> None:
    later = "2026-11-21T23:59:59Z"
    doc = {
        "data": [
            rec(TSLA, "10", "A"),
            rec(AAPL, "20", "A"),
            rec(TSLA, "11", "A", later),
            rec(TSLA, "5", "B"),
        ]
    }
    statements = run_mock(json.dumps(doc))
    keys = [(st.account, st.as_of.day, len(st.holdings)) for st in statements]
    assert keys == [("A", 20, 2), ("A", 21, 1), ("B", 20, 1)]
    book = build_book("issuer-api", statements, [statements[0].file])
    assert book.latest["A"].as_of.day == 21  # the newest (account, as_of) wins, as for CSV
    assert [h.quantity for _, h in book.positions(TSLA) if h] == [Decimal("11"), Decimal("5")]


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({"isin": TSLA, "updatedAt": AS_OF, "account": "A"}, "quantity (sharesHeld)", "missing"),
        ({"sharesHeld": "1", "updatedAt": AS_OF, "account": "A"}, "isin", "missing"),
        (rec(TSLA, True), "quantity (sharesHeld)", "boolean"),
        (rec(TSLA, "-3"), "quantity (sharesHeld)", "negative"),
        (rec(TSLA, "1,5"), "quantity (sharesHeld)", "not a decimal"),
        (rec(TSLA, {"v": 1}), "quantity (sharesHeld)", "decimal string"),
        (rec("US88160R1015", "1"), "isin", "not a valid ISIN"),
        (rec(1234, "1"), "isin", "must be a string"),
        (rec(TSLA, "1", as_of="2026-11-20T23:59:59"), "as_of (updatedAt)", "no timezone"),
        (rec(TSLA, "1", as_of="2026-11-20"), "as_of (updatedAt)", "no time of day"),
        (rec(TSLA, "1", account=""), "account", "non-empty"),
    ],
)
def test_a_bad_record_names_field_and_index(record: dict[str, Any], field: str, words: str) -> None:
    doc = {"data": [rec(AAPL, "1"), record]}
    err = mock_error(json.dumps(doc))
    assert (err.page, err.record, err.field) == (1, 1, field)
    assert words in err.message
    assert f"record [1]: {field}: " in str(err)
    assert str(err).startswith("custodian 'issuer-api': https://reserves.example/… page 1: ")


def test_items_not_a_list() -> None:
    err = mock_error(json.dumps({"data": {"isin": TSLA}}), custodian(URL, items="data"))
    assert err.field == "items" and "gave an object, not a list" in err.message
    err = mock_error(json.dumps({"results": []}))
    assert err.field == "items" and "gave null" in err.message


def test_no_records_at_all_is_an_error_not_zero_custody() -> None:
    err = mock_error(json.dumps({"data": []}))
    assert err.field == "items" and "no records" in err.message


def test_an_isin_twice_in_one_statement() -> None:
    err = mock_error(json.dumps({"data": [rec(TSLA, "1"), rec(AAPL, "1"), rec(TSLA, "2")]}))
    assert (err.record, err.field) == (2, "isin")
    assert "stated twice" in err.message and "record [0]" in err.message


def test_not_json_and_too_large() -> None:
    assert "not JSON" in mock_error(b"<html>502 Bad Gateway</html>").message
    big = json.dumps({"data": [rec(TSLA, "1")] * 100})
    err = mock_error(big, max_body_bytes=1000)
    assert err.message.startswith(f"answer of {len(big)} bytes is larger than the 1000 bytes")

    async def chunks() -> Any:  # no content-length: the cap holds while reading
        for _ in range(100):
            yield body(rec(TSLA, "1"))

    stream = mock(lambda request: httpx.Response(200, content=chunks()))
    err = error_of(custodian(URL), client=stream, cache=False, max_body_bytes=1000)
    assert err.message == "answer is larger than the 1000 bytes allowed"
    assert len(run_mock(json.dumps({"data": [rec(TSLA, "1")]}), max_body_bytes=1000)) == 1


def test_http_errors_are_not_retried_but_named() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(403, content=b"forbidden: " + request.url.raw_path)

    err = error_of(custodian(URL), client=mock(handler), cache=False)
    assert "HTTP 403" in err.message and "API key" in err.message and not err.transient
    assert len(calls) == 1


def test_redirects_are_not_followed() -> None:
    where = f"https://elsewhere.example/{PATH_SECRET}"

    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": where})

    err = error_of(custodian(URL), client=mock(redirect), cache=False)
    assert "HTTP 302" in err.message and "redirects are not followed" in err.message


def test_next_to_another_server_is_refused() -> None:
    doc = {"data": [rec(TSLA, "1")], "links": {"next": f"https://evil.example/x?k={PATH_SECRET}"}}
    err = mock_error(json.dumps(doc), custodian(URL, next="links.next"))
    assert err.field == "next" and err.message.endswith(
        "another server, refused as it would receive the headers: https://evil.example/…"
    )


def test_next_of_the_wrong_type() -> None:
    doc = {"data": [rec(TSLA, "1")], "links": {"next": 2}}
    err = mock_error(json.dumps(doc), custodian(URL, next="links.next"))
    assert (err.field, err.message) == ("next", "gave a number, not a URL")


def test_pages_are_capped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(parse_qs(urlsplit(str(request.url)).query).get("page", ["1"])[0])
        doc = {"data": [rec(TSLA, "1", account=f"A{n}")], "next": f"?page={n + 1}"}
        return httpx.Response(200, content=body(doc))

    stats = FetchStats()
    with pytest.raises(SourceError) as info:
        cust = custodian(URL, next="next")
        fetch(cust, client=mock(handler), cache=False, max_pages=5, stats=stats)
    assert "more than 5 pages" in info.value.message and info.value.page == 5
    assert stats.requests == 5


def test_schema_checks_the_settings_without_echoing_the_url() -> None:
    cases = {
        f"http://reserves.example{PATH}?key={QUERY_SECRET}": "https://",
        f"ftp://reserves.example{PATH}": "https://",
    }
    for url, words in cases.items():
        with pytest.raises(ValueError) as info:
            custodian(url)
        assert words in str(info.value)
        assert_no_secret(str(info.value))
    with pytest.raises(ValueError, match=r"unknown field\(s\) qty"):
        custodian(URL, fields={**FIELDS, "qty": "x"})
    with pytest.raises(ValueError, match="items: 'data\\[' is not a JMESPath expression"):
        custodian(URL, items="data[")
    with pytest.raises(ValueError, match=r"fields\.quantity: "):
        custodian(URL, fields={**FIELDS, "quantity": "a..b"})
    assert custodian(f"http://127.0.0.1:8/{PATH_SECRET}").url  # plain http to loopback is fine


def test_registry_registers_the_url_and_headers_as_secrets(tmp_path: Path) -> None:
    from xstock_audit import registry

    path = tmp_path / "xstocks.yaml"
    path.write_text(
        """\
version: 1
chains:
  ethereum: {type: evm, chain_id: 1, rpc: ["https://rpc.example"]}
custodians:
  issuer-api:
    format: http-json
    url: "${RESERVES_URL}"
    headers: {X-Api-Key: "${RESERVES_KEY}"}
    items: "data[]"
    fields: {isin: isin, quantity: sharesHeld, as_of: updatedAt}
    max_age: 26h
tokens:
  - symbol: TSLAx
    isin: US88160R1014
    custodian: issuer-api
    deployments:
      - {chain: ethereum, address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"}
"""
    )
    reg = registry.load(path, env={"RESERVES_URL": URL, "RESERVES_KEY": HEADER_SECRET})
    assert reg.custodians["issuer-api"].url == URL
    scrubbed = redact.scrub(f"GET {URL} with {HEADER_SECRET}")
    assert scrubbed == "GET https://reserves.example/… with …"


def test_cache_files_are_named_by_a_hash(tmp_path: Path) -> None:
    cache = ETagCache(tmp_path)
    headers = {"X-Api-Key": HEADER_SECRET}
    cache.store(URL, headers, '"v1"', b"{}")
    (entry,) = tmp_path.iterdir()
    assert_no_secret(entry.name)
    assert entry.stat().st_mode & 0o077 == 0
    loaded = cache.load(URL, headers)
    assert loaded is not None and (loaded.etag, loaded.body) == ('"v1"', b"{}")
    assert cache.load(URL, {"X-Api-Key": "another key"}) is None  # keys never share answers
    entry.write_bytes(entry.read_bytes()[:-1] + b"]")  # corrupt: the checksum fails
    assert cache.load(URL, headers) is None
    entry.write_bytes(b"garbage")
    assert cache.load(URL, headers) is None
    cache.store(URL, headers, 'bad\netag"', b"{}")  # not a header value: not cached
    assert cache.load(URL, headers) is None


# ---------------------------------------------------------------------- slow: a real server


PAGES = {
    1: {"data": [rec(TSLA, "1523.000000"), rec(AAPL, "10")], "links": {"next": None}},
    2: {"data": [rec(NVDA, "7", "SAFE-2")]},
    3: {"data": [rec(TSLA, "2", "SAFE-3")]},
}


def paged(api_path: str) -> Callable[[Request], Reply]:
    """Page n at `api_path?key=…&page=n`; page 1 links to page 2 by an absolute path, page 2
    to page 3 by a query-only relative link; ETags are the page numbers."""

    def handler(req: Request) -> Reply:
        parts = urlsplit(req.path)
        query = parse_qs(parts.query)
        if parts.path != api_path or query.get("key") != [QUERY_SECRET]:
            return Reply(404, b"{}")
        if req.headers.get("x-api-key") != HEADER_SECRET:
            return Reply(401, b"{}")
        n = int(query.get("page", ["1"])[0])
        doc = json.loads(json.dumps(PAGES[n]))
        if n == 1:
            doc["links"]["next"] = f"{api_path}?key={QUERY_SECRET}&page=2"
        if n == 2:
            doc["links"] = {"next": f"?key={QUERY_SECRET}&page=3"}
        etag = f'"page-{n}"'
        if req.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"etag": etag})
        return Reply(200, body(doc), {"etag": etag})

    return handler


@pytest.mark.slow
def test_pages_etag_cache_and_304(tmp_path: Path) -> None:
    with JsonApi(paged(PATH)) as api:
        port = urlsplit(api.base).port
        cust = custodian(f"{api.base}{PATH}?key={QUERY_SECRET}", next="links.next")
        first_stats, second_stats = FetchStats(), FetchStats()
        first = fetch(cust, cache_dir=tmp_path, stats=first_stats)
        first_requests = list(api.requests)
        second = fetch(cust, cache_dir=tmp_path, stats=second_stats)
        second_requests = api.requests[len(first_requests) :]
    assert holdings(first) == {
        ("SAFE-1", TSLA): Decimal("1523.000000"),
        ("SAFE-1", AAPL): Decimal("10"),
        ("SAFE-2", NVDA): Decimal("7"),
        ("SAFE-3", TSLA): Decimal("2"),
    }
    assert [st.file for st in first] == [f"http://127.0.0.1:{port}/… page {n}" for n in (1, 2, 3)]
    for st in first:
        assert_no_secret(st.file, *(h.file for h in st.holdings))
    # the relative link resolved against page 2's URL: same path, new query
    assert [urlsplit(r.path).query for r in first_requests] == [
        f"key={QUERY_SECRET}",
        f"key={QUERY_SECRET}&page=2",
        f"key={QUERY_SECRET}&page=3",
    ]
    assert all(r.headers["x-api-key"] == HEADER_SECRET for r in first_requests)
    assert not any("if-none-match" in r.headers for r in first_requests)
    assert (first_stats.requests, first_stats.not_modified, first_stats.pages) == (3, 0, 3)
    # second run: three conditional requests, three 304s, the same statements
    assert [r.headers.get("if-none-match") for r in second_requests] == [
        '"page-1"',
        '"page-2"',
        '"page-3"',
    ]
    assert (second_stats.requests, second_stats.not_modified) == (3, 3)
    assert second == first
    for entry in tmp_path.iterdir():
        assert_no_secret(entry.name)


@pytest.mark.slow
def test_a_corrupt_cache_entry_is_ignored(tmp_path: Path) -> None:
    with JsonApi(paged(PATH)) as api:
        cust = custodian(f"{api.base}{PATH}?key={QUERY_SECRET}", next="links.next")
        first = fetch(cust, cache_dir=tmp_path)
        entries = sorted(tmp_path.iterdir())
        assert len(entries) == 3
        for entry in entries:
            entry.write_bytes(entry.read_bytes().replace(b"SAFE", b"EVIL"))
        stats = FetchStats()
        again = fetch(cust, cache_dir=tmp_path, stats=stats)
        sent = [r.headers.get("if-none-match") for r in api.requests[3:]]
    assert sent == [None, None, None]  # no entry passed its checksum: plain GETs
    assert stats.not_modified == 0 and again == first


@pytest.mark.slow
def test_503_then_success_is_retried_after_retry_after(tmp_path: Path) -> None:
    answers = iter([Reply(503, b"{}", {"retry-after": "1"})])

    def handler(req: Request) -> Reply:
        return next(answers, None) or Reply(200, body({"data": [rec(TSLA, "3")]}))

    with JsonApi(handler) as api:
        stats = FetchStats()
        started = time.monotonic()
        (st,) = fetch(custodian(f"{api.base}{PATH}?key={QUERY_SECRET}"), cache=False, stats=stats)
        elapsed = time.monotonic() - started
        assert len(api.requests) == 2
    assert (stats.requests, stats.retries) == (2, 1)
    assert st.holdings[0].quantity == Decimal("3")
    assert 1.0 <= elapsed < 5.0  # waited as Retry-After said, not the 0.01 s backoff


@pytest.mark.slow
def test_503_forever_is_a_transient_error_without_secrets() -> None:
    with JsonApi(lambda req: Reply(503, f"down {req.path}".encode())) as api:
        err = error_of(custodian(f"{api.base}{PATH}?key={QUERY_SECRET}"), cache=False, retries=2)
        assert len(api.requests) == 3
    assert err.transient and err.page == 1
    assert "HTTP 503 (after 3 attempts)" in str(err)


@pytest.mark.slow
def test_connection_refused_is_transient_without_secrets() -> None:
    with JsonApi(lambda req: Reply(200, b"{}")) as api:
        base = api.base
    err = error_of(custodian(f"{base}{PATH}?key={QUERY_SECRET}"), cache=False, retries=1)
    assert err.transient and "ConnectError" in err.message and "after 2 attempts" in err.message


@pytest.mark.slow
def test_a_loop_in_next_links_is_refused() -> None:
    def handler(req: Request) -> Reply:
        n = 2 if "page=2" in req.path else 1
        other = f"{PATH}?key={QUERY_SECRET}" + ("" if n == 2 else "&page=2")
        return Reply(200, body({"data": [rec(TSLA, "1", f"A{n}")], "next": other}))

    with JsonApi(handler) as api:
        err = error_of(custodian(f"{api.base}{PATH}?key={QUERY_SECRET}", next="next"), cache=False)
        assert len(api.requests) == 2
    assert (err.page, err.field) == (2, "next")
    assert "leads back to page 1: a loop" in err.message


@pytest.mark.slow
def test_a_missing_quantity_on_page_two_names_page_and_record(tmp_path: Path) -> None:
    def handler(req: Request) -> Reply:
        if "page=2" in req.path:
            return Reply(200, body({"data": [rec(AAPL, "1"), {"isin": TSLA, "account": "A"}]}))
        return Reply(200, body({"data": [rec(NVDA, "1")], "next": "reserves?page=2"}))

    with JsonApi(handler) as api:
        err = error_of(custodian(f"{api.base}{PATH}?key={QUERY_SECRET}", next="next"), cache=False)
        assert urlsplit(api.requests[1].path).path == PATH  # `reserves` relative to …/reserves
    assert (err.page, err.record, err.field) == (2, 1, "quantity (sharesHeld)")
    assert str(err).endswith(
        "page 2: record [1]: quantity (sharesHeld): missing (the expression gave null; "
        "the record is an object)"
    )


@pytest.mark.slow
def test_a_slow_drip_answer_hits_the_deadline() -> None:
    def handler(req: Request) -> Reply:
        return Reply(200, body({"data": [rec(TSLA, "1")]}), delay=2.0)

    with JsonApi(handler) as api:
        started = time.monotonic()
        cust = custodian(f"{api.base}{PATH}?key={QUERY_SECRET}")
        err = error_of(cust, cache=False, retries=0, timeout=0.5)
        assert time.monotonic() - started < 1.9
    assert err.transient and err.message == "no complete answer within 0.5s"
