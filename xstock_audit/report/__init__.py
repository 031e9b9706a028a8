"""Report formats: one module per format, each a `ReportFormat` plug-in (see `interface`)."""

from __future__ import annotations

from collections.abc import Callable

from ..amounts import fmt_short
from ..chains.interface import DeploymentSupply
from ..policy import Gate, decide
from ..reconcile import AuditResult, Status
from ..text import token_messages
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


def gate_of(result: AuditResult) -> Gate:
    """The run's gate: the one the audit decided, or the default gate over the statuses (a
    result built without one: every status but BACKED and OVER fails)."""
    if result.gate is not None:
        return result.gate
    return decide((t.symbol, t.status.value) for t in result.tokens)


def verdict(result: AuditResult) -> str:
    """The run in a few words, from its exit code (SPEC "Exit codes"): `all backed`,
    `SHORTFALL`, `audit incomplete`, or `passed` when the gate passed without every token
    BACKED or OVER (a status not in `fail_on`, an ignored token)."""
    code = result.exit_code
    if code == 1:
        return "SHORTFALL"
    if code == 3:
        return "audit incomplete"
    if all(t.status in (Status.BACKED, Status.OVER) for t in result.tokens):
        return "all backed"
    return "passed"


__all__ = [
    "Options",
    "Renderer",
    "ReportFormat",
    "gate_of",
    "iso",
    "multiplier",
    "renderer",
    "report_format",
    "token_messages",
    "verdict",
]
