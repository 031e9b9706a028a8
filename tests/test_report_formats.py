"""Each report format, in process, on an `AuditResult` built by hand.

Every figure asserted here is one put into the fixture below (or follows from it by the
format's documented rule: exact decimal strings in JSON, trailing zeros dropped in the
table, `—` and null for an amount that is not known). No node, no subprocess: not `slow`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from xstock_audit.chains import (
    ChainRead,
    DeploymentSupply,
    EndpointFailed,
    MultiplierSchedule,
    Pin,
)
from xstock_audit.reconcile import (
    AttestationUsed,
    AuditResult,
    DeploymentResult,
    Status,
    TokenResult,
)
from xstock_audit.redact import redact_url
from xstock_audit.report import Options, jsonfmt, renderer
from xstock_audit.report.table import summary_line

# The endpoint as the registry has it: an API key in the userinfo, the path and the query.
API_KEY = "K3yS3cretFor7estsOnly"
SECRET_URL = f"https://user:{API_KEY}@eth.rpc.example.org/v2/{API_KEY}?apikey={API_KEY}"
# ...and as a reader hands it on (`Endpoint.shown`): what the report may print.
SHOWN_URL = "https://eth.rpc.example.org/…"
BASE_ERROR = "https://base.rpc.example.org/…: connection refused (after 3 attempts)"

GENERATED = datetime(2026, 3, 2, 14, 30, 15, 654321, tzinfo=UTC)
ETH_TIME = datetime(2026, 3, 2, 14, 29, 59, tzinfo=UTC)
SOL_TIME = datetime(2026, 3, 2, 14, 30, 2, tzinfo=UTC)
CHANGE_AT = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)
FRESH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OLD = datetime(2026, 2, 26, 0, 0, tzinfo=UTC)

AAPL_EVM = "0xA11CE00000000000000000000000000000000001"
AAPL_MINT = "XsbEhLAtcf6HdfpFZ5xEMdqW8nfAvcsP5bdudRLJzJp"
TSLA_EVM = "0x7E5Da00000000000000000000000000000000002"
NVDA_EVM = "0x0D1A000000000000000000000000000000000003"
SPY_EVM = "0x5E1F000000000000000000000000000000000004"
QQQ_EVM = "0x0A0A000000000000000000000000000000000005"
QQQ_BASE = "0xBA5E000000000000000000000000000000000006"

STALE_MESSAGE = (
    "custody as of 2026-02-26T00:00:00Z (account SAFE-2) is 5 d 14 h old, older than max_age "
    "36h; against it the token is backed"
)
QQQ_MESSAGE = "base: the chain could not be read (see the chain's error)"


def supply(chain: str, address: str, **kw: Any) -> DeploymentSupply:
    return DeploymentSupply(chain, address, **kw)


def deployment(s: DeploymentSupply, circulating: str | None) -> DeploymentResult:
    return DeploymentResult(s, Decimal(1), None if circulating is None else Decimal(circulating))


def custody(account: str, quantity: str, as_of: datetime = FRESH) -> AttestationUsed:
    file = f"acme-{account.lower()}.json"
    return AttestationUsed(
        file, account, as_of, Decimal(quantity), stale=as_of == OLD, custodian="acme"
    )


def token(
    symbol: str, isin: str, status: Status, onchain: str | None, held: str, diff: str | None
) -> TokenResult:
    return TokenResult(
        symbol=symbol,
        isin=isin,
        status=status,
        onchain=None if onchain is None else Decimal(onchain),
        custody=Decimal(held),
        difference=None if diff is None else Decimal(diff),
        tolerance=Decimal("0.000001"),
        deployments=(),
        attestations=(),
    )


# ---------------------------------------------------------------------- the fixture

# AAPLx, BACKED: a plain ERC-20 (1200.5 minted, 200 excluded) and a ScaledUiAmount mint x1.05
# (1000 tokens -> 1050 shares): 2050.5 on chain, 2050.5 in custody.
AAPLX = dataclasses.replace(
    token("AAPLx", "US0378331005", Status.BACKED, "2050.500000", "2050.500000", "0.000000"),
    deployments=(
        deployment(
            supply(
                "ethereum",
                AAPL_EVM,
                decimals=18,
                total_supply=Decimal("1200.500000000000000000"),
                excluded=Decimal("200.000000000000000000"),
                circulating=Decimal("1000.500000000000000000"),
            ),
            "1000.500000000000000000",
        ),
        deployment(
            supply(
                "solana",
                AAPL_MINT,
                decimals=8,
                total_supply=Decimal("1000.00000000"),
                excluded=Decimal("0E-8"),
                multiplier=Decimal("1.05"),
                multiplier_applied=True,
                has_multiplier=True,
                circulating=Decimal("1050.0000000000"),
                details={"program": "token-2022", "extension": "ScaledUiAmount"},
            ),
            "1050.0000000000",
        ),
    ),
    attestations=(custody("SAFE-1", "2050.500000"),),
    onchain_read=Decimal("2050.500000"),
)

# TSLAx, OVER: a Backed multiplier token (balances already x1.5) with a change to x1.4985
# announced for CHANGE_AT; custody 1.25 shares over.
TSLAX = dataclasses.replace(
    token("TSLAx", "US88160R1014", Status.OVER, "150", "151.25", "1.25"),
    deployments=(
        deployment(
            supply(
                "ethereum",
                TSLA_EVM,
                decimals=18,
                total_supply=Decimal("150"),
                excluded=Decimal(0),
                multiplier=Decimal("1.5"),
                circulating=Decimal("150"),
                details={"multiplier_raw": "1500000000000000000"},
                has_multiplier=True,
                schedule=MultiplierSchedule(Decimal("1.5"), Decimal("1.4985"), CHANGE_AT),
            ),
            "150",
        ),
    ),
    attestations=(custody("SAFE-1", "151.25"),),
    onchain_read=Decimal("150"),
)

# NVDAx, UNDER: one raw unit of an 18-decimal token more on chain than in custody.
NVDAX = dataclasses.replace(
    token(
        "NVDAx",
        "US67066G1040",
        Status.UNDER,
        "500.000000000000000001",
        "500",
        "-0.000000000000000001",
    ),
    tolerance=Decimal(0),
    deployments=(
        deployment(
            supply(
                "ethereum",
                NVDA_EVM,
                decimals=18,
                total_supply=Decimal("500.000000000000000001"),
                excluded=Decimal(0),
                circulating=Decimal("500.000000000000000001"),
            ),
            "500.000000000000000001",
        ),
    ),
    attestations=(custody("SAFE-1", "500"),),
    onchain_read=Decimal("500.000000000000000001"),
)

# SPYx, STALE: the figures agree but the statement is older than max_age.
SPYX = dataclasses.replace(
    token("SPYx", "US78462F1030", Status.STALE, "10", "10", "0"),
    deployments=(
        deployment(
            supply(
                "ethereum",
                SPY_EVM,
                decimals=0,
                total_supply=Decimal(10),
                excluded=Decimal(0),
                circulating=Decimal(10),
            ),
            "10",
        ),
    ),
    attestations=(custody("SAFE-2", "10", as_of=OLD),),
    messages=(STALE_MESSAGE,),
    onchain_read=Decimal(10),
)

# QQQx, ERROR: its Base deployment was not read (the chain failed), so the on-chain supply and
# the difference are unknown; the Ethereum deployment holds 40 (a lower bound).
QQQX = dataclasses.replace(
    token("QQQx", "US46090E1038", Status.ERROR, None, "45", None),
    deployments=(
        deployment(
            supply(
                "ethereum",
                QQQ_EVM,
                decimals=6,
                total_supply=Decimal("40.000000"),
                excluded=Decimal(0),
                circulating=Decimal("40.000000"),
            ),
            "40.000000",
        ),
        deployment(supply("base", QQQ_BASE, error=BASE_ERROR), None),
    ),
    attestations=(custody("SAFE-1", "45"),),
    messages=(QQQ_MESSAGE,),
    onchain_read=Decimal("40.000000"),
)

CHAINS = {
    "ethereum": ChainRead(
        "ethereum",
        Pin("ethereum", "evm", 21_000_123, ETH_TIME, redact_url(SECRET_URL)),
        supplies={},
        notes=(
            EndpointFailed("https://eth-backup.example.org/…: HTTP 503; used the next endpoint"),
        ),
        requests=7,
        retries=1,
    ),
    "solana": ChainRead(
        "solana",
        Pin("solana", "solana", 312_456_789, SOL_TIME, "https://sol.rpc.example.org"),
        supplies={},
        requests=3,
    ),
    "base": ChainRead(
        "base",
        None,
        supplies={},
        error=BASE_ERROR,
        notes=(EndpointFailed("https://base-2.rpc.example.org: HTTP 429 Too Many Requests"),),
    ),
}

SUMMARY = {
    Status.BACKED: 1,
    Status.OVER: 1,
    Status.UNDER: 1,
    Status.STALE: 1,
    Status.UNVERIFIED: 0,
    Status.ERROR: 1,
}


@pytest.fixture
def result() -> AuditResult:
    return AuditResult(
        generated_at=GENERATED,
        chains=CHAINS,
        tokens=(AAPLX, TSLAX, NVDAX, SPYX, QQQX),
        summary=SUMMARY,
    )


def test_the_fixture_pins_ethereum_at_the_redacted_url() -> None:
    """The report prints the endpoint its reader hands on, redacted (`Endpoint.shown`)."""
    assert CHAINS["ethereum"].pin is not None
    assert CHAINS["ethereum"].pin.rpc == SHOWN_URL


# ---------------------------------------------------------------------- JSON


def as_json(result: AuditResult, **options: Any) -> dict[str, Any]:
    text = renderer("json")(result, Options(**options))
    doc: dict[str, Any] = json.loads(text)
    return doc


def by_symbol(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["symbol"]: t for t in doc["tokens"]}


def test_json_header_chains_summary_and_exit_code(result: AuditResult) -> None:
    doc = as_json(result)
    assert doc["schema"] == "xstock-audit/report/v1"
    assert doc["generated_at"] == "2026-03-02T14:30:15Z"  # whole seconds
    assert doc["chains"] == {
        "ethereum": {
            "block": 21_000_123,
            "time": "2026-03-02T14:29:59Z",
            "rpc": SHOWN_URL,
            "requests": 7,
            "retries": 1,
            "messages": ["https://eth-backup.example.org/…: HTTP 503; used the next endpoint"],
        },
        "solana": {
            "slot": 312_456_789,
            "time": "2026-03-02T14:30:02Z",
            "rpc": "https://sol.rpc.example.org",
            "requests": 3,
            "retries": 0,
            "messages": [],
        },
        "base": {
            "error": BASE_ERROR,
            "messages": ["https://base-2.rpc.example.org: HTTP 429 Too Many Requests"],
        },
    }
    assert doc["summary"] == {
        "BACKED": 1,
        "OVER": 1,
        "UNDER": 1,
        "STALE": 1,
        "UNVERIFIED": 0,
        "ERROR": 1,
    }
    assert doc["exit_code"] == 1  # an UNDER beats the STALE and the ERROR
    assert [t["symbol"] for t in doc["tokens"]] == ["AAPLx", "TSLAx", "NVDAx", "SPYx", "QQQx"]


def test_json_amounts_are_exact_decimal_strings(result: AuditResult) -> None:
    tokens = by_symbol(as_json(result))
    figures = {
        s: (t["status"], t["onchain"], t["onchain_read"], t["custody"], t["difference"])
        for s, t in tokens.items()
    }
    assert figures == {
        "AAPLx": ("BACKED", "2050.500000", "2050.500000", "2050.500000", "0.000000"),
        "TSLAx": ("OVER", "150", "150", "151.25", "1.25"),
        "NVDAx": (
            "UNDER",
            "500.000000000000000001",
            "500.000000000000000001",
            "500",
            "-0.000000000000000001",
        ),
        "SPYx": ("STALE", "10", "10", "10", "0"),
        "QQQx": ("ERROR", None, "40.000000", "45", None),
    }
    assert tokens["NVDAx"]["tolerance"] == "0"
    assert tokens["AAPLx"]["tolerance"] == "0.000001"
    aapl_evm, aapl_sol = tokens["AAPLx"]["deployments"]
    assert aapl_evm["total_supply"] == "1200.500000000000000000"
    assert aapl_evm["excluded"] == "200.000000000000000000"
    assert aapl_evm["circulating"] == "1000.500000000000000000"
    assert aapl_sol["total_supply"] == "1000.00000000"
    assert aapl_sol["excluded"] == "0.00000000"  # Decimal("0E-8"): every place, no exponent
    assert aapl_sol["circulating"] == "1050.0000000000"
    assert aapl_evm["shares_per_token"] == "1"


def test_json_unknown_amounts_are_null_never_zero(result: AuditResult) -> None:
    qqq = by_symbol(as_json(result))["QQQx"]
    assert qqq["onchain"] is None and qqq["difference"] is None
    assert qqq["onchain_read"] == "40.000000" and qqq["custody"] == "45"
    evm, base = qqq["deployments"]
    assert evm["circulating"] == "40.000000" and evm["error"] is None
    assert base == {
        "chain": "base",
        "address": QQQ_BASE,
        "decimals": None,
        "total_supply": None,
        "excluded": None,
        "multiplier": None,
        "multiplier_applied": False,
        "multiplier_schedule": None,
        "shares_per_token": "1",
        "circulating": None,
        "error": BASE_ERROR,
        "details": {},
    }
    assert qqq["messages"] == [
        QQQ_MESSAGE,
        "on-chain supply unknown: the deployments that were read hold 40 shares (a lower bound)",
    ]


def test_json_multipliers_and_the_schedule(result: AuditResult) -> None:
    tokens = by_symbol(as_json(result))
    (tsla,) = tokens["TSLAx"]["deployments"]
    assert tsla["multiplier"] == "1.5"
    assert tsla["multiplier_applied"] is False  # a Backed token's balances include it
    assert tsla["multiplier_schedule"] == {"multiplier": "1.4985", "at": "2026-03-05T14:00:00Z"}
    assert tsla["details"] == {"multiplier_raw": "1500000000000000000"}
    assert tokens["TSLAx"]["messages"] == [
        "ethereum: multiplier change scheduled: 1.5 -> 1.4985 at 2026-03-05T14:00:00Z"
    ]
    aapl_evm, aapl_sol = tokens["AAPLx"]["deployments"]
    assert (aapl_evm["multiplier"], aapl_evm["multiplier_applied"]) == ("1", False)
    assert (aapl_sol["multiplier"], aapl_sol["multiplier_applied"]) == ("1.05", True)
    assert aapl_evm["multiplier_schedule"] is None and aapl_sol["multiplier_schedule"] is None
    assert aapl_sol["details"] == {"program": "token-2022", "extension": "ScaledUiAmount"}


def test_json_attestations_and_messages(result: AuditResult) -> None:
    tokens = by_symbol(as_json(result))
    assert tokens["SPYx"]["attestations"] == [
        {
            "custodian": "acme",
            "file": "acme-safe-2.json",
            "account": "SAFE-2",
            "as_of": "2026-02-26T00:00:00Z",
            "quantity": "10",
            "unavailable": "0",
            "stale": True,
            "signature": None,
        }
    ]
    assert tokens["SPYx"]["messages"] == [STALE_MESSAGE]
    assert tokens["AAPLx"]["attestations"] == [
        {
            "custodian": "acme",
            "file": "acme-safe-1.json",
            "account": "SAFE-1",
            "as_of": "2026-03-02T09:00:00Z",
            "quantity": "2050.500000",
            "unavailable": "0",
            "stale": False,
            "signature": None,
        }
    ]
    assert tokens["AAPLx"]["messages"] == []
    assert tokens["NVDAx"]["messages"] == []


def test_json_is_the_document_and_ignores_the_table_options(result: AuditResult) -> None:
    text = renderer("json")(result, Options())
    assert text.endswith("}\n")
    assert json.loads(text) == jsonfmt.document(result)
    for options in (Options(details=True), Options(color=True), Options(width=40)):
        assert renderer("json")(result, options) == text


def _one_dict_a_token(result: AuditResult) -> str:
    """The JSON report as it was written before tokens got their own writer: the document
    with each token's dict encoded by json's encoder, one a line."""
    doc = jsonfmt.document(result)
    out = ["{"]
    for n, (key, value) in enumerate(doc.items()):
        comma = "," if n < len(doc) - 1 else ""
        name = jsonfmt._ONE_LINE.encode(key)
        if key == "tokens" and value:
            items = ",\n".join("    " + jsonfmt._ONE_LINE.encode(t) for t in value)
            out.append(f"  {name}: [\n{items}\n  ]{comma}")
        elif key == "chains" and value:
            items = ",\n".join(
                f"    {jsonfmt._ONE_LINE.encode(c)}: {jsonfmt._ONE_LINE.encode(v)}"
                for c, v in value.items()
            )
            out.append(f"  {name}: {{\n{items}\n  }}{comma}")
        else:
            out.append(f"  {name}: {jsonfmt._ONE_LINE.encode(value)}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


def test_token_lines_are_what_json_makes_of_the_document(result: AuditResult) -> None:
    """`render` writes each token's line itself (fast at 10,000 tokens); it must be byte for
    byte what json's encoder makes of the token's dict, for every kind of value."""
    from report_fixtures import five_tokens, gated

    from xstock_audit.chains.interface import Movement
    from xstock_audit.reconcile import Movements, PlannedMint

    first = result.tokens[0]
    odd = dataclasses.replace(
        first,
        symbol='Q"x\\é',
        messages=('ünïcode \u2028 and \x00 and "quotes"',),
        planned_mints=(PlannedMint("ethereum", Decimal("5.50"), Decimal("11.0")),),
        movements=Movements(
            GENERATED,
            (Movement("ethereum", "0xabc", GENERATED, "0xdead", "mint", 5, 7, Decimal("1.5")),),
        ),
        deployments=tuple(
            dataclasses.replace(
                d, supply=dataclasses.replace(d.supply, details={"k\u00e9y": 'v"1'})
            )
            for d in first.deployments
        ),
    )
    unknown = dataclasses.replace(
        result.tokens[1],
        movements=Movements(None, None),
        planned_mints=(PlannedMint("solana", Decimal(3)),),
    )
    varied = dataclasses.replace(
        result,
        tokens=(odd, unknown, *result.tokens[2:]),
        at=GENERATED,
        token_at={odd.symbol: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    )
    empty = dataclasses.replace(result, tokens=())
    for r in (result, varied, empty, five_tokens(), gated()):
        text = jsonfmt.render(r, Options())
        assert text == _one_dict_a_token(r)
        assert json.loads(text) == jsonfmt.document(r)


# ---------------------------------------------------------------------- table


def table(result: AuditResult, details: bool = False, width: int = 200) -> str:
    return renderer("table")(result, Options(details=details, color=False, width=width))


def rows(text: str) -> list[list[str]]:
    """The table's body rows, each as its stripped cells."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if "│" in line]


