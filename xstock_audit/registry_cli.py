"""`xstock-audit registry lint|schema` and `xstock-audit init`: write and check a registry.

`lint` validates a registry without reading any chain (every problem at once, as
`file:line: field: message`), its custodians' globs (a glob that matches nothing is a warning)
and attestation files; `--online` also asks each chain's endpoints whether the registry
matches them. Exit codes: 0 clean, 2 a registry or attestation problem, 3 an online check
failed. `schema` prints the registry's JSON Schema; `init` writes a starter registry.

Thin, like cli.py: the work is in `registry.lint`, `registry.online`, `registry.jsonschema`
and `registry.starter`, imported inside the commands. Attached to the main app by `attach`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .errors import EXIT_INCOMPLETE, EXIT_INPUT

app = typer.Typer(
    name="registry",
    help=(
        "Check a registry (lint, --online against the chains) and print its JSON Schema "
        "for editors."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DebugOption = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks (secrets stay redacted).")
]


def attach(main: typer.Typer) -> None:
    """Add `registry ...` and `init` to the main command line."""
    main.add_typer(app)
    main.command(name="init", help=INIT_HELP, short_help="Write a starter registry.")(init)


def _say(text: str, err: bool = False) -> None:
    from .redact import scrub

    stream = sys.stderr if err else sys.stdout
    stream.write(scrub(text).rstrip("\n") + "\n")


@app.command(
    short_help="Validate a registry, its globs and statements; --online: against the chains.",
    help=(
        "Validate REGISTRY without reading any chain and print every problem at once, one per "
        "line as FILE:LINE: FIELD: MESSAGE: the YAML, unset ${VAR}s, the schema of every "
        "chain, custodian and token, the cross-checks (unique symbols and deployments, known "
        "custodians), and every attestation file the custodians' globs match (read in the "
        "custodian's format). A glob that matches no file is a warning.\n\n"
        "--online also asks every endpoint of every chain, with the chain's timeouts: EVM "
        "eth_chainId against chain_id, Solana getGenesisHash against genesis_hash (when given); "
        "then, in one batch per chain: every EVM contract has code, decimals() as stated, "
        "deployless batch calls run (or Multicall3 is present, with deployless: false); "
        "every Solana mint exists, is owned by the SPL Token or "
        "Token-2022 program, decimals as stated.\n\n"
        "Exit codes: 0 no problem; 2 a registry or attestation problem; 3 an online check "
        "failed."
    ),
)
def lint(
    registry: Annotated[
        Path | None,
        typer.Argument(
            help="Registry YAML; default: xstock-audit.yaml in the current folder.",
            envvar="XSTOCK_AUDIT_REGISTRY",
            show_default=False,
        ),
    ] = None,
    online: Annotated[
        bool, typer.Option("--online", help="Also check the registry against the chains.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            metavar="SECONDS",
            min=1,
            max=3600,
            help="With --online: give up on a chain after this long.",
        ),
    ] = 30.0,
    debug: DebugOption = False,
) -> None:
    from .cli import DEFAULT_REGISTRY, NO_REGISTRY, _fail

    if registry is None:
        registry = Path(DEFAULT_REGISTRY)
        if not registry.exists():
            _fail(NO_REGISTRY, EXIT_INPUT, debug)
    try:
        from .registry.lint import lint as run_lint

        result = run_lint(registry)
        for w in result.warnings:
            _say(w.render())
        problems = sorted(result.errors, key=lambda e: (e.file or "", e.line or 0))
        for e in problems:
            _say(e.render())
        reg, smap = result.registry, result.smap
        if problems or reg is None or smap is None:
            n = len(problems)
            _say(f"{registry}: {n} problem{'s' * (n != 1)}", err=True)
            if online:
                _say("online checks skipped: fix the problems above first", err=True)
            raise typer.Exit(EXIT_INPUT)
        deployments = sum(len(t.deployments) for t in reg.tokens)
        _say(
            f"{registry}: ok: {len(reg.chains)} chains, {len(reg.custodians)} custodians, "
            f"{len(reg.tokens)} tokens, {deployments} deployments, {result.files} attestation "
            f"files" + (f", {len(result.warnings)} warnings" if result.warnings else ""),
            err=True,
        )
        if not online:
            raise typer.Exit(0)
        import asyncio

        from .registry import online as online_mod

        findings = asyncio.run(online_mod.check(reg, timeout))
        failed = [f for f in findings if not f.ok]
        for f in findings:
            _say(f.render(smap))
        n = len(failed)
        _say(
            f"{registry}: online: " + (f"{n} check{'s' * (n != 1)} failed" if n else "all ok"),
            err=True,
        )
        raise typer.Exit(EXIT_INCOMPLETE if failed else 0)
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        _fail("interrupted (Ctrl-C)", 130, debug)
    except Exception as exc:
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)",
            EXIT_INCOMPLETE,
            debug,
        )


@app.command(
    short_help="Print the registry's JSON Schema (for editors).",
    help=(
        "Print the JSON Schema (draft 2020-12) of the registry, generated from the models "
        "the registry is validated with and the installed chain families. Save it and point "
        "your editor at it, e.g. with a first line\n\n"
        "# yaml-language-server: $schema=xstock-audit.schema.json\n\n"
        "The loader checks more than a schema can (ISIN check digits, EIP-55 checksums, "
        "cross-references): run `xstock-audit registry lint` too."
    ),
)
def schema() -> None:
    import json

    from .registry.jsonschema import registry_schema

    sys.stdout.write(json.dumps(registry_schema(), indent=2) + "\n")


INIT_HELP = (
    "Write a starter registry to FOLDER: xstock-audit.yaml (commented: one EVM and one Solana "
    "chain reading ${ETH_RPC_URL} and ${SOLANA_RPC_URL}, one custodian, one token), its JSON "
    "Schema xstock-audit.schema.json (for editors) and a sample native statement in "
    "attestations/. Once the variables are set, `xstock-audit registry lint` passes on it.\n\n"
    "Refuses to overwrite an existing file (exit 2, naming them) unless --force."
)


def init(
    folder: Annotated[
        Path,
        typer.Argument(help="Where to write (created if missing); default: the current folder."),
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that are already there.")
    ] = False,
    debug: DebugOption = False,
) -> None:
    from .cli import _fail
    from .output import folder_option_problem, write_atomic
    from .registry import starter

    if problem := folder_option_problem(folder, empty=False):
        _fail(f"error: {folder}: {problem}", EXIT_INPUT, debug)
    files = starter.files()
    existing = [name for name in files if (folder / name).exists()]
    if existing and not force:
        _fail(
            f"error: {folder}: would overwrite {', '.join(existing)} (use --force to replace)",
            EXIT_INPUT,
            debug,
        )
    try:
        for name, text in files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text)
    except OSError as exc:
        _fail(f"error: {folder}: cannot write: {exc}", EXIT_INPUT, debug)
    for name in files:
        _say(f"wrote {folder / name}", err=True)
    registry = folder / starter.REGISTRY_FILE
    env = " ".join(f"{v}=https://..." for v in starter.ENV_VARS)
    _say(
        f"next: edit {registry}, then\n"
        f"  export {env}\n"
        f"  xstock-audit registry lint --online {registry}\n"
        f"  xstock-audit check {registry}"
    )
