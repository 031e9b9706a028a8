"""Report formats: one module per format, each a `ReportFormat` plug-in (see `interface`)."""

from __future__ import annotations

from collections.abc import Callable

from ..amounts import fmt_short
from ..chains.interface import DeploymentSupply
from ..reconcile import AuditResult
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
