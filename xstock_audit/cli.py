"""The command line. Thin: parse options, call `audit`, render, map errors to exit codes.

Heavy libraries (web3, solders, pydantic, rich tables) are imported inside the commands so
`xstock-audit --help` stays fast for cron and CI.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from . import __version__
from .attest import app as attest_app
from .completion import completion_args
from .errors import EXIT_INCOMPLETE, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED
from .history_cli import history as history_command
from .output import (
    folder_option_problem,
    pipe_width,
    terminal_width,
    write_atomic,
)
from .registry_cli import attach as attach_registry_commands

if TYPE_CHECKING:
    from .progress import TerminalProgress

DEFAULT_REGISTRY = "xstock-audit.yaml"  # = registry.DEFAULT_REGISTRY, not imported: pydantic
NO_REGISTRY = (
    f"error: no registry: {DEFAULT_REGISTRY} is not in the current folder. Pass a registry "
    "file (xstock-audit check path/to/registry.yaml), start from examples/xstocks.yaml, or "
    'run `xstock-audit demo` to see a whole audit; see "Quick start" in the README.'
)

app = typer.Typer(
    name="xstock-audit",
    help=(
        "Prove tokenized stocks are fully backed: read every deployment's supply from "
        "Ethereum/EVM chains and Solana, reconcile it exactly with the custodians' "
        "attestation files, and report.\n\n"
        "Exit codes: 0 every token backed (or over-collateralised); 1 at least one token "
        "UNDER (a shortfall); 2 unusable input (command line, registry or attestation "
        "file); 3 no shortfall but the audit is incomplete (STALE, UNVERIFIED or ERROR); "
        "130 interrupted (Ctrl-C); 143 terminated (SIGTERM, e.g. a CI or cron timeout). "
        "Interrupted or terminated, no report is written.\n\n"
        "Shell completion: xstock-audit --install-completion (for the shell it runs in), or "
        "--show-completion bash (zsh, fish, powershell) to print the script."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(attest_app)
attach_registry_commands(app)


def _format_name(value: str) -> str:
    """A report format installed in the `xstock_audit.report_formats` entry-point group."""
    from . import plugins

    known = plugins.names(plugins.REPORT_FORMATS)
    if value not in known:
        raise typer.BadParameter(f"{value!r} is not a report format; installed: {', '.join(known)}")
    return value


def _format_names(incomplete: str) -> list[str]:
    from . import plugins

    return [n for n in plugins.names(plugins.REPORT_FORMATS) if n.startswith(incomplete)]


FORMAT_HELP = (
    "Report format: table for people, json for machines, or any installed report plug-in "
    "(an unknown name lists them)."
)

#: `--format`: any report format installed in the entry-point group
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        parser=_format_name,
        autocompletion=_format_names,
        envvar="XSTOCK_AUDIT_FORMAT",
        help=FORMAT_HELP,
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xstock-audit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Prove tokenized stocks are fully backed."""


def _reflowed(command: Callable[..., None]) -> Callable[..., None]:
    """Join the lines of each docstring paragraph: Rich keeps single line breaks, so a
    paragraph wrapped for the source broke mid-sentence in `--help` on an 80-column screen."""
    import inspect

    text = inspect.cleandoc(command.__doc__ or "")
    command.__doc__ = "\n\n".join(" ".join(p.split()) for p in text.split("\n\n"))
    return command


