"""Custody attestations: the native JSON/YAML and CSV formats, newest-per-account, summing,
and a matrix of malformed files with exact file:line (counted by hand from the texts below).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from xstock_audit import custody, yamlsrc
from xstock_audit.custody import CustodyBook, Statement, build_book, read_custodian, read_files
from xstock_audit.errors import InputError

TSLA = "US88160R1014"
AAPL = "US0378331005"
SPY = "US78462F1030"
CUST = "acme-custody"
AS_OF = datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)

# line numbers:                                                            1..9
JSON = """\
{
  "custodian": "acme-custody",
  "account": "SAFE-0001",
  "as_of": "2026-11-20T23:59:59Z",
  "holdings": [
    {"isin": "US88160R1014", "quantity": "1523.000000"},
    {"isin": "US0378331005", "quantity": "2210.5"}
  ]
}
"""

YAML = """\
custodian: acme-custody
account: SAFE-0002
as_of: 2026-11-21T01:00:00+01:00
holdings:
  - isin: US88160R1014
    quantity: "10"
  - isin: US78462F1030
    quantity: "0.000001"
"""

CSV = """\
isin,quantity,as_of,account,note
US88160R1014,100.25,2026-11-20T23:59:59Z,SAFE-0003,first
US78462F1030,7,2026-11-20T23:59:59Z,SAFE-0003,
US88160R1014,5,2026-11-19T12:00:00Z,SAFE-0004,older day
"""


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def sub(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# ------------------------------------------------------------------------ valid files


def test_native_json(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json", JSON)
    (st,) = read_files([path], tmp_path)
    assert st.account == "SAFE-0001"
    assert st.custodian == CUST
    assert st.file == "a.json"
    assert st.as_of == AS_OF
    assert st.as_of.utcoffset() == timedelta(0)
    assert [(h.isin, h.quantity, h.where()) for h in st.holdings] == [
        (TSLA, Decimal("1523.000000"), 6),
        (AAPL, Decimal("2210.5"), 7),
    ]
    # exact: places are kept, nothing went through a float
    assert str(st.holdings[0].quantity) == "1523.000000"
    assert all(type(h.quantity) is Decimal for h in st.holdings)


def test_native_yaml_offset_converted_to_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "b.yaml", YAML)
    (st,) = read_files([path], tmp_path)
    assert st.account == "SAFE-0002"
    assert st.as_of == datetime(2026, 11, 21, 0, 0, 0, tzinfo=UTC)
    assert st.as_of.tzinfo is UTC
    assert [(h.isin, h.quantity, h.where()) for h in st.holdings] == [
        (TSLA, Decimal("10"), 5),
        (SPY, Decimal("0.000001"), 7),
    ]


def test_native_yml_unquoted_timestamp_and_list_of_statements(tmp_path: Path) -> None:
    text = (
        "- account: A\n"
        "  as_of: 2026-11-20T23:59:59Z\n"
        "  holdings: [{isin: US88160R1014, quantity: '1'}]\n"
        "- account: 42\n"
        "  as_of: 2026-11-20T22:00:00-02:00\n"
        "  holdings: []\n"
    )
    a, b = read_files([write(tmp_path, "s.yml", text)], tmp_path)
    assert (a.account, a.as_of, a.custodian) == ("A", AS_OF, None)
    assert (b.account, b.as_of, b.holdings) == ("42", datetime(2026, 11, 21, tzinfo=UTC), ())
    assert b.line == 4


def test_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", CSV)
    sts = sorted(read_files([path], tmp_path), key=lambda s: (s.account, s.as_of))
    assert [(s.account, s.as_of, s.line) for s in sts] == [
        ("SAFE-0003", AS_OF, 2),
        ("SAFE-0004", datetime(2026, 11, 19, 12, tzinfo=UTC), 4),
    ]
    assert [(h.isin, h.quantity, h.where()) for h in sts[0].holdings] == [
        (TSLA, Decimal("100.25"), 2),
        (SPY, Decimal("7"), 3),
    ]
    assert all(s.custodian is None and s.as_of.tzinfo is UTC for s in sts)


def test_csv_bom_crlf_blank_lines_and_custodian_column(tmp_path: Path) -> None:
    text = (
        "\ufeffISIN , Quantity,as_of,account,custodian\r\n"
        "\r\n"
        f"{TSLA},1.5,2026-11-20T23:59:59Z,SAFE-9,acme-custody\r\n"
    )
    (st,) = read_files([write(tmp_path, "d.csv", text)], tmp_path)
    assert st.custodian == CUST
    assert st.line == 3
    assert st.holdings[0].quantity == Decimal("1.5")


def test_example_attestations_in_repo() -> None:
    base = Path(__file__).resolve().parent.parent / "examples"
    book = read_custodian("example-custody", ["attestations/*.json", "attestations/*.csv"], base)
    assert sorted(book.latest) == ["SAFE-0001", "SAFE-0002"]
    assert sum(h.quantity for _, h in book.positions(TSLA) if h) == Decimal("1523.000000")


# ------------------------------------------------------------------ books: newest, sums


def _quantities(book: CustodyBook, isin: str) -> dict[str, Decimal | None]:
    return {st.account: (h.quantity if h else None) for st, h in book.positions(isin)}


@pytest.mark.parametrize("old_name", ["a-old.json", "z-old.json"])  # file order must not matter
def test_newest_statement_per_account_wins_across_files(tmp_path: Path, old_name: str) -> None:
    folder = tmp_path / "att"
    older = sub(sub(JSON, "2026-11-20T23:59:59Z", "2026-11-19T23:59:59Z"), "1523.000000", "999")
    write(folder, old_name, older)
    write(folder, "m-new.json", JSON)
    # the same account, newest of all, from a CSV: it only holds TSLA
    write(
        folder,
        "n-newest.csv",
        f"isin,quantity,as_of,account\n{TSLA},1600,2026-11-21T08:00:00Z,SAFE-0001\n",
    )
    write(folder, "ignored.txt", "not matched by the globs")

    book = read_custodian(CUST, ["att/*.json", "att/*.csv"], tmp_path)

    assert sorted(book.files) == sorted([f"att/{old_name}", "att/m-new.json", "att/n-newest.csv"])
    st = book.latest["SAFE-0001"]
    assert st.as_of == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert st.file == "att/n-newest.csv"
    assert _quantities(book, TSLA) == {"SAFE-0001": Decimal(1600)}
    # AAPL is not in the newest statement: the older statements do not leak in
    assert _quantities(book, AAPL) == {"SAFE-0001": None}


def test_newest_without_the_newer_csv(tmp_path: Path) -> None:
    older = sub(sub(JSON, "2026-11-20T23:59:59Z", "2026-11-19T23:59:59Z"), "1523.000000", "999")
    write(tmp_path, "z.json", older)
    write(tmp_path, "a.json", JSON)
    book = read_custodian(CUST, ["*.json"], tmp_path)
    assert _quantities(book, TSLA) == {"SAFE-0001": Decimal("1523.000000")}


def test_accounts_are_summed(tmp_path: Path) -> None:
    write(tmp_path, "a.json", JSON)
    write(tmp_path, "b.yaml", YAML)
    write(tmp_path, "c.csv", CSV)
    book = read_custodian(CUST, ["*.json", "*.yaml", "*.csv"], tmp_path)
    assert sorted(book.latest) == ["SAFE-0001", "SAFE-0002", "SAFE-0003", "SAFE-0004"]
    q = _quantities(book, TSLA)
    assert q == {
        "SAFE-0001": Decimal("1523.000000"),
        "SAFE-0002": Decimal("10"),
        "SAFE-0003": Decimal("100.25"),
        "SAFE-0004": Decimal("5"),
    }
    total = sum((v for v in q.values() if v is not None), Decimal(0))
    assert total == Decimal("1638.250000")
    assert _quantities(book, SPY) == {
        "SAFE-0001": None,
        "SAFE-0002": Decimal("0.000001"),
        "SAFE-0003": Decimal("7"),
        "SAFE-0004": None,
    }


def test_same_account_same_as_of_from_two_files_is_merged(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", f"isin,quantity,as_of,account\n{TSLA},1,2026-11-20T23:59:59Z,X\n")
    write(tmp_path, "b.csv", f"isin,quantity,as_of,account\n{AAPL},2,2026-11-20T23:59:59Z,X\n")
    book = read_custodian(CUST, ["*.csv"], tmp_path)
    assert _quantities(book, TSLA) == {"X": Decimal(1)}
    assert _quantities(book, AAPL) == {"X": Decimal(2)}


def test_custodian_mismatch_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.json", JSON)
    with pytest.raises(InputError) as info:
        read_custodian("other-custody", ["*.json"], tmp_path)
    err = info.value
    assert err.file == "a.json"
    assert err.field == "custodian"
    assert "acme-custody" in err.render() and "other-custody" in err.render()


def test_csv_custodian_column_mismatch(tmp_path: Path) -> None:
    text = f"isin,quantity,as_of,account,custodian\n{TSLA},1,2026-11-20T23:59:59Z,X,beta\n"
    write(tmp_path, "a.csv", text)
    with pytest.raises(InputError) as info:
        read_custodian(CUST, ["*.csv"], tmp_path)
    assert (info.value.file, info.value.line) == ("a.csv", 2)


def test_duplicate_isin_in_one_statement(tmp_path: Path) -> None:
    write(tmp_path, "a.json", sub(JSON, AAPL, TSLA))
    with pytest.raises(InputError) as info:
        read_custodian(CUST, ["*.json"], tmp_path)
    err = info.value
    assert (err.file, err.line) == ("a.json", 7)
    assert TSLA in err.render() and "line 6" in err.render()


def test_duplicate_isin_in_one_csv_statement(tmp_path: Path) -> None:
    text = (
        "isin,quantity,as_of,account\n"
        f"{TSLA},1,2026-11-20T23:59:59Z,X\n"
        f"{AAPL},1,2026-11-20T23:59:59Z,X\n"
        f"{TSLA},2,2026-11-20T23:59:59Z,X\n"
    )
    write(tmp_path, "a.csv", text)
    with pytest.raises(InputError) as info:
        read_custodian(CUST, ["*.csv"], tmp_path)
    assert (info.value.file, info.value.line) == ("a.csv", 4)


def test_build_book_directly() -> None:
    st = Statement(account="A", as_of=AS_OF, holdings=(), file="f.json", line=1, custodian=None)
    book = build_book(CUST, [st], ["f.json"])
    assert book.positions(TSLA) == [(book.latest["A"], None)]


# -------------------------------------------------------------------- malformed matrix

BIG_DIGITS = "1" * 40


@dataclass(frozen=True)
class Bad:
    id: str
    name: str
    content: str | bytes
    line: int | None
    needle: str


def _bad_holding(quantity: str) -> str:
    return sub(JSON, '"quantity": "1523.000000"', f'"quantity": {quantity}')


CASES = [
    # --- file level
    Bad("json-syntax", "a.json", sub(JSON, '"SAFE-0001",', '"SAFE-0001"'), 4, "invalid"),
    Bad("json-unclosed", "a.json", JSON[: JSON.rindex("}")], 9, "invalid"),
    Bad("empty-json", "a.json", "", 1, "empty"),
    Bad("empty-yaml-comments-only", "a.yaml", "# nothing here\n", 1, "empty"),
    Bad("binary", "a.json", b'{"account": "\x00\x01"}\n', None, "binary"),
    Bad("non-utf8", "a.json", sub(JSON, "SAFE-0001", "SAFE-\xe9").encode("latin-1"), 3, "UTF-8"),
    Bad(
        "duplicate-key",
        "a.json",
        sub(JSON, '  "as_of"', '  "account": "B",\n  "as_of"'),
        4,
        "account",
    ),
    Bad("top-level-scalar", "a.json", '"just a string"\n', 1, "mapping"),
    Bad("top-level-empty-list", "a.json", "[]\n", 1, "empty"),
    # --- keys
    Bad("unknown-key", "a.json", sub(JSON, '"account"', '"acount"'), 3, "acount"),
    Bad(
        "unknown-holding-key",
        "a.json",
        sub(JSON, '"quantity": "2210.5"', '"qty": "2210.5"'),
        7,
        "qty",
    ),
    Bad(
        "missing-as_of", "a.json", sub(JSON, '  "as_of": "2026-11-20T23:59:59Z",\n', ""), 1, "as_of"
    ),
    Bad("missing-account", "a.json", sub(JSON, '  "account": "SAFE-0001",\n', ""), 1, "account"),
    Bad(
        "missing-holdings",
        "a.json",
        '{\n  "account": "SAFE-0001",\n  "as_of": "2026-11-20T23:59:59Z"\n}\n',
        1,
        "holdings",
    ),
    Bad("missing-quantity", "a.json", sub(JSON, ', "quantity": "2210.5"', ""), 7, "quantity"),
    Bad(
        "holdings-not-a-list",
        "a.json",
        sub(JSON, '"holdings": [', '"holdings": "all", "x": ['),
        5,
        "holdings",
    ),
    Bad(
        "holding-not-a-mapping",
        "a.json",
        sub(JSON, '{"isin": "US0378331005", "quantity": "2210.5"}', '"US0378331005"'),
        7,
        "holding",
    ),
    Bad("custodian-not-a-string", "a.json", sub(JSON, '"acme-custody"', "7"), 2, "custodian"),
    Bad("account-empty", "a.json", sub(JSON, '"SAFE-0001"', '"  "'), 3, "account"),
    # --- quantities
    Bad("quantity-float", "a.json", _bad_holding("1.5"), 6, "floating-point"),
    Bad("quantity-bool", "a.json", _bad_holding("true"), 6, "quantity"),
    Bad("quantity-null", "a.json", _bad_holding("null"), 6, "quantity"),
    Bad("quantity-negative", "a.json", _bad_holding('"-1"'), 6, "negative"),
    Bad("quantity-non-numeric", "a.json", _bad_holding('"abc"'), 6, "abc"),
    Bad("quantity-exponent", "a.json", _bad_holding('"1e3"'), 6, "1e3"),
    Bad("quantity-exponent-number", "a.json", _bad_holding("1e3"), 6, "1e3"),
    Bad("quantity-40-digits", "a.json", _bad_holding(f'"{BIG_DIGITS}"'), 6, "40"),
    Bad("quantity-nan", "a.json", _bad_holding('"NaN"'), 6, "NaN"),
    Bad("quantity-thousands-sep", "a.json", _bad_holding('"1,523"'), 6, "1,523"),
    # --- timestamps
    Bad("as_of-no-timezone", "a.json", sub(JSON, "23:59:59Z", "23:59:59"), 4, "timezone"),
    Bad(
        "as_of-date-only",
        "a.json",
        sub(JSON, "2026-11-20T23:59:59Z", "2026-11-20"),
        4,
        "time of day",
    ),
    Bad("as_of-garbage", "a.json", sub(JSON, "2026-11-20T23:59:59Z", "yesterday"), 4, "yesterday"),
    Bad("as_of-number", "a.json", sub(JSON, '"2026-11-20T23:59:59Z"', "1763683199"), 4, "as_of"),
    # --- ISIN
    Bad("isin-check-digit", "a.json", sub(JSON, "US0378331005", "US0378331006"), 7, "US0378331006"),
    Bad("isin-length", "a.json", sub(JSON, "US0378331005", "US037833100"), 7, "US037833100"),
    # --- YAML native
    Bad(
        "yaml-unquoted-float",
        "a.yaml",
        sub(YAML, 'quantity: "10"', "quantity: 10.0"),
        6,
        "floating-point",
    ),
    Bad(
        "yaml-date-only", "a.yaml", sub(YAML, "2026-11-21T01:00:00+01:00", "2026-11-21"), 3, "as_of"
    ),
    Bad(
        "yaml-naive-timestamp",
        "a.yaml",
        sub(YAML, "2026-11-21T01:00:00+01:00", "2026-11-21T01:00:00"),
        3,
        "timezone",
    ),
    Bad(
        "yaml-second-statement",
        "a.yaml",
        "- account: A\n  as_of: 2026-11-20T23:59:59Z\n  holdings: []\n"
        "- account: B\n  as_of: 2026-11-20T23:59:59Z\n  holdings:\n"
        "    - isin: US88160R1014\n      quantity: '-5'\n",
        8,
        "[1].holdings[0].quantity",
    ),
    # --- CSV
    Bad(
        "csv-missing-column",
        "a.csv",
        CSV.replace("isin,quantity,as_of,account,note", "isin,quantity,account,note"),
        1,
        "as_of",
    ),
    Bad("csv-duplicate-column", "a.csv", "isin,quantity,as_of,account,isin\n", 1, "twice"),
    Bad("csv-empty", "a.csv", "", 1, "empty"),
    Bad("csv-header-only", "a.csv", "isin,quantity,as_of,account\n", 2, "no data rows"),
    Bad(
        "csv-field-count",
        "a.csv",
        sub(
            CSV,
            "US78462F1030,7,2026-11-20T23:59:59Z,SAFE-0003,",
            "US78462F1030,7,2026-11-20T23:59:59Z",
        ),
        3,
        "fields",
    ),
    Bad(
        "csv-bad-quantity",
        "a.csv",
        sub(CSV, "US78462F1030,7,", "US78462F1030,7.0.0,"),
        3,
        "quantity",
    ),
    Bad(
        "csv-bad-quantity-crlf",
        "a.csv",
        sub(CSV, "US78462F1030,7,", "US78462F1030,1e3,").replace("\n", "\r\n"),
        3,
        "1e3",
    ),
    Bad(
        "csv-bad-as_of",
        "a.csv",
        sub(CSV, "2026-11-19T12:00:00Z", "2026-11-19T12:00:00"),
        4,
        "timezone",
    ),
    Bad("csv-bad-isin", "a.csv", sub(CSV, "US78462F1030,7", "US78462F1031,7"), 3, "isin"),
    Bad("csv-empty-account", "a.csv", sub(CSV, "SAFE-0004", ""), 4, "account"),
    Bad("csv-non-utf8", "a.csv", sub(CSV, "older day", "\xe9t\xe9").encode("latin-1"), 4, "UTF-8"),
    # --- dispatch and size (content no format recognises: the suffix decides)
    Bad("unknown-suffix", "a.txt", "holdings of SAFE-0001\n", None, ".txt"),
    Bad("no-suffix", "attestation", "holdings of SAFE-0001\n", None, "no suffix"),
]


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_attestation(tmp_path: Path, case: Bad) -> None:
    path = write(tmp_path / "att", case.name, case.content)
    with pytest.raises(InputError) as info:
        read_files([path], tmp_path)
    err = info.value
    rendered = err.render()
    display = f"att/{case.name}"
    assert err.file == display
    assert err.line == case.line, rendered
    assert case.needle.lower() in rendered.lower(), rendered
    assert rendered.startswith(f"{display}:{case.line}: " if case.line else f"{display}: ")


def test_file_larger_than_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as f:
        f.truncate(yamlsrc.MAX_FILE_BYTES + 1)  # sparse: instant, no disk use
    with pytest.raises(InputError) as info:
        read_files([path], tmp_path)
    assert info.value.file == "huge.json"
    assert info.value.line is None
    assert str(yamlsrc.MAX_FILE_BYTES) in info.value.render()


def test_file_at_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"x" * yamlsrc.MAX_FILE_BYTES)
    assert len(yamlsrc.read_text(path, "a.csv")) == yamlsrc.MAX_FILE_BYTES


def test_format_for_known_suffixes() -> None:
    assert custody.format_for(Path("x.JSON"), "x").name == "native"
    assert custody.format_for(Path("x.yml"), "x").name == "native"
    assert custody.format_for(Path("x.csv"), "x").name == "csv"


# ------------------------------------------------------------------ regressions (bugs found, fixed)


def test_csv_custodian_checked_on_every_row(tmp_path: Path) -> None:
    text = (
        "isin,quantity,as_of,account,custodian\n"
        f"{TSLA},1,2026-11-20T23:59:59Z,X,acme-custody\n"
        f"{AAPL},2,2026-11-20T23:59:59Z,X,beta-custody\n"
    )
    write(tmp_path, "a.csv", text)
    with pytest.raises(InputError) as info:
        read_custodian(CUST, ["*.csv"], tmp_path)
    assert (info.value.file, info.value.line) == ("a.csv", 3)


@pytest.mark.parametrize("raw", ["010", "1_000", "1:30", "0x10"])
def test_yaml_non_decimal_integer_quantity_rejected(tmp_path: Path, raw: str) -> None:
    text = sub(YAML, 'quantity: "10"', f"quantity: {raw}")
    write(tmp_path, "a.yaml", text)
    with pytest.raises(InputError) as info:
        read_files([tmp_path / "a.yaml"], tmp_path)
    assert info.value.line == 6


def test_custodian_mismatch_line_is_the_custodian_key(tmp_path: Path) -> None:
    write(tmp_path, "a.json", JSON)
    with pytest.raises(InputError) as info:
        read_custodian("other-custody", ["*.json"], tmp_path)
    assert info.value.line == 2


def test_glob_metacharacters_in_base_dir(tmp_path: Path) -> None:
    base = tmp_path / "ops[1]"
    write(base, "a.json", JSON)
    book = read_custodian(CUST, ["*.json"], base)
    assert book.files == ("a.json",)
