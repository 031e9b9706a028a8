"""Cold start is behaviour: `--help` and the CLI module load none of the heavy libraries.

(Its speed is measured in benchmarks/scale.py, not asserted here.)
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.cli import CLI

pytestmark = pytest.mark.slow  # the CLI in subprocesses

HEAVY = ("web3", "solana", "solders", "pydantic", "eth_abi", "eth_utils", "eth_tester", "eth")


def test_cli_module_imports_nothing_heavy() -> None:
    code = f"import sys, xstock_audit.cli\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_explains_commands_and_exit_codes() -> None:
    p = subprocess.run([CLI, "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    for word in ("check", "demo", "sandbox", "Exit codes", "UNDER"):
        assert word in p.stdout
    p = subprocess.run([CLI, "check", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "--format" in p.stdout and "--details" in p.stdout


def test_bad_command_line_is_exit_2() -> None:
    p = subprocess.run([CLI, "check", "--format", "xml"], capture_output=True, text=True)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
