"""The JSON report, schema ``xstock-audit/report/v1`` (see "JSON report" in the README).

Laid out for people too: one top-level key, one chain and one token a line.

Every amount is a decimal string, exact (`circulating` keeps every place of the deployment's
decimals and multiplier); an amount that is not known is null, never "0". Times are ISO 8601
UTC; RPC URLs are redacted.
"""

from __future__ import annotations

import json
from typing import Any

from .. import text
from ..amounts import fmt, fmt_short
from ..policy import Gate
from ..reconcile import AuditResult, DeploymentResult, Movements, Status, TokenResult
from . import Options, ReportFormat, iso, multiplier, token_messages

SCHEMA = "xstock-audit/report/v1"


def _opt(value: Any) -> str | None:
    return None if value is None else fmt(value)


def _deployment(d: DeploymentResult) -> dict[str, Any]:
    s = d.supply
    return {
        "chain": s.chain,
        "address": s.address,
        "decimals": s.decimals,
        "total_supply": _opt(s.total_supply),
        "excluded": _opt(s.excluded),
        "multiplier": None if s.error else fmt_short(s.multiplier),
        "multiplier_applied": s.multiplier_applied,
        "multiplier_schedule": None
        if s.schedule is None or multiplier(s) is None
        else {
            "multiplier": fmt_short(s.schedule.new),
            "at": iso(s.schedule.at),
        },
        "shares_per_token": fmt(d.shares_per_token),
        "circulating": _opt(d.circulating),
        "error": s.error,
        "details": dict(s.details),
    }


def _movements(m: Movements) -> dict[str, Any]:
    return {
        "movements_since": None if m.since is None else iso(m.since),
        "movements": None
        if m.items is None
        else [
            {
                "time": iso(x.time),
                "chain": x.chain,
                "tx": x.tx,
                "kind": x.kind,
                "amount": _opt(x.amount),
            }
            for x in m.items
        ],
    }


def _token(t: TokenResult, at: str | None = None) -> dict[str, Any]:
    out = {
        "symbol": t.symbol,
        "at": at,
        "isin": t.isin,
        "status": t.status.value,
        "onchain": _opt(t.onchain),
        "onchain_read": _opt(t.onchain_read),
        "custody": _opt(t.custody),
        "difference": _opt(t.difference),
        "tolerance": fmt(t.tolerance),
        "deployments": [_deployment(d) for d in t.deployments],
        "attestations": [
            {
                "custodian": a.custodian,
                "file": a.file,
                "account": a.account,
                "as_of": iso(a.as_of),
                "quantity": fmt(a.quantity),
                "unavailable": fmt(a.unavailable),
                "stale": a.stale,
                "signature": a.signature,
            }
            for a in t.attestations
        ],
        "planned_mints": [
            {"chain": m.chain, "amount": fmt(m.amount), "shares": _opt(m.shares)}
            for m in t.planned_mints
        ],
        "messages": token_messages(t),
    }
    if t.movements is not None:  # check --movements
        out.update(_movements(t.movements))
    return out


def document(result: AuditResult, *, tokens: bool = True) -> dict[str, Any]:
    """The report as data (with `tokens=False`, `tokens` is an empty list: `render` writes
    the tokens' lines itself)."""
    at = None if result.at is None else iso(result.at)
    chains: dict[str, Any] = {}
    for name, read in result.chains.items():
        pin, messages = read.pin, text.notes(read.notes)
        if pin is None:
            chains[name] = {"error": read.error or "not read", "messages": messages}
            continue
        unit = pin.unit
        chains[name] = {
            unit: pin.number,
            "time": iso(pin.time),
            "rpc": pin.rpc,
            "requests": read.requests,
            "retries": read.retries,
            "messages": messages,
        }
        if pin.at is not None:  # check --at: the instant, and how the block/slot was found
            chains[name].update({"at": iso(pin.at), "how": pin.how, "replayed": pin.replayed})
    return {
        "schema": SCHEMA,
        "generated_at": iso(result.generated_at.replace(microsecond=0)),
        "at": None if result.at is None else iso(result.at),
        "chains": chains,
        "tokens": [
            _token(t, iso(result.token_at[t.symbol]) if t.symbol in result.token_at else at)
            for t in result.tokens
        ]
        if tokens
        else [],
        "summary": {s.value: result.summary.get(s, 0) for s in Status},
        "gate": None if result.gate is None else _gate(result.gate),
        "exit_code": result.exit_code,
    }


def _gate(gate: Gate) -> dict[str, Any]:
    return {
        "fail_on": [s.lower() for s in gate.fail_on],
        "failed": list(gate.failed),
        "ignored": [
            {
                "symbol": ig.symbol,
                "reason": ig.reason,
                "until": None if ig.until is None else ig.until.isoformat(),
                "source": ig.source,
            }
            for ig in gate.ignored
        ],
        "passed": gate.passed,
    }


