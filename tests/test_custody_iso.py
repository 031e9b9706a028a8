"""semt.002 and MT535 custody statements, format detection (`format: auto`) and hostile input.

Sample messages are in tests/data/custody/iso (written for these tests from the published
layouts); the variants of one sample are made here by replacing a line.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from xstock_audit.custody import (
    ParseOptions,
    Statement,
    csvfile,
    mt535,
    native,
    read_custodian,
    read_files,
    semt002,
)
from xstock_audit.errors import InputError

DATA = Path(__file__).parent / "data" / "custody" / "iso"
TSLA, AAPL, MSFT = "US88160R1014", "US0378331005", "US5949181045"
ZURICH = ParseOptions(timezone=ZoneInfo("Europe/Zurich"))


def sample(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def positions(st: Statement) -> dict[str, tuple[Decimal, Decimal]]:
    return {h.isin: (h.quantity, h.unavailable) for h in st.holdings}


def semt(text: str, options: ParseOptions = ZURICH) -> list[Statement]:
    return semt002.FORMAT.parse_with(text, "s.xml", options)


def mt(text: str, options: ParseOptions = ZURICH) -> list[Statement]:
    return mt535.FORMAT.parse_with(text, "m.fin", options)


def error(parse: object, text: str) -> InputError:
    assert callable(parse)
    with pytest.raises(InputError) as info:
        parse(text)
    return info.value


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line number of the nth line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


# ---------------------------------------------------------------------- semt.002


def test_semt002_v05_date_only_is_end_of_day_in_the_custodians_zone() -> None:
    (st,) = semt(sample("semt002-v05.xml"))
    assert st.account == "SAFE-0001"
    assert st.as_of == datetime(2026, 11, 20, 22, 59, 59, tzinfo=UTC)  # 23:59:59 CET
    (utc,) = semt002.FORMAT.parse(sample("semt002-v05.xml"), "s.xml")
    assert utc.as_of == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
    # AvlblBal/Qty/Unit (001.05 layout): aggregate 1523 of which 1500 available
    assert positions(st) == {
        TSLA: (Decimal("1500.000000"), Decimal("23.000000")),
        AAPL: (Decimal("-12.5"), Decimal(0)),  # SHOR: a short position is negative
    }
    assert [h.line for h in st.holdings] == [22, 34]
    assert all(type(h.quantity) is Decimal for h in st.holdings)


def test_semt002_v08_not_available_balance_and_breakdowns() -> None:
    (st,) = semt(sample("semt002-v08.xml"))
    assert st.account == "SAFE-0008"
    assert st.as_of == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # the zone given wins
    assert positions(st) == {
        # NotAvlblBal wins; the PLED breakdown is part of it, not added again
        TSLA: (Decimal("1849.5"), Decimal("150.5")),
        # no split given: the PEND breakdown (BalBrkdwn/Qty/Qty/Unit) is not available
        AAPL: (Decimal(460), Decimal(40)),
    }


def test_semt002_v11_layout() -> None:
    (st,) = semt(sample("semt002-v11.xml"))
    assert st.account == "SAFE-0011"
    # a DtTm without a zone is in the custodian's zone
    assert st.as_of == datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    assert positions(st) == {
        TSLA: (Decimal("1500"), Decimal("23.000000")),  # AvlblBal/Qty/Qty/Unit (001.09+)
        # BalBrkdwn/Qty/Qty/QtyAndAvlbty: the indicator decides, not the code (BLOK, true)
        MSFT: (Decimal(275), Decimal(25)),  # an ISIN no token uses: read all the same
        AAPL: (Decimal(-7), Decimal(0)),
    }


def test_semt002_versions_differ_in_layout() -> None:
    """The 001.05 AvlblBal (Qty/Unit) is not the 001.11 one (Qty/Qty/Unit)."""
    text = sample("semt002-v05.xml").replace("semt.002.001.05", "semt.002.001.11")
    err = error(semt, text)
    assert err.line == line_of(text, "<AvlblBal>") + 1
    assert err.field == "BalForAcct/AvlblBal/Qty"
    assert "expected Qty here, found Unit" in err.message
    # the same holdings in each version between: 05-08 one layout, 09-12 the other
    for v in ("06", "07", "08"):
        (st,) = semt(sample("semt002-v05.xml").replace("001.05", f"001.{v}"))
        assert positions(st)[TSLA] == (Decimal("1500.000000"), Decimal("23.000000"))
    for v in ("09", "10", "12"):
        (st,) = semt(sample("semt002-v11.xml").replace("001.11", f"001.{v}"))
        assert positions(st)[MSFT] == (Decimal(275), Decimal(25))


@pytest.mark.parametrize("version", ["04", "13", "5"])
def test_semt002_unknown_version(version: str) -> None:
    text = sample("semt002-v05.xml").replace("001.05", f"001.{version}")
    err = error(semt, text)
    assert (err.line, err.file) == (2, "s.xml")
    assert "not supported" in err.message


def test_semt002_pages_of_a_statement_in_one_file() -> None:
    sts = sorted(semt(sample("semt002-v10-batch.xml")), key=lambda s: s.account)
    assert [(s.account, positions(s)) for s in sts] == [
        ("SAFE-0010", {TSLA: (Decimal(10), Decimal(0)), AAPL: (Decimal(20), Decimal(0))}),
        ("SAFE-0012", {TSLA: (Decimal(5), Decimal(0))}),
    ]


def test_semt002_missing_page() -> None:
    text = sample("semt002-v10-batch.xml")
    docs = text.split("  <Document")
    # drop page 2 of B-1: page 1 says it is not the last
    without_last = "  <Document".join([docs[0], *docs[2:]])
    err = error(semt, without_last)
    assert "statement incomplete" in err.message
    assert err.line == line_of(without_last, "<Document")
    # drop page 1: page 2 is the last, page 1 is missing
    without_first = "  <Document".join([docs[0], docs[1], docs[3]])
    err = error(semt, without_first)
    assert "page(s) 1 of 2 are missing" in err.message
    assert err.line == line_of(without_first, "<Document")


def test_semt002_page_twice_or_two_last_pages() -> None:
    text = sample("semt002-v10-batch.xml")
    doubled = text.replace("<PgNb>1</PgNb><LastPgInd>false", "<PgNb>2</PgNb><LastPgInd>true")
    err = error(semt, doubled)
    assert "page 2 of this statement appears twice" in err.message
    assert err.line == line_of(doubled, "<Document", 2)


def test_semt002_single_page_not_last() -> None:
    text = sample("semt002-v05.xml").replace(
        "<LastPgInd>true</LastPgInd>", "<LastPgInd>false</LastPgInd>"
    )
    err = error(semt, text)
    assert "all pages of a statement must be in one file" in err.message
    assert (err.file, err.line) == ("s.xml", 2)


def test_semt002_delta_statement() -> None:
    text = sample("semt002-v08.xml").replace("<Cd>COMP</Cd>", "<Cd>DELT</Cd>")
    err = error(semt, text)
    assert "update type DELT" in err.message and "COMP" in err.message
    assert err.line == line_of(text, "<UpdTp>")


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("<Unit>1523.000000</Unit>", "<FaceAmt>1523</FaceAmt>", "FaceAmt is a face amount"),
        ("<Unit>1523.000000</Unit>", "<AmtsdVal>1523</AmtsdVal>", "an amortised value"),
        ("<Unit>1523.000000</Unit>", "<DgtlTknUnit>1523</DgtlTknUnit>", "digital-token"),
        (
            "<Qty><Qty><Unit>1523.000000</Unit></Qty></Qty>",
            "<Prtry><Id>X</Id></Prtry>",
            "a proprietary quantity",
        ),
    ],
)
def test_semt002_non_unit_quantity(old: str, new: str, needle: str) -> None:
    text = sample("semt002-v11.xml").replace(old, new)
    assert text != sample("semt002-v11.xml")
    err = error(semt, text)
    assert needle in err.message and "not a number of shares" in err.message
    assert err.line == line_of(text, new[:9])
    assert err.field is not None and err.field.startswith("BalForAcct/AggtBal/Qty")


def test_semt002_bad_values_name_their_line() -> None:
    base = sample("semt002-v11.xml")
    for old, new, needle in [
        ("<ISIN>US88160R1014</ISIN>", "<ISIN>US88160R1015</ISIN>", "not a valid ISIN"),
        ("<Unit>1500</Unit>", "<Unit>1.5e3</Unit>", "not a decimal number"),
        ("<ShrtLngInd>SHOR</ShrtLngInd>", "<ShrtLngInd>SHRT</ShrtLngInd>", "neither SHOR"),
        ("<DtTm>2026-11-20T23:00:00</DtTm>", "<DtTm>20 Nov 2026</DtTm>", "ISO 8601"),
    ]:
        text = base.replace(old, new)
        err = error(semt, text)
        assert needle in err.message, err.render()
        assert err.line == line_of(text, new), err.render()


def test_semt002_available_plus_not_available_must_be_the_aggregate() -> None:
    text = sample("semt002-v08.xml").replace(
        "<NotAvlblBal>", "<AvlblBal><Qty><Unit>1</Unit></Qty></AvlblBal><NotAvlblBal>"
    )
    err = error(semt, text)
    assert "is not the aggregate balance 2000" in err.message
    assert err.line == line_of(text, "<BalForAcct>")


def test_semt002_sub_accounts_are_accounts() -> None:
    text = sample("semt002-v05.xml")
    start, end = text.index("    <BalForAcct>"), text.index("  </SctiesBalCtdyRpt>")
    balances = text[start:end].replace("BalForAcct>", "BalForSubAcct>")
    account = "<SfkpgAcct><Id>SUB-1</Id></SfkpgAcct>"
    sub = f"    <SubAcctDtls>\n{account}\n{balances}    </SubAcctDtls>\n"
    (st,) = semt(text[:start] + sub + text[end:])
    assert st.account == "SUB-1"
    assert positions(st)[AAPL] == (Decimal("-12.5"), Decimal(0))
    both = text[:end] + sub + text[end:]
    err = error(semt, both)
    assert "both account balances" in err.message
    assert err.line == line_of(both, "<SubAcctDtls>")


HOSTILE = {
    "xxe": """<?xml version="1.0"?>
