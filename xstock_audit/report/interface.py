"""The report-format interface.

A report format is one `ReportFormat` registered in the `xstock_audit.report_formats`
entry-point group under the name `--format` takes. It turns an `AuditResult` (the data:
statuses, figures, typed notes) into text; the sentences come from `xstock_audit.text`, the
dates from `xstock_audit.timefmt`. A format declares its traits instead of the CLI knowing
them: a `machine_readable` one owns stdout alone (the summary and any progress go elsewhere).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from ..reconcile import AuditResult


@dataclass(frozen=True)
class Options:
    details: bool = False
    color: bool = False
    width: int | None = None
    #: the content of the file this report replaces, for a format that carries something
    #: over from the previous run (Prometheus: the last successful run's time); None: none
    previous: str | None = None


class ReportFormat(ABC):
    """One output format, registered in `xstock_audit.report_formats`."""

    name: ClassVar[str]
    #: stdout carries the document and nothing else (no progress, summary on stderr)
    machine_readable: ClassVar[bool] = False
    #: reads `Options.previous`, the file the report replaces (only then is it read)
    carries_over: ClassVar[bool] = False

    @abstractmethod
    def render(self, result: AuditResult, options: Options) -> str: ...
