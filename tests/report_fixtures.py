"""AuditResults built by hand for the report-format tests (tests/test_report_*.py).

`five_tokens()` is the fixture of tests/test_report_formats.py (one token per status but
UNVERIFIED, three chains, one not read; no gate: the default one applies). `gated()` adds a
gate: `fail_on: [under]`, NVDAx ignored with a reason full of Markdown and XML, a STALE token
that does not fail, and a token whose symbol and message carry markup characters.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

from test_report_formats import (
    AAPLX,
    CHAINS,
    GENERATED,
    NVDAX,
    QQQX,
    SPYX,
    SUMMARY,
    TSLAX,
    custody,
    token,
)

from xstock_audit.policy import Gate, Ignore
from xstock_audit.reconcile import AuditResult, Status

IGNORE_REASON = "custodian migration | ticket *OPS-42* @alice"
WEIRD_SYMBOL = "A|B_x"
WEIRD_MESSAGE = (
    "line one\nline `two` <b>bold</b> [link](http://x) & more *not bold* ~~struck~~ \\ @alice #42"
)

#: the statement used by WEIRD_SYMBOL, 7 h 30 min before GENERATED (14:30:15.654321)
WEIRD_AS_OF = datetime(2026, 3, 2, 7, 0, 15, tzinfo=UTC)


def five_tokens() -> AuditResult:
    return AuditResult(
        generated_at=GENERATED,
        chains=CHAINS,
        tokens=(AAPLX, TSLAX, NVDAX, SPYX, QQQX),
        summary=SUMMARY,
    )


WEIRD = dataclasses.replace(
    token(WEIRD_SYMBOL, "US0000000000", Status.UNDER, "7", "6.5", "-0.5"),
    attestations=(dataclasses.replace(custody("SAFE-9", "6.5"), as_of=WEIRD_AS_OF),),
    messages=(WEIRD_MESSAGE,),
    onchain_read=Decimal(7),
)

IGNORE = Ignore("NVDAx", IGNORE_REASON, date(2026, 12, 1), "registry")


def gated() -> AuditResult:
    return AuditResult(
        generated_at=GENERATED,
        chains={"solana": CHAINS["solana"]},
        tokens=(AAPLX, NVDAX, SPYX, WEIRD),
        summary={Status.BACKED: 1, Status.UNDER: 2, Status.STALE: 1},
        gate=Gate(fail_on=("UNDER",), failed=(WEIRD_SYMBOL,), ignored=(IGNORE,), exit_code=1),
    )
