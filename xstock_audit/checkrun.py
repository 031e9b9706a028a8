"""What `xstock-audit check` does after its options are parsed: the audit, then every
output the run asked for. The CLI module only declares the options and maps errors to exit
codes; the steps live here so they can be read (and tested) in one place:

1. before any work, every place something will be written is checked (`problems`);
2. the audit (`audit.run`) with the gate's inputs: `--fail-on`, `--ignore`, `--mint`;
3. the main report (stdout or `-o`), then each `--output-FORMAT` file, each written
   atomically; the Markdown report appended to `$GITHUB_STEP_SUMMARY` when that is set;
4. `--history`: the run appended to the SQLite history;
5. `--notify`: a JSON post when the gate failed or a status changed since the previous run
   in the history. A failed notification is reported and does not change the exit code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from .reconcile import AuditResult
    from .registry import Registry

#: `--output-FORMAT` option -> the report format it writes
EXTRA_OUTPUTS = {
    "json": "json",
    "junit": "junit",
    "markdown": "markdown",
    "prom": "prometheus",
    "html": "html",
}


@dataclass
class CheckRequest:
    registry: Path
    format: str = "table"
    output: Path | None = None
    details: bool = False
    quiet: bool = False
    timeout: float = 60.0
    #: report format -> file, from the `--output-FORMAT` options
    outputs: dict[str, Path] = field(default_factory=dict)
    fail_on: tuple[str, ...] | None = None
    ignores: Sequence[str] = ()
    mints: Sequence[str] = ()
    history: Path | None = None
    notify: str | None = None
    #: `--at`: read the chains as of this instant
    at: datetime | None = None
    #: `--at attestation`: each token as of its custody's newest as-of
    at_attestation: bool = False
    #: `--movements`: list what moved on chain since each token's custody as-of
    movements: bool = False


def problems(req: CheckRequest) -> list[str]:
    """Why the run could not write what it was asked to, checked before any work: each
    entry names the option."""
    from .output import folder_problem, output_problem

    out: list[str] = []
    targets: dict[str, Path] = {}
    if req.output is not None:
        targets["--output"] = req.output
    for option, fmt in EXTRA_OUTPUTS.items():
        if fmt in req.outputs:
            targets[f"--output-{option}"] = req.outputs[fmt]
    seen: dict[str, str] = {}
    for option, path in targets.items():
        if problem := output_problem(path, req.registry):
            out.append(f"{option} {path}: {problem}")
        key = str(path.resolve()) if path.exists() or path.parent.exists() else str(path)
        if key in seen and not (path.exists() and not path.is_file()):
            out.append(f"{option} {path}: the same file as {seen[key]}")
        seen.setdefault(key, option)
    if req.history is not None:
        h = req.history
        if h.is_dir():
            out.append(f"--history {h}: is a directory")
        elif not h.exists() and (problem := folder_problem(h.parent)):
            out.append(f"--history {h}: {problem}")
    if req.notify is not None:
        from urllib.parse import urlsplit

        from .redact import redact_url

        parts = urlsplit(req.notify)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = redact_url(req.notify) if parts.scheme and parts.hostname else "the value"
            out.append(f"--notify: {shown} is not an http(s) URL with a host")
    return out


def gate_inputs(
    req: CheckRequest, registry: Registry, today: datetime
) -> tuple[list[Any], dict[str, list[Any]]]:
    """The `--ignore` and `--mint` values, checked against the registry (InputError)."""
    from .policy import parse_ignore, parse_mint
    from .reconcile import PlannedMint

    ignores = []
    for text in req.ignores:
        try:
            ig = parse_ignore(text, today.date())
        except ValueError as exc:
            raise InputError(str(exc), field="--ignore") from None
        if ig.symbol not in {t.symbol for t in registry.tokens}:
            raise InputError(f"{text!r}: no token has symbol {ig.symbol!r}", field="--ignore")
        ignores.append(ig)
    mints: dict[str, list[Any]] = {}
    if not req.mints:
        return ignores, mints
    chains_of = {t.symbol: [d.chain for d in t.deployments] for t in registry.tokens}
    for text in req.mints:
        try:
            symbol, chain, amount = parse_mint(text, chains_of)
        except ValueError as exc:
            raise InputError(str(exc), field="--mint") from None
        mints.setdefault(symbol, []).append(PlannedMint(chain, amount))
    return ignores, mints


def open_history(req: CheckRequest) -> None:
    """Open (create, migrate) the `--history` file before the audit, so that a file that
    can't be used (newer schema, not a history, unwritable) stops the run at once (exit 2)."""
    if req.history is not None:
        from . import history

        with history.connect(req.history):
            pass


def render_extra(
    result: AuditResult, fmt_name: str, path: Path, history_db: Path | None = None
) -> str:
    """The text of one `--output-FORMAT` file (the Prometheus textfile carries the last
    successful run's time over from the file it replaces)."""
    from .report import Options, report_format

    fmt = report_format(fmt_name)
    previous = previous_text(path) if fmt.carries_over else None
    options = Options(details=True, color=False, width=120, previous=previous)
    if fmt_name == "html" and history_db is not None and history_db.exists():
        from . import history
        from .report.html import render_html

        symbols = [t.symbol for t in result.tokens]
        return render_html(result, options, history=history.chart_points(history_db, symbols))
    return fmt.render(result, options)