def token_rows(text: str) -> dict[str, list[str]]:
    """Without --details: symbol -> the other cells of its row."""
    return {r[0]: r[1:] for r in rows(text)}


def test_table_rows_statuses_and_unknown_amounts(result: AuditResult) -> None:
    text = table(result)
    assert token_rows(text) == {
        "AAPLx": ["US0378331005", "2050.5", "2050.5", "0", "BACKED"],
        "TSLAx": ["US88160R1014", "150", "151.25", "+1.25", "OVER"],
        "NVDAx": [
            "US67066G1040",
            "500.000000000000000001",
            "500",
            "-0.000000000000000001",
            "UNDER",
        ],
        "SPYx": ["US78462F1030", "10", "10", "0", "STALE"],
        "QQQx": ["US46090E1038", "—", "45", "—", "ERROR"],
    }
    header = next(line for line in text.splitlines() if "Token" in line)
    for column in ("ISIN", "On-chain shares", "Custody shares", "Difference", "Status"):
        assert column in header
    assert "Details" not in header
    assert "\x1b[" not in text  # color=False


def test_table_chain_lines(result: AuditResult) -> None:
    lines = table(result).splitlines()
    assert lines[:5] == [
        "ethereum: block 21000123 at 2026-03-02T14:29:59Z via https://eth.rpc.example.org/…",
        "  https://eth-backup.example.org/…: HTTP 503; used the next endpoint",
        "solana: slot 312456789 at 2026-03-02T14:30:02Z via https://sol.rpc.example.org",
        f"base: not read: {BASE_ERROR}",
        "  https://base-2.rpc.example.org: HTTP 429 Too Many Requests",
    ]


