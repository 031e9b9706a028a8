"""`xstock-audit attest verify|show`: look at attestation files on their own.

`verify` checks that each file is readable in its format and, when a registry's custodian
reads it and declares `public_key` (minisign) or `signer` (EIP-191), that it carries a valid
signature: exit 0 all good, 2 a file cannot be read, 3 a signature fails. `show` prints one
file's statements (a table, or JSON with decimal strings) and its signature status.

Thin, like cli.py: the work and the rendering are in `attest_files`, imported inside the
commands (with it the registry's pydantic models, Rich tables and the signature libraries).
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from .errors import EXIT_INCOMPLETE, EXIT_INPUT

app = typer.Typer(
    name="attest",
    help=(
        "Check and show attestation files on their own: are they readable, signed by their "
        "custodian's key (the registry's public_key / signer), and what do they say."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-r",
        metavar="REGISTRY",
        help=(
            "Registry whose custodians' keys sign the files; default: xstock-audit.yaml in the "
            "current folder if present (without one, only the format is checked)."
        ),
        show_default=False,
    ),
]
DebugOption = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks (secrets stay redacted).")
]


# ---------------------------------------------------------------------- verify


@app.command(
    short_help="Check that files are readable and signed by their custodian's key.",
    help=(
        "Check that each FILE is a readable attestation and, when a custodian of the registry "
        "reads it and declares public_key (minisign, FILE.minisig) or signer (EIP-191, "
        "FILE.sig), that its signatures are valid.\n\n"
        "Exit codes: 0 all good; 2 a file cannot be read (missing, a directory, unparsable) "
        "or the registry is unusable; 3 a signature fails."
    ),
)
def verify(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE", help="Attestation files.", show_default=False)
    ],
    registry: RegistryOption = None,
    debug: DebugOption = False,
) -> None:
    from .attest_files import examine, load_keyring, verify_lines

    with _errors(debug):
        keyring = load_keyring(registry)
        if keyring.registry is None:
            sys.stderr.write(
                "note: no registry (no --registry, and no xstock-audit.yaml in the current "
                "folder): only the files' formats are checked, no key was checked\n"
            )
        reports = [examine(path, keyring) for path in files]
        for r in reports:
            sys.stdout.write(verify_lines(r))
        sys.stdout.flush()
        counts: dict[str, int] = {}
        for r in reports:
            counts[r.status] = counts.get(r.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in counts.items())
        sys.stderr.write(f"{len(reports)} file{'s' * (len(reports) != 1)}: {summary}\n")
        errors = [r.error for r in reports if r.error is not None]
        for error in errors:
            sys.stderr.write(f"error: {error.render()}\n")
        if errors:
            raise typer.Exit(EXIT_INPUT)
        raise typer.Exit(EXIT_INCOMPLETE if any(r.failed for r in reports) else 0)


# ---------------------------------------------------------------------- show


class ShowFormat(StrEnum):
    table = "table"
    json = "json"


@app.command(
    short_help="Show what one file says, and its signature status.",
    help=(
        "Print what FILE says (account, as-of, ISIN, quantity per holding; a holding no token "
        "of the registry uses is listed and marked) and its signature status, with the "
        "minisign trusted comment.\n\n"
        "Exit codes: 0 shown; 2 the file cannot be read or the registry is unusable; 3 shown, "
        "but a signature fails (the content is not to be trusted)."
    ),
)
def show(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="An attestation file.")],
    registry: RegistryOption = None,
    format: Annotated[
        ShowFormat,
        typer.Option(
            "--format", "-f", help="table for people, json (decimal strings) for machines."
        ),
    ] = ShowFormat.table,
    debug: DebugOption = False,
) -> None:
    from .attest_files import examine, load_keyring, show_json, show_table

    with _errors(debug):
        keyring = load_keyring(registry)
        report = examine(file, keyring)
        if report.error is not None:
            raise report.error
        text = (
            show_json(report, keyring) if format is ShowFormat.json else show_table(report, keyring)
        )
        sys.stdout.write(text)
        sys.stdout.flush()
        raise typer.Exit(EXIT_INCOMPLETE if report.failed else 0)


# ---------------------------------------------------------------------- errors


class _errors:
    """Map errors to exit codes as `check` does: bad input 2 (no traceback unless --debug),
    anything else 3 (the verification did not complete)."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> Literal[False]:
        from .cli import _fail
        from .errors import InputError, XstockAuditError

        if exc is None or isinstance(exc, typer.Exit | KeyboardInterrupt):
            return False
        if isinstance(exc, InputError):
            _fail(f"error: {exc.render()}", EXIT_INPUT, self.debug)
        if isinstance(exc, XstockAuditError):
            _fail(f"error: {exc}", EXIT_INCOMPLETE, self.debug)
        if isinstance(exc, Exception):
            _fail(
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for a "
                "traceback; nothing was verified)",
                EXIT_INCOMPLETE,
                self.debug,
            )
        return False
