"""The HTML report: well-formed, self-contained, escaped; and rendered by headless Chromium.

The parser tests use `html.parser.HTMLParser` and the fixtures of tests/report_fixtures.py
(not `slow`). The Chromium tests start a browser (`slow`); they first show that the console
check catches what it must (an uncaught error, a blocked external load), then render the
report, fail on any console message, and keep a screenshot in the test's tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_fixtures import IGNORE_REASON, WEIRD_MESSAGE, WEIRD_SYMBOL, five_tokens, gated
from test_report_formats import API_KEY, GENERATED, QQQ_MESSAGE, STALE_MESSAGE

from xstock_audit.reconcile import AuditResult
from xstock_audit.report import Options, renderer
from xstock_audit.report.html import History, render_html

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}
#: SVG elements written self-closed (`<line …/>`)
SVG_EMPTY = {"line", "polyline", "path", "rect"}

HISTORY: History = {
    "AAPLx": [
        (GENERATED - timedelta(days=3), Decimal("2000"), Decimal("2000")),
        (GENERATED - timedelta(days=2), Decimal("2040.25"), Decimal("2000")),
        (GENERATED - timedelta(days=1), None, Decimal("2050.5")),
        (GENERATED, Decimal("2050.5"), Decimal("2050.5")),
    ]
}


@dataclass
class Page(HTMLParser):
    """Checks nesting as it parses; collects what the tests look at."""

    stack: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    attrs: list[tuple[str, str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    #: table id -> rows of tbody, each a list of cell texts
    tables: dict[str, list[list[str]]] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    style: list[str] = field(default_factory=list)
    doctype: str = ""

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
        d = dict(attrs)
        if tag == "table":
            self._table = d.get("id") or f"#{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None and self._in("tbody"):
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        if tag not in VOID:
            self.stack.append((tag, d))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
        if tag not in VOID and tag not in SVG_EMPTY:
            self.errors.append(f"<{tag}/> self-closed")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.errors.append(f"</{tag}> closes a void element")
            return
        if not self.stack or self.stack[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1][0] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1][0] == "style":
            self.style.append(data)
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def _in(self, tag: str) -> bool:
        return any(t == tag for t, _ in self.stack)


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.errors == []
    assert page.stack == [], f"left open: {[t for t, _ in page.stack]}"
    assert page.doctype.lower() == "doctype html"
    return page


def test_html_is_well_formed_with_one_row_per_token() -> None:
    result = five_tokens()
    page = parse(renderer("html")(result, Options()))
    rows = page.tables["token-table"]
    assert [r[0] for r in rows] == ["AAPLx", "TSLAx", "NVDAx", "SPYx", "QQQx"]
    by_symbol = {r[0]: r[1:] for r in rows}
    assert by_symbol["NVDAx"] == [
        "US67066G1040",
        "500.000000000000000001",
        "500",
        "-0.000000000000000001",
        "UNDERFAIL",  # the status and its marker, two spans
    ]
    assert by_symbol["QQQx"][1:4] == ["—", "45", "—"]  # unknown, never 0
    assert by_symbol["TSLAx"][4] == "OVERok"
    # every chain, with its block or slot and time; base not read
    chains = {r[0]: r[1:3] for r in page.tables["#1"]}
    assert chains == {
        "ethereum": ["block 21000123", "2026-03-02T14:29:59Z"],
        "solana": ["slot 312456789", "2026-03-02T14:30:02Z"],
        "base": ["not read", "—"],
    }
    body = " ".join(page.text)
    for sentence in (STALE_MESSAGE, QQQ_MESSAGE, "SHORTFALL (exit 1)"):
        assert sentence in body
    assert API_KEY not in renderer("html")(result, Options())


def test_html_per_token_deployments_and_attestations() -> None:
    page = parse(renderer("html")(five_tokens(), Options()))
    # after the tokens and the chains, per token its deployments and its attestations (eight
    # columns each)
    details = [t for k, t in page.tables.items() if k.startswith("#") and t and len(t[0]) == 8]
    flat = [r for t in details for r in t]
    assert [
        "solana",
        "XsbEhLAtcf6HdfpFZ5xEMdqW8nfAvcsP5bdudRLJzJp",
        "8",
        "1000",
        "0",
        "1.05 (applied)",
        "1050",
        "",
    ] in flat
    assert [
        "ethereum",
        "0xA11CE00000000000000000000000000000000001",
        "18",
        "1200.5",
        "200",
        "",
        "1000.5",
        "",
    ] in flat
    base = next(r for r in flat if r[0] == "base")
    assert base[3:7] == ["—", "—", "", "—"] and "connection refused" in base[7]
    assert [
        "acme",
        "SAFE-2",
        "acme-safe-2.json",
        "2026-02-26T00:00:00Z",
        "10",
        "",
        "stale",
        "",
    ] in flat


def test_html_escapes_every_value_and_loads_nothing() -> None:
    html = render_html(gated(), Options(), history=HISTORY)
    page = parse(html)
    # markup in values is text, not elements: the one <b> is the gate's, around NVDAx
    assert page.tags.count("b") == 1
    body = "".join(page.text)
    assert WEIRD_MESSAGE in body  # its <b>bold</b>, [link](…) and & came back as text
    assert IGNORE_REASON in body
    assert [r[0] for r in page.tables["token-table"]] == ["AAPLx", "NVDAx", "SPYx", WEIRD_SYMBOL]
    # nothing from outside: no script, no link, no resource attribute, no CSS url()/@import
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    for tag, name, value in page.attrs:
        assert name not in ("src", "href", "xlink:href", "srcset", "action", "xmlns"), (tag, name)
        assert "://" not in value and not value.startswith("//"), (tag, name, value)
    css = "".join(page.style)
    assert "url(" not in css and "@import" not in css
    csp = [v for t, k, v in page.attrs if t == "meta" and k == "content" and "default-src" in v]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]


def test_html_gate_section() -> None:
    page = parse(render_html(gated(), Options()))
    body = " ".join(page.text)
    assert "Fails on: under" in body
    assert f"Failed: {WEIRD_SYMBOL}" in body
    assert f"ignored until 2026-12-01 (registry): {IGNORE_REASON}" in body
    rows = {r[0]: r[-1] for r in page.tables["token-table"]}
    assert rows == {
        "AAPLx": "BACKEDok",
        "NVDAx": "UNDERignored",
        "SPYx": "STALEok",
        WEIRD_SYMBOL: "UNDERFAIL",
    }


def test_html_history_chart() -> None:
    html = render_html(gated(), Options(), history=HISTORY)
    page = parse(html)
    assert "svg" in page.tags
    # on-chain is unknown at the third point: a line through the first two and a lone dot at
    # the fourth (3 dots, 1 line); custody: one line through its four dots
    polylines = [v for t, k, v in page.attrs if t == "polyline" and k == "class"]
    assert sorted(polylines) == ["custody", "onchain"]
    circles = [v for t, k, v in page.attrs if t == "circle" and k == "class"]
    assert circles.count("onchain") == 3 and circles.count("custody") == 4
    titles = " | ".join(page.text)
    assert "onchain 2040.25 at 2026-02-28T14:30:15.654321Z" in titles
    assert "custody 2050.5 at 2026-03-01T14:30:15.654321Z" in titles
    # without history, no chart
    assert "svg" not in parse(render_html(gated(), Options())).tags


def test_html_empty_history_entry_says_so() -> None:
    page = parse(render_html(gated(), Options(), history={"AAPLx": []}))
    assert "AAPLx: no figures in the history." in " ".join(page.text)


# ---------------------------------------------------------------------- Chromium


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    """Chromium, installed from Debian when missing and this is root (as scripts/test does)."""
    found = _chromium()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            "apt-get update -qq && apt-get install -y -qq chromium",
            shell=True,
            capture_output=True,
            timeout=900,
            check=False,
        )
        found = _chromium()
    if found is None:
        pytest.skip(
            "no Chromium: not on PATH, and it cannot be installed here (not root or no apt-get)"
        )
    yield found


@dataclass
class Rendered:
    dom: str
    console: list[str]
    returncode: int


def run_chromium(binary: str, page: Path, work: Path, *mode: str) -> Rendered:
    """Open `page` headless, offline (every host name fails to resolve), and collect its
    console messages from Chromium's log."""
    p = subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={work / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=work,
    )
    console = [
        line
        for line in p.stderr.splitlines()
        if ":CONSOLE" in line or "Uncaught" in line or "Content Security Policy" in line
    ]
    return Rendered(p.stdout, console, p.returncode)