def test_table_messages_and_summary_line(result: AuditResult) -> None:
    lines = table(result).splitlines()
    assert lines[-5:] == [
        "TSLAx: ethereum: multiplier change scheduled: 1.5 -> 1.4985 at 2026-03-05T14:00:00Z",
        f"SPYx: {STALE_MESSAGE}",
        f"QQQx: {QQQ_MESSAGE}",
        "QQQx: on-chain supply unknown: the deployments that were read hold 40 shares "
        "(a lower bound)",
        "5 token(s): 1 BACKED, 1 OVER, 1 UNDER, 1 STALE, 1 ERROR — SHORTFALL (exit 1)",
    ]
    assert summary_line(result) == lines[-1]


def test_table_details_column(result: AuditResult) -> None:
    text = table(result, details=True)
    header = next(line for line in text.splitlines() if "Token" in line)
    assert "Details" in header
    body = rows(text)
    # the token rows are as without --details, with an empty Details cell
    assert ["QQQx", "US46090E1038", "—", "45", "—", "ERROR", ""] in body
    # one row per deployment: chain, short address, circulating shares, what was read
    assert [
        "ethereum",
        "0xA11C…0001",
        "1000.5",
        "",
        "",
        "",
        "supply 1200.5 excluded 200",
    ] in body
    assert [
        "solana",
        "XsbEhL…JzJp",
        "1050",
        "",
        "",
        "",
        "supply 1000 multiplier 1.05 (applied)",
    ] in body
    tsla = next(r for r in body if r[1] == "0x7E5D…0002")
    assert tsla == [
        "ethereum",
        "0x7E5D…0002",
        "150",
        "",
        "",
        "",
        "supply 150 multiplier 1.5 (in the balances) → 1.4985 from 2026-03-05T14:00:00Z",
    ]
    # a deployment not read: unknown, never 0, with its error
    assert ["base", "0xBA5E…0006", "—", "", "", "error", BASE_ERROR] in body
    # one row per statement used: account, quantity, stale or not, as of and file
    assert [
        "custody",
        "SAFE-2",
        "",
        "10",
        "",
        "stale",
        "as of 2026-02-26T00:00:00Z (acme-safe-2.json)",
    ] in body
    assert [
        "custody",
        "SAFE-1",
        "",
        "2050.5",
        "",
        "",
        "as of 2026-03-02T09:00:00Z (acme-safe-1.json)",
    ] in body