def previous_text(path: Path | None) -> str | None:
    """The content of the report file about to be replaced (None: no such file, or not
    text): a format may carry something over (Prometheus: the last success's time)."""
    if path is None or not path.is_file():
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


#: GitHub refuses a step summary over 1 MiB
STEP_SUMMARY_LIMIT = 1024 * 1024


def step_summary(text: str, limit: int = STEP_SUMMARY_LIMIT) -> str:
    """The Markdown report cut to what `$GITHUB_STEP_SUMMARY` accepts, at a line, saying so."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text if text.endswith("\n") else text + "\n"
    note = (
        "\n\n*(cut here: a step summary is limited to 1 MiB; the whole report is in the "
        "JSON or Markdown output)*\n"
    )
    cut = data[: limit - len(note.encode()) - 1].decode("utf-8", errors="ignore")
    return cut[: cut.rfind("\n") + 1] + note


def write_extras(result: AuditResult, req: CheckRequest, say: Any) -> None:
    from .output import write_atomic

    for fmt_name, path in req.outputs.items():
        write_atomic(path, render_extra(result, fmt_name, path, req.history))
        say(f"{fmt_name} report written to {path}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from .report import Options, report_format

        text = report_format("markdown").render(result, Options(details=False, color=False))
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(step_summary(text))
        except OSError as exc:
            say(f"warning: could not append to $GITHUB_STEP_SUMMARY ({exc.strerror or exc})")


def changes(result: AuditResult, previous: Mapping[str, str]) -> list[dict[str, str]]:
    """The tokens whose status differs from the previous run's (a token new since then
    included); nothing without a previous run."""
    if not previous:
        return []
    return [
        {"symbol": t.symbol, "from": previous.get(t.symbol, "(none)"), "to": t.status.value}
        for t in result.tokens
        if previous.get(t.symbol) != t.status.value
    ]


def notify_body(result: AuditResult, changed: list[dict[str, str]]) -> dict[str, Any]:
    """The notification: Slack-compatible `text`, the gate, the changes, the JSON report
    (RPC URLs in it are already redacted)."""
    import json

    from .report import jsonfmt
    from .report.table import summary_line

    failed = list(result.gate.failed) if result.gate is not None else []
    lines = [f"xstock-audit: {summary_line(result)}"]
    if failed:
        lines.append("failing: " + ", ".join(failed))
    if changed:
        lines.append(
            "changed: " + ", ".join(f"{c['symbol']} {c['from']} -> {c['to']}" for c in changed)
        )
    body = {
        "text": "\n".join(lines),
        "exit_code": result.exit_code,
        "failed": failed,
        "changed": changed,
        "report": json.loads(jsonfmt.render(result, _options())),
    }
    return body


def _options() -> Any:
    from .report import Options

    return Options()


def send_notification(url: str, body: dict[str, Any], attempts: int = 3) -> str | None:
    """POST `body` to `url` with retries and backoff; None when delivered, else why not (the
    URL redacted)."""
    import json
    import time

    import httpx

    from .redact import redact_url, register_url, scrub

    register_url(url)
    shown = redact_url(url)
    payload = json.dumps(body, separators=(",", ":")).encode()
    why = "not sent"
    for attempt in range(attempts):
        try:
            resp = httpx.post(
                url,
                content=payload,
                headers={"content-type": "application/json"},
                timeout=httpx.Timeout(10.0, connect=5.0),
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {scrub(str(exc)) or 'failed'}"
        else:
            if resp.status_code < 300:
                return None
            why = f"HTTP {resp.status_code}"
            if resp.status_code < 500 and resp.status_code != 429:
                break  # the hook refuses the message: retrying will not help
        if attempt + 1 < attempts:
            time.sleep(0.5 * 2**attempt)
    return f"notification to {shown} failed after {attempt + 1} attempt(s): {why}"


def after_report(result: AuditResult, req: CheckRequest, registry: Path, say: Any) -> None:
    """History, then the notification (which compares with the history's previous run)."""
    previous: dict[str, str] = {}
    if req.history is not None:
        from . import history

        previous = history.previous_statuses(req.history)
        history.record(req.history, result, str(registry))
        say(f"run recorded in {req.history}")
    if req.notify is not None:
        changed = changes(result, previous)
        failed = result.gate is not None and not result.gate.passed
        if failed or changed:
            problem = send_notification(req.notify, notify_body(result, changed))
            say(problem or "notification sent")


def now() -> datetime:
    return datetime.now(UTC)


def parse_at(text: str) -> datetime:
    """`--at`: ISO 8601 with a zone (`2026-11-20T23:59:59Z`) or unix seconds; not in the
    future. ValueError with a sentence for the user."""
    value = text.strip()
    if value.isdigit():
        try:
            when = datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{text!r} is not a time (unix seconds out of range)") from None
    else:
        from .custody.fields import timestamp  # the same rules as an attestation's as_of

        try:
            when = timestamp(value)
        except ValueError as exc:
            raise ValueError(f"{exc} (or give unix seconds)") from None
    if when > now():
        raise ValueError(f"{text!r} is in the future")
    return when
