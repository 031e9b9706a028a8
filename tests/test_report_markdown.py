"""The Markdown report against golden files written by hand (tests/data/reports/*.md).

The golden files were typed from the fixtures' figures (tests/report_fixtures.py), not copied
from the renderer's output. No node, no subprocess: not `slow`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from report_fixtures import five_tokens, gated

from xstock_audit.report import Options, renderer
from xstock_audit.report.markdown import escape

GOLDEN = Path(__file__).parent / "data" / "reports"


@pytest.mark.parametrize(
    ("name", "make"),
    [("five-tokens.md", five_tokens), ("gated.md", gated)],
    ids=["five-tokens", "gated"],
)
def test_markdown_matches_the_golden_file(name: str, make: object) -> None:
    assert callable(make)
    text = renderer("markdown")(make(), Options())
    assert text == (GOLDEN / name).read_text(encoding="utf-8")


def test_markdown_ignores_the_table_options() -> None:
    result = five_tokens()
    plain = renderer("markdown")(result, Options())
    for options in (Options(details=True), Options(color=True), Options(width=40)):
        assert renderer("markdown")(result, options) == plain


def test_every_table_row_has_six_cells_whatever_the_values() -> None:
    """A `|` in a value is escaped: splitting on unescaped pipes gives the six columns."""
    text = renderer("markdown")(gated(), Options())
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    token_rows = rows[1:5]  # header, then the 4 tokens (the delimiter row starts "|---")
    for row in token_rows:
        cells = re.split(r"(?<!\\)\|", row)[1:-1]
        assert len(cells) == 6, row


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a|b", r"a\|b"),
        ("*x* _y_", r"\*x\* \_y\_"),
        ("<script>", r"\<script>"),
        ("[a](b)", r"\[a\](b)"),
        ("`c`", r"\`c\`"),
        ("~~s~~", r"\~\~s\~\~"),
        ("&amp;", r"\&amp;"),
        ("@bob #1", r"\@bob \#1"),
        ("back\\slash", r"back\\slash"),
        ("two\r\n  lines\nthree", "two lines three"),
        ("2050.5 -1 +2 (x)", "2050.5 -1 +2 (x)"),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


def test_markdown_heading_when_the_gate_passes_without_every_token_backed() -> None:
    """An ignored UNDER and a STALE outside fail_on: exit 0, but not "all backed"."""
    result = gated()
    gate = dataclasses.replace(result.gate, failed=(), exit_code=0) if result.gate else None
    tokens = result.tokens[:3]  # AAPLx BACKED, NVDAx UNDER (ignored), SPYx STALE
    text = renderer("markdown")(dataclasses.replace(result, tokens=tokens, gate=gate), Options())
    assert text.splitlines()[0] == "## xstock-audit: passed (exit 0)"
    assert "- failed: none" in text.splitlines()
    all_backed = dataclasses.replace(result, tokens=tokens[:1], gate=None)
    assert renderer("markdown")(all_backed, Options()).startswith(
        "## xstock-audit: all backed (exit 0)\n"
    )
