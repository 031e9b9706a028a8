"""Secret canary: an API key in every position an RPC secret can take never leaks.

The key sits in URL userinfo, path and query, in a header set from the registry and in
environment variables expanded into the registry. Every command and format runs -- with
working endpoints, with dead ones, with a quorum disagreement, with --debug -- and the
key's bytes must appear nowhere in stdout, stderr or any file written.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import CLI
from support.evm import AnvilNode
from support.proxy import RpcProxy
from support.world import World, build

from xstock_audit.sandbox.solana import SolanaNode

pytestmark = pytest.mark.slow  # local nodes, RPC proxies, the CLI in subprocesses

KEY = "CanaryKey7f3a9c2e5b"
TOKEN = "CanaryToken81d0e4"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, World, str, str]]:
    folder = tmp_path_factory.mktemp("secrets")
    with AnvilNode() as evm, SolanaNode() as sol, RpcProxy(evm.url) as ep, RpcProxy(sol.url) as sp:
        world = build(
            folder,
            evm_url="EVM_URL",
            evm_node_url=evm.url,
            evm_sender=evm.accounts[0],
            chain_id=evm.chain_id,
            solana=sol,
            solana_url="SOL_URL",
            n=1,
            k=1,
        )
        yield folder, world, ep.url.rstrip("/"), sp.url.rstrip("/")


def secret_url(base: str) -> str:
    host = base.split("//", 1)[1]
    return f"http://user:{KEY}@{host}/v2/${{API_KEY}}?apikey={KEY}&x=${{API_KEY}}"


VARIANTS = {
    "working": lambda e, s: ([secret_url(e)], [secret_url(s)], ""),
    "dead endpoints": lambda e, s: (
        [secret_url("http://127.0.0.1:9")],
        [secret_url("http://127.0.0.1:9")],
        "",
    ),
    "failover": lambda e, s: (
        [secret_url("http://127.0.0.1:9"), secret_url(e)],
        [secret_url(s)],
        "",
    ),
    "quorum": lambda e, s: ([secret_url(e), secret_url(e)], [secret_url(s)], "    quorum: 2\n"),
}

RUNS = {
    "table": [],
    "details": ["--details"],
    "json": ["-f", "json"],
    "json to file": ["-f", "json", "-o", "out.json"],
    "table to file": ["-o", "out.txt"],
    "debug": ["--debug", "--details"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_key_never_printed_or_written(setup: tuple[Path, World, str, str], variant: str) -> None:
    folder, world, evm_url, sol_url = setup
    evm_urls, sol_urls, extra = VARIANTS[variant](evm_url, sol_url)
    headers = '    headers: {Authorization: "Bearer ${RPC_TOKEN}", X-Api-Key: "' + KEY + '"}\n'
    text = world.registry.read_text()
    text = text.replace(
        '    rpc: ["EVM_URL"]\n',
        f"    rpc: {evm_urls!r}\n".replace("'", '"') + headers + extra + "    retries: 0\n",
    )
    text = text.replace(
        '    rpc: ["SOL_URL"]\n', f"    rpc: {sol_urls!r}\n".replace("'", '"') + headers
    )
    work = folder / variant.replace(" ", "-")
    work.mkdir(exist_ok=True)
    (work / "custody.json").write_text((folder / "custody.json").read_text())
    (work / "r.yaml").write_text(text)
    env = {**os.environ, "API_KEY": KEY, "RPC_TOKEN": TOKEN, "NO_COLOR": "1"}
    seen_codes = set()
    for args in RUNS.values():
        p = subprocess.run(
            [CLI, "check", "r.yaml", "--timeout", "20", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        seen_codes.add(p.returncode)
        for secret in (KEY, TOKEN, f"user:{KEY}"):
            assert secret not in p.stdout, (args, p.stdout)
            assert secret not in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr or "--debug" in args
    for written in work.iterdir():
        if written.name in ("r.yaml",):
            continue
        content = written.read_bytes()
        assert KEY.encode() not in content and TOKEN.encode() not in content, written
    assert seen_codes == ({3} if variant == "dead endpoints" else {0})