#: json's C encoder works only without `indent`; the pure-Python one took seconds at 10,000
#: tokens. So the layout is made here: one top-level key a line, one chain and one token a
#: line, each written by the C encoder.
_ONE_LINE = json.JSONEncoder(ensure_ascii=True, separators=(", ", ": "))


# -- a token's line, written directly: the same text as `_ONE_LINE.encode(_token(t, at))`
# (tests/test_report_formats.py compares the two on every fixture), without a dict per
# token and deployment for the encoder to walk: 0.35 -> 0.2 s for 10,000 tokens.

_quote = json.encoder.encode_basestring_ascii  # json's C string encoder, as ensure_ascii


def _q(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def _amount(value: Any) -> str:
    # a Decimal's plain notation (`fmt`: format "f") is digits, '-' and '.': nothing to
    # escape
    return "null" if value is None else f'"{value:f}"'


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _mapping(details: Any) -> str:
    if not details:
        return "{}"
    if all(type(k) is str and type(v) is str for k, v in details.items()):
        return "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in details.items()) + "}"
    return _ONE_LINE.encode(dict(details))


def _deployment_line(d: DeploymentResult) -> str:
    s = d.supply
    if s.schedule is None or multiplier(s) is None:
        schedule = "null"
    else:
        schedule = (
            f'{{"multiplier": "{fmt_short(s.schedule.new)}", "at": {_quote(iso(s.schedule.at))}}}'
        )
    return (
        f'{{"chain": {_quote(s.chain)}, "address": {_quote(s.address)}, '
        f'"decimals": {"null" if s.decimals is None else int(s.decimals)}, '
        f'"total_supply": {_amount(s.total_supply)}, "excluded": {_amount(s.excluded)}, '
        f'"multiplier": {"null" if s.error else _quote(fmt_short(s.multiplier))}, '
        f'"multiplier_applied": {"true" if s.multiplier_applied else "false"}, '
        f'"multiplier_schedule": {schedule}, '
        f'"shares_per_token": "{d.shares_per_token:f}", '
        f'"circulating": {_amount(d.circulating)}, '
        f'"error": {"null" if s.error is None else _quote(s.error)}, '
        f'"details": {_mapping(s.details)}}}'
    )


def _token_line(t: TokenResult, at: str | None) -> str:
    attestations = ", ".join(
        f'{{"custodian": {_quote(a.custodian)}, "file": {_quote(a.file)}, '
        f'"account": {_quote(a.account)}, "as_of": {_quote(iso(a.as_of))}, '
        f'"quantity": {_amount(a.quantity)}, "unavailable": {_amount(a.unavailable)}, '
        f'"stale": {_flag(a.stale)}, "signature": {_q(a.signature)}}}'
        for a in t.attestations
    )
    mints = ", ".join(
        f'{{"chain": {_quote(m.chain)}, "amount": {_amount(m.amount)}, '
        f'"shares": {_amount(m.shares)}}}'
        for m in t.planned_mints
    )
    line = (
        f'{{"symbol": {_quote(t.symbol)}, "at": {_q(at)}, "isin": {_quote(t.isin)}, '
        f'"status": {_quote(t.status.value)}, "onchain": {_amount(t.onchain)}, '
        f'"onchain_read": {_amount(t.onchain_read)}, "custody": {_amount(t.custody)}, '
        f'"difference": {_amount(t.difference)}, "tolerance": {_amount(t.tolerance)}, '
        f'"deployments": [{", ".join(_deployment_line(d) for d in t.deployments)}], '
        f'"attestations": [{attestations}], "planned_mints": [{mints}], '
        f'"messages": [{", ".join(_quote(m) for m in token_messages(t))}]'
    )
    if t.movements is not None:  # check --movements: its two keys, last
        line += ", " + _ONE_LINE.encode(_movements(t.movements))[1:-1]
    return line + "}"


def render(result: AuditResult, options: Options) -> str:
    doc = document(result, tokens=False)
    at = None if result.at is None else iso(result.at)
    doc["tokens"] = [
        _token_line(t, iso(result.token_at[t.symbol]) if t.symbol in result.token_at else at)
        for t in result.tokens
    ]
    out = ["{"]
    keys = list(doc)
    for n, key in enumerate(keys):
        value = doc[key]
        comma = "," if n < len(keys) - 1 else ""
        name = _ONE_LINE.encode(key)
        if key == "tokens" and value:
            items = ",\n".join("    " + line for line in value)
            out.append(f"  {name}: [\n{items}\n  ]{comma}")
        elif key == "chains" and value:
            items = ",\n".join(
                f"    {_ONE_LINE.encode(c)}: {_ONE_LINE.encode(v)}" for c, v in value.items()
            )
            out.append(f"  {name}: {{\n{items}\n  }}{comma}")
        else:
            out.append(f"  {name}: {_ONE_LINE.encode(value)}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


class JsonFormat(ReportFormat):
    name = "json"
    machine_readable = True

    def render(self, result: AuditResult, options: Options) -> str:
        return render(result, options)


FORMAT = JsonFormat()
