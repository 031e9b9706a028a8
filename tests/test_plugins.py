"""Plug-ins through entry points: a toy chain family, custody format and report format.

The toy package (tests/plugins/toy, installed by scripts/test) registers one of each in the
`xstock_audit.chains`, `xstock_audit.custody_formats` and `xstock_audit.report_formats`
groups; the installed CLI audits a registry that uses all three, against a toy JSON-RPC node
on 127.0.0.1. Nothing under xstock_audit/ knows the toy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # the installed CLI in subprocesses

pytest.importorskip(
    "xstock_audit_toy", reason="the toy plug-in is installed by ./scripts/test (tests/plugins/toy)"
)

CLI = str(Path(sys.executable).with_name("xstock-audit"))
SUPPLY = {"ABC": 120, "XYZ": 7}
HEIGHT = 4242


class _Toy(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        calls = body if isinstance(body, list) else [body]
        replies = []
        for c in calls:
            result: Any
            if c["method"] == "toy_height":
                result = HEIGHT
            elif c["method"] == "toy_time":
                result = int(time.time())
            else:
                result = SUPPLY[c["params"][0]]
            replies.append({"jsonrpc": "2.0", "id": c["id"], "result": result})
        data = json.dumps(replies if isinstance(body, list) else replies[0]).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def toy_node() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Toy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _registry(folder: Path, url: str, abc_custody: str) -> Path:
    as_of = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()
    (folder / "vault.toy").write_text(
        f"account VAULT-1\nas_of {as_of}\nUS88160R1014 {abc_custody}\nUS0378331005 7\n"
    )
    reg = folder / "registry.yaml"
    reg.write_text(
        f"""version: 1
chains:
  toychain:
    type: toy
    rpc: ["{url}"]
custodians:
  vault:
    attestations: ["*.toy"]
    max_age: 1d
tokens:
  - symbol: ABCx
    isin: US88160R1014
    custodian: vault
    deployments:
      - {{chain: toychain, token: ABC}}
  - symbol: XYZx
    isin: US0378331005
    custodian: vault
    deployments:
      - {{chain: toychain, token: XYZ}}
"""
    )
    return reg


def _check(reg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "check", str(reg), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )


def test_the_cli_audits_with_a_toy_family_custody_format_and_report(
    toy_node: str, tmp_path: Path
) -> None:
    reg = _registry(tmp_path, toy_node, "120")
    p = _check(reg, "--format", "toy")
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"toychain height {HEIGHT}\nABCx BACKED\nXYZx BACKED\nexit 0\n"

    reg = _registry(tmp_path, toy_node, "119.5")  # half a share short
    p = _check(reg, "--format", "toy")
    assert p.returncode == 1
    assert "ABCx UNDER" in p.stdout.splitlines()
    # the built-in formats render the toy chain too, with its pin unit
    p = _check(reg, "--format", "json")
    doc = json.loads(p.stdout)
    assert doc["chains"]["toychain"]["height"] == HEIGHT
    assert {t["symbol"]: t["status"] for t in doc["tokens"]} == {"ABCx": "UNDER", "XYZx": "BACKED"}


def test_a_toy_deployment_is_validated_by_its_family(toy_node: str, tmp_path: Path) -> None:
    reg = _registry(tmp_path, toy_node, "120")
    reg.write_text(reg.read_text().replace("token: ABC}", "tokn: ABC}"))
    p = _check(reg)
    assert p.returncode == 2
    assert "tokn: unknown key" in p.stderr and "did you mean `token`?" in p.stderr
    assert "Traceback" not in p.stderr


def test_format_choices_come_from_the_entry_points(tmp_path: Path) -> None:
    p = _check(tmp_path / "r.yaml", "--format", "xml")
    assert p.returncode == 2
    inside = " ".join(line.strip("│ ") for line in p.stderr.splitlines() if line.startswith("│"))
    assert "installed: html, json, junit, markdown, prometheus, table, toy" in " ".join(
        inside.split()
    )


def test_a_family_without_movements_says_so(toy_node: str, tmp_path: Path) -> None:
    """`check --movements` on a family that does not implement `ChainReader.movements`:
    the movements are unknown (null, never an empty list) and the token's messages say why."""
    reg = _registry(tmp_path, toy_node, "120")
    doc = json.loads(_check(reg, "--format", "json", "--movements").stdout)
    for token in doc["tokens"]:
        assert token["movements"] is None
        assert token["movements_since"] is not None
        assert any("cannot list movements" in m for m in token["messages"]), token["messages"]
    table = _check(reg, "--movements").stdout
    assert "Movements since the custody as-of" in table and "unknown" in table
    assert "movements" not in json.loads(_check(reg, "--format", "json").stdout)["tokens"][0]
