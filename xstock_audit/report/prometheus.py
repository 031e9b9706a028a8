"""The Prometheus report: node_exporter's textfile-collector format, every metric a gauge.

Per token (labels `symbol`, `isin`):

    xstock_audit_onchain_shares             circulating shares over all chains
    xstock_audit_custody_shares             shares held in custody
    xstock_audit_coverage_ratio             custody / onchain
    xstock_audit_status{status=...}         1 for the token's status, 0 for the five others
    xstock_audit_attestation_age_seconds    age of the oldest statement used, at generated_at
    xstock_audit_ignored                    1 when the gate ignores the token, else 0

Per chain: `xstock_audit_chain_height{chain}` (the block or slot read) and
`xstock_audit_chain_time_seconds{chain}` (its time). Per run:
`xstock_audit_last_run_timestamp_seconds` (generated_at, whole seconds),
`xstock_audit_last_success_timestamp_seconds` (the last run whose gate passed) and
`xstock_audit_exit_code`.

A value that is not known is left out, never written as 0: the on-chain supply of a token with
a deployment not read, its coverage ratio, the height of a chain not read, the age of a token
with no statement. A coverage ratio of custody over an on-chain supply of 0 is `+Inf` (0/0 is
left out).

Amounts are written as their exact decimal strings (Prometheus reads them as floats, which is
the exposition's business; this module never goes through a Python float). The ratio is
computed with Decimal to 34 significant digits. A float cannot tell 1 from a ratio a few raw
units short of it: alert on `xstock_audit_status{status="UNDER"} == 1`, not on the ratio.

`last_success`: when this run's gate passed it is this run's time; otherwise it is carried
over from the previous file when the caller passes that file's text as `previous_text` (the
CLI, writing `--output-prom PATH`, reads PATH's current content, if any, before replacing it
atomically); without it, the metric is left out rather than guessed.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from ..amounts import fmt
from ..reconcile import AuditResult, Status, TokenResult
from . import Options, ReportFormat, gate_of

PREFIX = "xstock_audit_"
LAST_SUCCESS = PREFIX + "last_success_timestamp_seconds"
#: the ratio's precision: more significant digits than a float64 can hold
_RATIO = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)

Labels = tuple[tuple[str, str], ...]


def escape_label(value: str) -> str:
    """A label value per the exposition format: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: Decimal) -> str:
    if value.is_infinite():
        return "+Inf" if value > 0 else "-Inf"
    text = fmt(value)  # plain notation, never an exponent; `2.5E+1` -> `25`
    return "0" if text.lstrip("-").strip("0.") == "" else text


def ratio(custody: Decimal | None, onchain: Decimal | None) -> Decimal | None:
    """custody / onchain, to 34 significant digits; None when either is unknown or both 0."""
    if custody is None or onchain is None:
        return None
    if onchain == 0:
        return None if custody == 0 else Decimal("Infinity")
    return _RATIO.divide(custody, onchain).normalize(_RATIO)


def _seconds(delta: timedelta) -> Decimal:
    """A duration in seconds, exactly (microseconds kept)."""
    micro = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micro).scaleb(-6).normalize()


def _unix(t: datetime) -> int:
    """Whole unix seconds (the JSON report's generated_at is whole seconds too)."""
    return math.floor(t.timestamp())


def previous_last_success(previous_text: str | None) -> str | None:
    """The last-success value of a previous textfile: the sample's value, as written (a
    number), or None when the text has no such sample or it is not a finite number."""
    if not previous_text:
        return None
    for line in previous_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == LAST_SUCCESS:
            try:
                value = Decimal(parts[1])
            except decimal.InvalidOperation:
                return None
            return parts[1] if value.is_finite() else None
    return None


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_text: str, samples: Iterable[tuple[Labels, str]]) -> None:
        rows = list(samples)
        if not rows:  # nothing known: the metric is left out, never 0
            return
        full = PREFIX + name
        self.lines.append(f"# HELP {full} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {full} gauge")
        for labels, value in rows:
            if labels:
                inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels)
                self.lines.append(f"{full}{{{inner}}} {value}")
            else:
                self.lines.append(f"{full} {value}")


def _token_labels(t: TokenResult) -> Labels:
    return (("symbol", t.symbol), ("isin", t.isin))


def render(result: AuditResult, options: Options, previous_text: str | None = None) -> str:
    """The textfile. `previous_text`: the previous textfile's content, for
    `last_success_timestamp_seconds` when this run's gate failed (see the module's doc)."""
    tokens = result.tokens
    gate = gate_of(result)
    out = _Out()
    out.family(
        "onchain_shares",
        "Circulating tokens summed over all chains, in shares of the underlying.",
        ((_token_labels(t), _number(t.onchain)) for t in tokens if t.onchain is not None),
    )
    out.family(
        "custody_shares",
        "Shares of the underlying held in custody (latest attestations).",
        ((_token_labels(t), _number(t.custody)) for t in tokens if t.custody is not None),
    )
    ratios = ((t, ratio(t.custody, t.onchain)) for t in tokens)
    out.family(
        "coverage_ratio",
        "Custody shares divided by on-chain shares (1 = exactly backed).",
        ((_token_labels(t), _number(r)) for t, r in ratios if r is not None),
    )
    out.family(
        "status",
        "1 for the token's reconciliation status, 0 for the others.",
        (
            ((*_token_labels(t), ("status", s.value)), "1" if t.status is s else "0")
            for t in tokens
            for s in Status
        ),
    )
    ages = ((t, min(a.as_of for a in t.attestations) if t.attestations else None) for t in tokens)
    out.family(
        "attestation_age_seconds",
        "Age of the oldest custody attestation used for the token, at the run's start.",
        (
            (_token_labels(t), _number(_seconds(result.generated_at - oldest)))
            for t, oldest in ages
            if oldest is not None
        ),
    )
    out.family(
        "ignored",
        "1 when the gate ignores the token (policy ignore or --ignore), else 0.",
        ((_token_labels(t), "1" if gate.ignore_of(t.symbol) else "0") for t in tokens),
    )
    pins = [(name, read.pin) for name, read in result.chains.items()]
    out.family(
        "chain_height",
        "The block or slot every read of the chain was pinned to.",
        [((("chain", name),), str(pin.number)) for name, pin in pins if pin is not None],
    )
    out.family(
        "chain_time_seconds",
        "Unix time of the block or slot the chain was read at.",
        [((("chain", name),), str(_unix(pin.time))) for name, pin in pins if pin is not None],
    )
    now = str(_unix(result.generated_at))
    out.family("last_run_timestamp_seconds", "Unix time of this run's start.", [((), now)])
    last_success = now if gate.passed else previous_last_success(previous_text)
    out.family(
        "last_success_timestamp_seconds",
        "Unix time of the last run whose gate passed.",
        [] if last_success is None else [((), last_success)],
    )
    out.family(
        "exit_code",
        "The run's exit code: 0 passed, 1 shortfall, 3 audit incomplete.",
        [((), str(result.exit_code))],
    )
    return "\n".join(out.lines) + "\n"


class PrometheusFormat(ReportFormat):
    name = "prometheus"
    machine_readable = True
    carries_over = True

    def render(self, result: AuditResult, options: Options) -> str:
        # `options.previous`: the textfile this one replaces (`check --output-prom` and
        # `-o` pass it), for the last successful run's time
        return render(result, options, previous_text=options.previous)


FORMAT = PrometheusFormat()
