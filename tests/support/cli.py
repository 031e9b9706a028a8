"""Running the installed `xstock-audit` command from the tests (always a subprocess: tests
using these are `slow`, see tests/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["CLI", "check_json"]

#: The console script installed next to the test interpreter (`pip install -e '.[test]'`).
CLI = str(Path(sys.executable).with_name("xstock-audit"))


def check_json(registry: Path, *args: str, timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    """`xstock-audit check REGISTRY --format json ARGS`, colour off: the exit code, the report
    parsed from stdout and stderr. A traceback on stderr fails the test."""
    p = subprocess.run(
        [CLI, "check", str(registry), "--format", "json", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=timeout,
    )
    assert "Traceback" not in p.stderr, p.stderr
    return p.returncode, json.loads(p.stdout), p.stderr