<!DOCTYPE Document [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:semt.002.001.08"><x>&xxe;</x></Document>
""",
    "billion-laughs": """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:semt.002.001.08">&lol9;</Document>
""",
    # 127.0.0.1 port 9 (discard): were it ever fetched, the socket guard fails the test
    "external-dtd": """<?xml version="1.0"?>

<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/semt.dtd">
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:semt.002.001.08"/>
""",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_semt002_hostile_xml_is_refused_quickly(name: str) -> None:
    text = HOSTILE[name]
    start = time.monotonic()
    err = error(semt, text)
    assert time.monotonic() - start < 1.0
    assert err.file == "s.xml"
    assert err.line == line_of(text, "<!DOCTYPE")
    assert "DOCTYPE" in err.message and "refused" in err.message


def test_semt002_truncated_and_not_xml() -> None:
    full = sample("semt002-v08.xml")
    cut = full[: full.index("<BalForAcct>", full.index("<BalForAcct>") + 1)]
    err = error(semt, cut)
    assert "not well-formed XML" in err.message
    assert err.line == cut.count("\n") + 1
    err = error(semt, '<?xml version="1.0"?>\n<Statement><Id>1</Id></Statement>\n')
    assert "no semt.002 Document" in err.message and err.line == 2


# ---------------------------------------------------------------------- MT535


def test_mt535_two_pages() -> None:
    text = sample("mt535-two-pages.fin")
    (st,) = mt(text)
    assert st.account == "SAFE-0002"
    assert st.as_of == datetime(2026, 11, 20, 22, 59, 59, tzinfo=UTC)  # :98A: end of day CET
    assert positions(st) == {
        TSLA: (Decimal(980), Decimal(20)),  # :93B::AVAI// and :93B::NAVL//
        AAPL: (Decimal("-12.5"), Decimal(0)),  # N12,5: short
        MSFT: (Decimal(250), Decimal(50)),  # :93C::PEND//UNIT/NAVL/50, (BORR is AVAI)
    }
    assert [h.line for h in st.holdings] == [
        line_of(text, ":35B:ISIN " + isin) for isin in (TSLA, AAPL, MSFT)
    ]
    (utc,) = mt535.FORMAT.parse(text, "m.fin")
    assert utc.as_of == datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)


ONE = """{1:F01BANKBEBBAXXX0000000000}{2:O5351200261120BANKCHZZXXXX00000000002611201200N}{4:
:16R:GENL
:28E:1/ONLY
:20C::SEME//ONE
:23G:NEWM
:98C::STAT//20261120180000
:22F::CODE//COMP
:97A::SAFE//SAFE-0003
:16S:GENL
:16R:FIN
:35B:ISIN US88160R1014
:93B::AGGR//UNIT/42,
:16S:FIN
-}
"""


def test_mt535_date_time_in_the_custodians_zone_and_several_messages() -> None:
    (st,) = mt(ONE)
    assert st.as_of == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    assert positions(st) == {TSLA: (Decimal(42), Decimal(0))}
    with_offset = ONE.replace(":98C::STAT//20261120180000", ":98E::STAT//20261120180000/N0500")
    (st,) = mt(with_offset)
    assert st.as_of == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    other = ONE.replace("SAFE-0003", "SAFE-0004").replace("42,", "0,5")
    sts = mt(ONE + "\n" + other)
    assert {s.account: positions(s)[TSLA][0] for s in sts} == {
        "SAFE-0003": Decimal(42),
        "SAFE-0004": Decimal("0.5"),
    }


def test_mt535_sub_safekeeping_accounts() -> None:
    text = ONE.replace(":16R:FIN", ":16R:SUBSAFE\n:97A::SAFE//SUB-9\n:16R:FIN").replace(
        ":16S:FIN", ":16S:FIN\n:16S:SUBSAFE"
    )
    sts = {s.account: positions(s) for s in mt(text)}
    assert sts == {"SAFE-0003": {}, "SUB-9": {TSLA: (Decimal(42), Decimal(0))}}


@pytest.mark.parametrize(
    ("old", "new", "needle", "at"),
    [
        (":22F::CODE//COMP", ":22F::CODE//DELT", "statement code DELT", ":22F::CODE"),
        (":22F::CODE//COMP\n", "", "no :22F::CODE//COMP", ":16S:GENL"),
        (":23G:NEWM", ":23G:CANC", "function CANC", ":16S:GENL"),
        (":93B::AGGR//UNIT/42,", ":93B::AGGR//FAMT/42,", "face amount", ":93B:"),
        (":93B::AGGR//UNIT/42,", ":93B::AGGR//UNIT/42.5", "not a SWIFT quantity", ":93B:"),
        (":93B::AGGR//UNIT/42,", ":93F::AGGR//DTKN/42,", "digital tokens", ":93F:"),
        (":93B::AGGR//UNIT/42,\n", "", "no aggregate balance", ":16R:FIN"),
        (":35B:ISIN US88160R1014", ":35B:/US/88160R101", "has no ISIN", ":35B:"),
        (":35B:ISIN US88160R1014", ":35B:ISIN US88160R1015", "not a valid ISIN", ":35B:"),
        # a line it does not understand inside a balance: named, never skipped
        (":93B::AGGR//UNIT/42,", ":93B::AGGR//UNIT/42,\n:99Z::WHAT//1", ":99Z:", ":99Z:"),
        (":93B::AGGR//UNIT/42,", ":93B::AGGR//UNIT/42,\n:93B::PEND//UNIT/1,", "AGGR, AVAI", "PEND"),
        (":93B::AGGR//UNIT/42,", ":93B::AGGR//UNIT/42,\nUNIT/5,", "line not understood", "UNIT/5"),
        (":98C::STAT//20261120180000", ":98C::STAT//20261131180000", "not a valid", ":98C:"),
        (":16S:FIN\n", "", "FIN is not closed", ":93B:"),
        (":28E:1/ONLY", ":28E:1/SOME", "is not a page", ":28E:"),
    ],
)
def test_mt535_errors_name_the_line(old: str, new: str, needle: str, at: str) -> None:
    text = ONE.replace(old, new)
    assert text != ONE
    err = error(mt, text)
    assert needle in err.message, err.render()
    assert (err.file, err.line) == ("m.fin", line_of(text, at)), err.render()


def _pages(text: str) -> list[str]:
    return ["{1:" + part for part in text.split("{1:")[1:]]


def test_mt535_missing_and_mixed_up_pages() -> None:
    first, second = _pages(sample("mt535-two-pages.fin"))
    err = error(mt, first)
    assert "page 1 says MORE, and page 2 is not in this file" in err.message
    assert err.line == line_of(first, ":28E:")
    mixed = second + first
    err = error(mt, mixed)
    assert "page 2/LAST: expected page 1" in err.message
    assert err.line == line_of(mixed, ":28E:")
    again = first + second + second
    err = error(mt, again)
    assert "after the last page" in err.message
    assert err.line == line_of(again, ":28E:", 3)


def test_mt535_truncated_and_not_mt535() -> None:
    text = sample("mt535-two-pages.fin")
    cut = text[: text.index(":16S:SUBSAFE")]
    err = error(mt, cut)
    assert "truncated" in err.message and err.line == 1
    err = error(mt, ONE.replace("{2:O535", "{2:O536"))
    assert "not an MT535" in err.message and err.line == 1
    err = error(mt, "hello\n" + ONE)
    assert "message header" in err.message and err.line == 1


# ---------------------------------------------------------------------- detection


def test_detect() -> None:
    texts = {
        "semt002": sample("semt002-v05.xml"),
        "mt535": sample("mt535-two-pages.fin"),
        "native-json": '{"account": "A", "as_of": "2026-11-20T00:00:00Z", "holdings": []}',
        "native-yaml": "# statement\naccount: A\nas_of: 2026-11-20T00:00:00Z\nholdings: []\n",
        "csv": "isin,quantity,as_of,account\n",
    }
    formats = {
        "semt002": semt002.FORMAT,
        "mt535": mt535.FORMAT,
        "native": native.FORMAT,
        "csv": csvfile.FORMAT,
    }
    for kind, text in texts.items():
        claimed = [name for name, f in formats.items() if f.detect(text)]
        assert claimed == [kind.split("-")[0]], kind
    assert not any(f.detect("<html><body/></html>\n") for f in formats.values())


def _statement_dir(tmp_path: Path) -> Path:
    d = tmp_path / "statements"
    d.mkdir()
    (d / "bank.xml").write_text(sample("semt002-v11.xml"), encoding="utf-8")
    (d / "bank.txt").write_text(ONE, encoding="utf-8")  # MT535 under a suffix it does not claim
    (d / "old.json").write_text(
        '{"account": "SAFE-0011", "as_of": "2026-11-19T23:59:59Z",'
        ' "holdings": [{"isin": "US88160R1014", "quantity": "1"}]}',
        encoding="utf-8",
    )
    return d


def test_read_custodian_auto(tmp_path: Path) -> None:
    _statement_dir(tmp_path)
    book = read_custodian("bank", ["statements/*"], tmp_path, options=ZURICH)
    assert sorted(book.files) == [f"statements/{n}" for n in ("bank.txt", "bank.xml", "old.json")]
    by_account = {st.account: (h.quantity if h else None) for st, h in book.positions(TSLA)}
    # SAFE-0011: the semt.002 of the 20th is newer than the JSON of the 19th
    assert by_account == {"SAFE-0003": Decimal(42), "SAFE-0011": Decimal(1500)}
    assert book.latest["SAFE-0003"].as_of == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    counted = read_custodian(
        "bank", ["statements/*.xml"], tmp_path, options=ZURICH, count_unavailable=True
    )
    ((_, h),) = counted.positions(TSLA)
    assert h is not None and (h.quantity, h.unavailable) == (Decimal("1523.000000"), 0)


def test_read_custodian_explicit_format(tmp_path: Path) -> None:
    _statement_dir(tmp_path)
    book = read_custodian("bank", ["statements/*.txt"], tmp_path, format="mt535")
    assert book.latest["SAFE-0003"].as_of == datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    with pytest.raises(InputError) as info:
        read_custodian("bank", ["statements/*"], tmp_path, format="semt002")
    assert info.value.file in ("statements/bank.txt", "statements/old.json")
    assert info.value.line == 1
    with pytest.raises(InputError) as info:
        read_files([tmp_path / "statements" / "bank.xml"], tmp_path, "swift")
    assert "unknown custody format 'swift'" in info.value.message


def test_ambiguous_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _statement_dir(tmp_path)
    monkeypatch.setattr(csvfile.CsvFormat, "detect", lambda self, text: True)
    with pytest.raises(InputError) as info:
        read_custodian("bank", ["statements/old.json"], tmp_path)
    assert info.value.file == "statements/old.json"
    assert info.value.message == (
        "ambiguous: looks like csv and native; set format: in the registry"
    )
    # an explicit format settles it
    book = read_custodian("bank", ["statements/old.json"], tmp_path, format="native")
    assert list(book.latest) == ["SAFE-0011"]


REGISTRY = """version: 1
chains:
  ethereum:
    type: evm
    chain_id: 1
    rpc: ["http://127.0.0.1:9"]
custodians:
  bank:
    attestations: ["statements/*"]
    max_age: 36h
    timezone: Europe/Zurich
    count_unavailable: {count}
tokens:
  - symbol: TSLAx
    isin: US88160R1014
    custodian: bank
    deployments:
      - chain: ethereum
        address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"
        decimals: 18
"""


@pytest.mark.parametrize("count", [False, True])
def test_audit_read_custody_uses_the_custodians_settings(tmp_path: Path, count: bool) -> None:
    """The registry's timezone and count_unavailable reach the readers (no chain is read)."""
    from xstock_audit import audit
    from xstock_audit.registry.load import load

    d = tmp_path / "statements"
    d.mkdir()
    (d / "a.fin").write_text(ONE, encoding="utf-8")
    (d / "b.xml").write_text(sample("semt002-v11.xml"), encoding="utf-8")
    path = tmp_path / "r.yaml"
    path.write_text(REGISTRY.format(count=str(count).lower()), encoding="utf-8")
    (book,) = audit.read_custody(load(path)).values()
    # :98C: 18:00 and a zoneless DtTm 23:00, both Zurich (UTC+1 in November)
    assert book.latest["SAFE-0003"].as_of == datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
    assert book.latest["SAFE-0011"].as_of == datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    held = {st.account: h.quantity for st, h in book.positions(TSLA) if h}
    assert held == {
        "SAFE-0003": Decimal(42),
        "SAFE-0011": Decimal("1523.000000") if count else Decimal(1500),
    }
