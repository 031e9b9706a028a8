"""Report formats: one module per format, each with `render(result, options) -> str`."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..reconcile import AuditResult

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


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")
