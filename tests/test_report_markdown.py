"""The Markdown report against golden files written by hand (tests/data/reports/*.md).

The golden files were typed from the fixtures' figures (tests/report_fixtures.py), not copied
from the renderer's output. No node, no subprocess: not `slow`.
"""

from __future__ import annotations

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