def test_table_colour_changes_nothing_but_the_escapes(result: AuditResult) -> None:
    plain = renderer("table")(result, Options(color=False, width=200))
    coloured = renderer("table")(result, Options(color=True, width=200))
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


# ---------------------------------------------------------------------- both formats


@pytest.mark.parametrize("details", [False, True])
def test_no_secret_in_any_format(result: AuditResult, details: bool) -> None:
    for name in ("table", "json", "markdown", "junit", "prometheus", "html"):
        text = renderer(name)(result, Options(details=details, color=False, width=200))
        assert API_KEY not in text and "user:" not in text
    assert SHOWN_URL in table(result, details=details)


@pytest.mark.parametrize(
    ("statuses", "code", "verdict"),
    [
        ((Status.BACKED, Status.OVER), 0, "all backed"),
        ((Status.BACKED, Status.STALE), 3, "audit incomplete"),
        ((Status.BACKED, Status.ERROR), 3, "audit incomplete"),
        ((Status.STALE, Status.UNDER), 1, "SHORTFALL"),
    ],
)
def test_exit_code_and_verdict_follow_the_statuses(
    statuses: tuple[Status, ...], code: int, verdict: str
) -> None:
    tokens = tuple(
        token(f"T{i}x", "US0378331005", s, "1", "1", "0") for i, s in enumerate(statuses)
    )
    counts = {s: statuses.count(s) for s in Status}
    result = AuditResult(GENERATED, chains={}, tokens=tokens, summary=counts)
    doc = as_json(result)
    assert doc["exit_code"] == code
    assert doc["summary"] == {s.value: statuses.count(s) for s in Status}
    assert doc["chains"] == {}
    named = ", ".join(f"1 {s.value}" for s in Status if s in statuses)
    expected = f"2 token(s): {named} — {verdict} (exit {code})"
    assert summary_line(result) == expected
    assert table(result).splitlines()[-1] == expected


