"""Shell completion options made to work where Typer's alone do not (CI, containers)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import EXIT_INPUT


def completion_args(argv: list[str]) -> list[str]:
    """`--show-completion zsh` / `--install-completion bash`: the shell named, else detected.

    Typer's completion options detect the shell from the parent processes only: in CI or a
    container's entry point there is none ("Shell  not supported.", exit 1), and a name given
    after the option was silently ignored. Here a named shell is used (an unknown one is exit
    2); when none is named and none can be detected, $SHELL is; failing that, exit 2 saying
    how to name one. Typer then uses its variant of the options that takes the shell as a
    value.
    """
    option, equals, _ = argv[0].partition("=") if argv else ("", "", "")
    if option not in ("--show-completion", "--install-completion"):
        return argv
    if not equals and len(argv) == 1:
        shell = detected_shell()
        if shell is None:
            sys.stderr.write(
                f"error: {option}: cannot tell which shell this is (no shell among the parent "
                f"processes and no $SHELL); name it: xstock-audit {option} bash "
                "(or zsh, fish, powershell)\n"
            )
            sys.exit(EXIT_INPUT)
        argv = [option, shell]
    os.environ["_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"] = "1"
    return argv


def detected_shell() -> str | None:
    try:
        import shellingham  # type: ignore[import-untyped]

        name: str = shellingham.detect_shell()[0]
        return name
    except Exception:  # not installed, or no shell among the parent processes
        return Path(os.environ.get("SHELL", "")).name or None
