"""Report formats: one module per format, each a `ReportFormat` plug-in (see `interface`)."""

from __future__ import annotations

from collections.abc import Callable

from ..amounts import fmt_short
from ..chains.interface import DeploymentSupply
from ..reconcile import AuditResult, Status, TokenResult
from ..timefmt import iso
from .interface import Options, ReportFormat

Renderer = Callable[[AuditResult, Options], str]


def report_format(name: str) -> ReportFormat:
    """The installed report format `name` (`--format`)."""
    from .. import plugins

    return plugins.load_as(plugins.REPORT_FORMATS, name, ReportFormat)


def renderer(name: str) -> Renderer:
    return report_format(name).render


def multiplier(s: DeploymentSupply) -> str | None:
    """The multiplier of a multiplier token (Backed, ScaledUiAmount) as its shortest exact
    decimal (`1`, `1.5`, `1.05`); None for a plain token or a deployment not read."""
    if s.error is not None or not s.has_multiplier:
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
    read_any = any(d.circulating is not None for d in t.deployments)
    if (
        t.onchain is None
        and t.onchain_read is not None
        and read_any
        and t.status is not Status.UNDER
    ):
        out.append(
            f"on-chain supply unknown: the deployments that were read hold "
            f"{fmt_short(t.onchain_read)} shares (a lower bound)"
        )
    return out


__all__ = [
    "Options",
    "Renderer",
    "ReportFormat",
    "iso",
    "multiplier",
    "renderer",
    "report_format",
    "token_messages",
]