@pytest.mark.parametrize("width", [120, 200])
def test_the_fast_table_is_richs_table(
    result: AuditResult, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """From FAST_ROWS tokens on, the uncoloured table is laid out without Rich; it must be
    the same text, character for character (wide characters, unknown amounts, signs)."""
    from dataclasses import replace

    from xstock_audit.report import table

    many = tuple(
        replace(t, symbol=f"{t.symbol}{i}" if i % 7 else f"株{t.symbol}{i}")
        for i in range(60)
        for t in result.tokens
    )
    big = replace(result, tokens=many)
    assert len(many) >= table.FAST_ROWS
    options = Options(details=False, color=False, width=width)
    fast = table.render(big, options)
    monkeypatch.setattr(table, "FAST_ROWS", 10**9)
    assert fast == table.render(big, options)


def test_the_fast_table_leaves_folding_to_rich() -> None:
    from xstock_audit.report.table import HEADERS, plain_table

    row = ("T", "US0000000000", "1" * 200, "1", "0", "BACKED")
    assert plain_table(HEADERS, [row], 120) is None
    assert plain_table(HEADERS, [row], 300) is not None


@pytest.mark.parametrize("colours", ["truecolor", "256", "standard"])
def test_the_fast_coloured_table_is_richs_table(
    result: AuditResult, monkeypatch: pytest.MonkeyPatch, colours: str
) -> None:
    """The same on a colour terminal: the header and each status cell as Rich colours them."""
    from dataclasses import replace

    from rich.console import Console

    from xstock_audit.report import table

    real = Console

    def console(**kwargs: Any) -> Console:
        return real(**kwargs, color_system=colours)  # type: ignore[arg-type]

    monkeypatch.setattr(table, "Console", console)
    many = tuple(replace(t, symbol=f"{t.symbol}{i}") for i in range(50) for t in result.tokens)
    big = replace(result, tokens=many)
    options = Options(details=False, color=True, width=120)
    fast = table.render(big, options)
    assert "\x1b[" in fast
    monkeypatch.setattr(table, "FAST_ROWS", 10**9)
    assert fast == table.render(big, options)
