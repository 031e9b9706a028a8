"""Report formats: one module per format, each with `render(result, options) -> str`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ..amounts import fmt_short
from ..chains import DeploymentSupply
from ..reconcile import AuditResult, Status, TokenResult
from ..timefmt import iso

#: format name -> module with `render`; imported only when used.
FORMATS: Mapping[str, str] = {
    "table": "xstock_audit.report.table",
    "json": "xstock_audit.report.jsonfmt",
}


@dataclass(frozen=True)
class Options:
    details: bool = False
    color: bool = False
    width: int | None = None


class Renderer(Protocol):
    def __call__(self, result: AuditResult, options: Options) -> str: ...


def renderer(name: str) -> Renderer:
    render: Renderer = importlib.import_module(FORMATS[name]).render
    return render


def multiplier(s: DeploymentSupply) -> str | None:
    """The multiplier of a multiplier token (Backed, ScaledUiAmount) as its shortest exact
    decimal (`1`, `1.5`, `1.05`); None for a plain token or a deployment not read."""
    if s.error is not None or not (s.multiplier_applied or "multiplier_raw" in s.details):
        return None
    return fmt_short(s.multiplier)


def token_messages(t: TokenResult) -> list[str]:
    """Every sentence the report says about a token, in the order the formats print them."""
    out = [
        f"{d.supply.chain}: multiplier change scheduled: {fmt_short(d.supply.schedule.current)}"
        f" -> {fmt_short(d.supply.schedule.new)} at {iso(d.supply.schedule.at)}"
        for d in t.deployments
        if d.supply.schedule is not None
    ]
    out.extend(t.messages)
    if t.onchain is None and t.onchain_read is not None and t.status is not Status.UNDER:
        out.append(
            f"on-chain supply unknown: the deployments that were read hold "
            f"{fmt_short(t.onchain_read)} shares (a lower bound)"
        )
    return out


__all__ = ["FORMATS", "Options", "Renderer", "iso", "multiplier", "renderer", "token_messages"]