@pytest.mark.slow
def test_the_console_check_catches_errors_and_external_loads(chromium: str, tmp_path: Path) -> None:
    """The check below is only worth something if it sees a failing page fail."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head>'
        '<body><script>throw new Error("boom")</script></body></html>\n'
    )
    got = run_chromium(chromium, bad, tmp_path, "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in got.console), got.console

    external = tmp_path / "external.html"
    html = render_html(gated(), Options())
    external.write_text(html.replace("<body>", '<body><img src="http://example.org/x.png">', 1))
    got = run_chromium(chromium, external, tmp_path, "--dump-dom")
    assert any("http://example.org/x.png" in line for line in got.console), got.console


@pytest.mark.slow
@pytest.mark.parametrize("make", [five_tokens, gated], ids=["five-tokens", "gated"])
def test_chromium_renders_the_report_without_console_errors(
    chromium: str, tmp_path: Path, make: object
) -> None:
    assert callable(make)
    result: AuditResult = make()
    page = tmp_path / "report.html"
    page.write_text(render_html(result, Options(), history=HISTORY), encoding="utf-8")

    got = run_chromium(chromium, page, tmp_path, "--dump-dom")
    assert got.returncode == 0
    assert got.console == []
    dom = parse(got.dom)  # the browser's DOM, serialised: the same table, one row per token
    assert [r[0] for r in dom.tables["token-table"]] == [t.symbol for t in result.tokens]

    shot = tmp_path / "report.png"
    got = run_chromium(chromium, page, tmp_path, "--window-size=1280,2000", f"--screenshot={shot}")
    assert got.returncode == 0 and got.console == []
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 2000)
