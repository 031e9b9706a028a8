"""A toy report format: one `SYMBOL STATUS` line per token."""

from __future__ import annotations

from xstock_audit.reconcile import AuditResult
from xstock_audit.report.interface import Options, ReportFormat


class ToyReport(ReportFormat):
    name = "toy"
    machine_readable = True

    def render(self, result: AuditResult, options: Options) -> str:
        lines = [f"{t.symbol} {t.status.value}" for t in result.tokens]
        pins = [f"{n} {r.pin.unit} {r.pin.number}" for n, r in result.chains.items() if r.pin]
        return "\n".join([*pins, *lines, f"exit {result.exit_code}"]) + "\n"


FORMAT = ToyReport()