def _seconds(text: str) -> float:
    """--timeout: a finite number of seconds, at least 1 (FloatRange lets inf and nan by)."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise typer.BadParameter(f"must be a finite number of seconds, at least 1 (got {text!r})")
    return value


def _fail(message: str, code: int, debug: bool) -> NoReturn:
    from .redact import scrub

    if debug and sys.exc_info()[0] is not None:  # a check's own refusal has no traceback
        import traceback

        sys.stderr.write(scrub(traceback.format_exc()))
    sys.stderr.write(scrub(message).rstrip("\n") + "\n")
    raise typer.Exit(code)


def _progress(enabled: bool) -> TerminalProgress | None:
    """The live per-chain display on stderr: only on a terminal, never in a pipe."""
    if not enabled:
        return None
    from .progress import terminal_progress

    return terminal_progress()


def _env(option: str) -> str:
    """The environment variable that gives an option of `check` (`--fail-on` ->
    XSTOCK_AUDIT_FAIL_ON): cron lines and CI jobs stay short."""
    return "XSTOCK_AUDIT_" + option.lstrip("-").upper().replace("-", "_")


def _out(option: str, what: str) -> Any:
    return typer.Option(
        option,
        metavar="FILE",
        envvar=_env(option),
        help=f"Also write the {what} report to FILE (atomically).",
        rich_help_panel="Outputs",
    )


@app.command()
@_reflowed
def check(
    registry: Annotated[
        Path | None,
        typer.Argument(
            help=(
                "Registry YAML (tokens, chains, custodians); "
                f"default: {DEFAULT_REGISTRY} in the current folder."
            ),
            envvar="XSTOCK_AUDIT_REGISTRY",
            show_default=False,
        ),
    ] = None,
    format: FormatOption = "table",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            envvar=_env("--output"),
            help="Write the report to FILE instead of stdout ('-' is stdout).",
        ),
    ] = None,
    details: Annotated[
        bool,
        typer.Option(
            "--details",
            "-d",
            envvar=_env("--details"),
            help="Show per-deployment and per-attestation rows.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", envvar=_env("--quiet"), help="No progress lines on stderr."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            parser=_seconds,
            metavar="SECONDS",
            envvar=_env("--timeout"),
            help=(
                "Deadline for the whole run in seconds (a finite number, at least 1); "
                "chains not read by then are ERROR."
            ),
        ),
    ] = 60.0,
    output_json: Annotated[Path | None, _out("--output-json", "JSON")] = None,
    output_junit: Annotated[Path | None, _out("--output-junit", "JUnit XML")] = None,
    output_markdown: Annotated[Path | None, _out("--output-markdown", "Markdown")] = None,
    output_prom: Annotated[
        Path | None, _out("--output-prom", "Prometheus textfile (node_exporter)")
    ] = None,
    output_html: Annotated[Path | None, _out("--output-html", "self-contained HTML")] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="STATUSES",
            envvar=_env("--fail-on"),
            help=(
                "Statuses that fail the run, comma-separated (default: the registry's "
                "policy.fail_on, else under,stale,unverified,error; OVER fails only when "
                "named)."
            ),
            rich_help_panel="Gate",
        ),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="SYMBOL:REASON[:UNTIL]",
            help=(
                "Do not fail on SYMBOL (still audited and shown, with REASON); UNTIL is an "
                "ISO date after which the ignore is an error. Repeatable; from the "
                "environment: XSTOCK_AUDIT_IGNORE, entries separated by ';'."
            ),
            rich_help_panel="Gate",
        ),
    ] = None,
    mint: Annotated[
        list[str] | None,
        typer.Option(
            "--mint",
            metavar="SYMBOL:AMOUNT[@CHAIN]",
            envvar=_env("--mint"),
            help=(
                "Audit as if AMOUNT tokens of SYMBOL (on CHAIN, when it has several "
                "deployments) were minted: a mint pipeline mints only on exit 0. Repeatable."
            ),
            rich_help_panel="Gate",
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="TIME",
            envvar=_env("--at"),
            help=(
                "Read every chain as of TIME (ISO 8601 with a zone, or unix seconds) instead "
                "of the head: EVM at the last block at or before it, Solana by replaying the "
                "transactions since. 'attestation': each token as of its custody's newest "
                "as-of."
            ),
            rich_help_panel="Point in time",
        ),
    ] = None,
    movements: Annotated[
        bool,
        typer.Option(
            "--movements",
            envvar=_env("--movements"),
            help=(
                "List per token the mints, burns and excluded-holder transfers between its "
                "custody as-of and the read (with --at: that instant), in shares."
            ),
            rich_help_panel="Point in time",
        ),
    ] = False,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            metavar="DB",
            envvar=_env("--history"),
            help="Append this run to the SQLite history DB (see `xstock-audit history`).",
            rich_help_panel="Outputs",
        ),
    ] = None,
    notify: Annotated[
        str | None,
        typer.Option(
            "--notify",
            metavar="URL",
            envvar=_env("--notify"),
            help=(
                "POST a JSON message (Slack-compatible `text`) to URL when the gate fails "
                "or a status changed since the previous run in --history."
            ),
            rich_help_panel="Outputs",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar=_env("--debug"), help="Show tracebacks (secrets stay redacted)."
        ),
    ] = False,
) -> None:
    """Audit every token of REGISTRY and exit 0/1/2/3 (see `xstock-audit --help`).

    Reads all chains at one pinned block/slot each, reads the custodians' newest
    attestations, reconciles exactly (no floating point) and prints the report.
    With --format json and no -o, stdout carries only the JSON document.

    Every option can also come from the environment, XSTOCK_AUDIT_<OPTION> (shown with
    each option), and the registry from XSTOCK_AUDIT_REGISTRY.
    """
    from . import checkrun
    from .errors import InputError, XstockAuditError

    if registry is None:
        registry = Path(DEFAULT_REGISTRY)
        if not registry.exists():
            _fail(NO_REGISTRY, EXIT_INPUT, debug)
    if output is not None and str(output) == "-":  # `-o -`: stdout, as usual for a CLI
        output = None
    ignores = list(ignore or [])
    if not ignores and os.environ.get("XSTOCK_AUDIT_IGNORE"):
        ignores = [p for p in os.environ["XSTOCK_AUDIT_IGNORE"].split(";") if p.strip()]
    extra = {
        "json": output_json,
        "junit": output_junit,
        "markdown": output_markdown,
        "prometheus": output_prom,
        "html": output_html,
    }
    req = checkrun.CheckRequest(
        registry=registry,
        format=format,
        output=output,
        details=details,
        quiet=quiet,
        timeout=timeout,
        outputs={k: v for k, v in extra.items() if v is not None},
        ignores=ignores,
        mints=list(mint or []),
        history=history,
        notify=notify,
        movements=movements,
    )
    if fail_on is not None:
        from .policy import parse_fail_on

        try:
            req.fail_on = parse_fail_on(fail_on)
        except ValueError as exc:
            _fail(f"error: --fail-on: {exc}", EXIT_INPUT, debug)
    if at is not None and at.strip().lower() == "attestation":
        req.at_attestation = True
    elif at is not None:
        try:
            req.at = checkrun.parse_at(at)
        except ValueError as exc:
            _fail(f"error: --at: {exc}", EXIT_INPUT, debug)
    if req.at_attestation and req.movements:
        _fail(
            "error: --movements with --at attestation: nothing to list, since each token is "
            "read at its custody as-of itself; use --movements alone (movements from the "
            "custody as-of to the head) or with --at TIME",
            EXIT_INPUT,
            debug,
        )
    if problems := checkrun.problems(req):
        _fail("error: " + "\nerror: ".join(problems), EXIT_INPUT, debug)
    try:
        from . import audit
        from . import registry as registry_mod
        from .report import Options, report_format
        from .report.table import summary_line

        fmt = report_format(format)
        for name in req.outputs:
            report_format(name)  # an --output-FORMAT whose format is not installed: exit 2
        reg = registry_mod.load(registry)
        ignores_in, mints_in = checkrun.gate_inputs(req, reg, checkrun.now())
        checkrun.open_history(req)  # a history file that can't be used: exit 2 before work
        # the registry lives as long as the process: keep the collector from rescanning it
        # (10,000 tokens are a few hundred thousand objects), and from running at all for the
        # rest of this one-shot run -- the transport cuts its reference cycles (rpc.py), so
        # what is left for the collector is small; measured: 0.2 s less at 10,000 tokens and
        # the same peak memory
        gc.freeze()
        gc.disable()
        # not with --quiet, nor when stdout carries a machine-readable document
        progress = _progress(not quiet and (not fmt.machine_readable or output is not None))
        if req.at_attestation:
            result = audit.run_at_attestation(
                reg,
                progress=progress,
                deadline_s=timeout,
                fail_on=req.fail_on,
                ignores=ignores_in,
                mints=mints_in,
            )
        else:
            result = audit.run(
                reg,
                progress=progress,
                deadline_s=timeout,
                fail_on=req.fail_on,
                ignores=ignores_in,
                mints=mints_in,
                when=req.at,
                movements=req.movements,
            )
        to_terminal = output is None and sys.stdout.isatty()
        text = fmt.render(
            result,
            Options(
                details=details,
                color=to_terminal and "NO_COLOR" not in os.environ,
                width=terminal_width() if to_terminal else pipe_width(),
                previous=checkrun.previous_text(output) if fmt.carries_over else None,
            ),
        )

        def say(line: str) -> None:
            sys.stderr.write(line + "\n")

        if output is None:
            try:
                sys.stdout.write(text)
                sys.stdout.flush()
            except BrokenPipeError:  # `| head`: the finding stands, the report is cut short
                _stdout_gone()
                sys.stderr.write(BROKEN_PIPE + "\n" + summary_line(result) + "\n")
                checkrun.after_report(result, req, registry, say)
                checkrun.write_extras(result, req, say)
                raise typer.Exit(result.exit_code or EXIT_INCOMPLETE) from None
        else:
            write_atomic(output, text)
            say(f"report written to {output}")
        # the history first: the HTML report's chart includes this run
        checkrun.after_report(result, req, registry, say)
        checkrun.write_extras(result, req, say)
        if output is not None or fmt.machine_readable or req.outputs:
            say(summary_line(result))
        global _fast_exit, _kept
        _fast_exit = True
        # held past the unwinding of this frame, so that they are not freed object by object
        # on the way out either (70 ms at 10,000 tokens): `_leave` ends the process
        _kept = (reg, result, text)
        raise typer.Exit(result.exit_code)
    except typer.Exit:
        raise
    except InputError as exc:
        _fail(f"error: {exc.render()}", EXIT_INPUT, debug)
    except XstockAuditError as exc:
        _fail(f"error: {exc}", EXIT_INCOMPLETE, debug)
    except KeyboardInterrupt:
        _fail(
            "interrupted (Ctrl-C): the audit did not finish; no report written",
            EXIT_INTERRUPTED,
            debug,
        )
    except Terminated:
        _fail(
            "terminated (SIGTERM): the audit did not finish; no report written",
            EXIT_TERMINATED,
            debug,
        )
    except Exception as exc:  # a bug: the audit did not complete, never pass it as backed
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback; "
            "the audit is incomplete)",
            EXIT_INCOMPLETE,
            debug,
        )
    finally:  # as it was (`check` run in-process, e.g. by a test or a wrapper)
        gc.unfreeze()
        gc.enable()


def _machine_readable(name: str) -> bool:
    from .report import report_format

    return report_format(name).machine_readable


BROKEN_PIPE = "error: stdout was closed before the whole report was written (broken pipe)"


def _stdout_gone() -> None:
    """The reader of stdout has gone: send the rest (and the exit-time flush) to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _sandbox_missing(exc: ImportError, debug: bool) -> NoReturn:
    _fail(
        f"error: the local chains need the sandbox extra ({exc.name or exc} is missing); "
        "install it with: pip install 'xstock-audit[sandbox]'",
        EXIT_INPUT,
        debug,
    )


