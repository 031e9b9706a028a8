"""The JSON report, schema ``xstock-audit/report/v1`` (see ../shared/SPEC.md).

Every amount is a decimal string; times are ISO 8601 UTC; RPC URLs are redacted.
"""

from __future__ import annotations

import json
from typing import Any

from ..amounts import fmt
from ..reconcile import AuditResult, DeploymentResult, Status, TokenResult
from . import Options, iso

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
        "multiplier": fmt(s.multiplier),
        "multiplier_applied": s.multiplier_applied,
        "shares_per_token": fmt(d.shares_per_token),
        "circulating": _opt(d.circulating),
        "error": s.error,
        "details": dict(s.details),
    }


def _token(t: TokenResult) -> dict[str, Any]:
    return {
        "symbol": t.symbol,
        "isin": t.isin,
        "status": t.status.value,
        "onchain": fmt(t.onchain),
        "custody": fmt(t.custody),
        "difference": fmt(t.difference),
        "tolerance": fmt(t.tolerance),
        "deployments": [_deployment(d) for d in t.deployments],
        "attestations": [
            {
                "file": a.file,
                "account": a.account,
                "as_of": iso(a.as_of),
                "quantity": fmt(a.quantity),
                "stale": a.stale,
            }
            for a in t.attestations
        ],
        "messages": list(t.messages),
    }


def document(result: AuditResult) -> dict[str, Any]:
    chains: dict[str, Any] = {}
    for name, read in result.chains.items():
        pin, messages = read.pin, list(read.messages)
        if pin is None:
            chains[name] = {"error": read.error or "not read", "messages": messages}
            continue
        unit = "block" if pin.kind == "evm" else "slot"
        chains[name] = {
            unit: pin.number,
            "time": iso(pin.time),
            "rpc": pin.rpc,
            "requests": read.requests,
            "messages": messages,
        }
    return {
        "schema": SCHEMA,
        "generated_at": iso(result.generated_at.replace(microsecond=0)),
        "chains": chains,
        "tokens": [_token(t) for t in result.tokens],
        "summary": {s.value: result.summary.get(s, 0) for s in Status},
        "exit_code": result.exit_code,
    }


def render(result: AuditResult, options: Options) -> str:
    return json.dumps(document(result), indent=2) + "\n"