@app.command()
@_reflowed
def demo(
    format: FormatOption = "table",
    details: Annotated[
        bool, typer.Option("--details", "-d", help="Show per-deployment and per-attestation rows.")
    ] = False,
    keep: Annotated[
        Path | None,
        typer.Option(
            "--keep",
            metavar="DIR",
            help="Keep the demo registry and attestation files in DIR (new or empty).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run a whole audit on embedded local chains: no RPC keys, no Node, no internet.

    Starts a local Ethereum (py-evm) and Solana (LiteSVM) node on 127.0.0.1, seeds a small
    xStocks-like portfolio (one token deliberately short of custody, multiplier changes
    scheduled), writes attestation files and a registry, runs the ordinary `check` code
    path against those URLs and prints the report. Exits 0 when the audit found exactly
    what was staged (the staged shortfall included), 1 otherwise.
    """
    if keep is not None and (problem := folder_option_problem(keep, empty=True)):
        _fail(f"error: --keep {keep}: {problem}", EXIT_INPUT, debug)
    try:
        from .sandbox.demo import run_demo

        code = run_demo(
            fmt=format,
            details=details,
            keep=keep,
            color=sys.stdout.isatty() and "NO_COLOR" not in os.environ,
            progress=_progress(not _machine_readable(format)),
        )
    except ImportError as exc:
        _sandbox_missing(exc, debug)
    except BrokenPipeError:
        _stdout_gone()
        _fail(BROKEN_PIPE, 1, debug)
    except KeyboardInterrupt:
        _fail("interrupted (Ctrl-C): the demo did not finish", EXIT_INTERRUPTED, debug)
    except Terminated:
        _fail("terminated (SIGTERM): the demo did not finish", EXIT_TERMINATED, debug)
    except Exception as exc:
        _fail(f"error: the demo could not run: {type(exc).__name__}: {exc}", 1, debug)
    raise typer.Exit(code)


@app.command()
@_reflowed
def sandbox(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Write the registry and attestations here (default: a temp folder).",
        ),
    ] = None,
    evm_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the Ethereum node (0: any free one).")
    ] = 0,
    solana_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the Solana node (0: any free one).")
    ] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Start the demo's local chains and keep them up until Ctrl-C (130) or SIGTERM (143).

    Prints the RPC URLs, the registry path and how to rehearse a corporate action: change a
    Backed token's multiplier with eth_sendTransaction, or a Token-2022 ScaledUiAmount
    multiplier and the Solana clock with the sandbox's own JSON-RPC methods; then run
    `xstock-audit check REGISTRY` against it.
    """
    if folder is not None and (problem := folder_option_problem(folder, empty=False)):
        _fail(f"error: --dir {folder}: {problem}", EXIT_INPUT, debug)
    try:
        from .sandbox.demo import run_sandbox

        code = run_sandbox(folder=folder, evm_port=evm_port, solana_port=solana_port)
    except ImportError as exc:
        _sandbox_missing(exc, debug)
    except BrokenPipeError:
        _stdout_gone()
        _fail(
            "error: stdout was closed: the sandbox cannot show its URLs (broken pipe)",
            EXIT_INPUT,
            debug,
        )
    except OSError as exc:
        _fail(f"error: cannot start the sandbox: {exc}", EXIT_INPUT, debug)
    except KeyboardInterrupt:  # once up, run_sandbox said "stopping the sandbox chains"
        _fail("interrupted (Ctrl-C)", EXIT_INTERRUPTED, debug)
    except Terminated:
        _fail("terminated (SIGTERM)", EXIT_TERMINATED, debug)
    except Exception as exc:
        _fail(f"error: the sandbox failed: {type(exc).__name__}: {exc}", 1, debug)
    raise typer.Exit(code)


app.command(name="history")(_reflowed(history_command))


class Terminated(BaseException):
    """SIGTERM (e.g. cron's or CI's timeout): unwind like Ctrl-C, exit 143."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


#: set by `check` once its report is out: the process may end without the interpreter's
#: teardown (see `_leave`)
_fast_exit = False
#: what a finished `check` holds until `_leave` (see there)
_kept: object = None


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    code: str | int | None = 0
    try:
        app(args=completion_args(sys.argv[1:]))
    except SystemExit as done:
        code = done.code
    except KeyboardInterrupt:  # before a command took over (parsing, imports): no traceback
        sys.stderr.write("interrupted (Ctrl-C)\n")
        code = EXIT_INTERRUPTED
    except Terminated:
        sys.stderr.write("terminated (SIGTERM)\n")
        code = EXIT_TERMINATED
    if _fast_exit:
        _leave(code)
    sys.exit(code)


def _leave(code: str | int | None) -> NoReturn:
    """End a finished `check` without the interpreter's teardown: a 10,000-token audit
    holds a few hundred thousand objects, and freeing them one by one at exit took a tenth
    of the run. Nothing is pending by then -- the report file is closed and renamed
    (output.py), the worker threads are joined (asyncio.run) -- so only the standard
    streams are flushed here."""
    if code is None or isinstance(code, bool):
        status = int(bool(code))
    elif isinstance(code, int):
        status = code
    else:
        sys.stderr.write(f"{code}\n")
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: already reported
            stream.flush()
    os._exit(status)
