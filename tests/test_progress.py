"""Progress a person can follow: a live line per chain on a terminal, nothing anywhere else.

The installed `xstock-audit check` reads an issuer (an ERC-20 on anvil, a Token-2022 mint on
LiteSVM) through proxies on 127.0.0.1 that hold every reply back, so a read takes seconds and
the screen can be looked at while it waits:

- under tmux (a real terminal emulator), with `capture-pane`: the chain's line shows the
  redacted host, then the pinned block, the request count and a running clock, and ends as
  a ✓ line; the secret path segment of the RPC URL is never on screen;
- on a pseudo-terminal made here (no tmux needed): the same, from the bytes written;
- in a pipe, with `--quiet`, with `--format json` on stdout: no progress bytes at all.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import struct
import subprocess
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fcntl import ioctl
from pathlib import Path

import pytest
from support.cli import CLI
from support.evm import AnvilNode
from support.proxy import RpcProxy
from support.world import World, build

from xstock_audit.sandbox.solana import SolanaNode

pytestmark = pytest.mark.slow  # local nodes, RPC proxies, the CLI on a pty and in tmux

SECRET = "PathSecret5e1f0a9c"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
#: one chain's line: mark, chain, host, block/slot, requests, retries, elapsed
LINE = re.compile(
    r"^\s*(?P<mark>\S)\s+(?P<chain>evm|sol)\s+(?P<host>\S+)\s+(?P<unit>block|slot|failed)"
    r"\s*(?P<number>\d+|…)?\s+(?P<requests>\d+) requests?\s+(?P<retries>\d+) retr(?:y|ies)"
    r"\s+(?P<elapsed>\d+\.\d) s"
)


@dataclass
class Env:
    folder: Path
    evm: AnvilNode
    sol: SolanaNode
    evm_proxy: RpcProxy
    sol_proxy: RpcProxy
    world: World

    @property
    def evm_host(self) -> str:
        """How the EVM endpoint must be shown: host and port, the path redacted."""
        return self.evm_proxy.url.split("//", 1)[1].rstrip("/") + "/…"

    def slow(self, seconds: float) -> None:
        self.evm_proxy.delay = self.sol_proxy.delay = seconds
        self.evm_proxy.reset()
        self.sol_proxy.reset()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    folder = tmp_path_factory.mktemp("progress")
    with (
        AnvilNode() as evm,
        SolanaNode() as sol,
        RpcProxy(evm.url) as evm_proxy,
        RpcProxy(sol.url) as sol_proxy,
    ):
        world = build(
            folder,
            evm_url=f"{evm_proxy.url}v2/{SECRET}",  # a key in the path, as providers do
            evm_node_url=evm.url,
            evm_sender=evm.accounts[0],
            chain_id=evm.chain_id,
            solana=sol,
            solana_url=sol_proxy.url,
            n=1,
            k=1,
        )
        yield Env(folder, evm, sol, evm_proxy, sol_proxy, world)


def chain_lines(screen: str) -> dict[str, re.Match[str]]:
    found = {}
    for line in screen.splitlines():
        m = LINE.match(line)
        if m:
            found[m["chain"]] = m
    return found


def base_env(**extra: str) -> dict[str, str]:
    """The test's environment without anything that decides about terminals or colour."""
    drop = ("TMUX", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "TERM": "xterm-256color", **extra}


# --- tmux: a real terminal, read off the screen --------------------------------------------


class Tmux:
    """One tmux server of our own (its own socket, no user config), one session."""

    def __init__(self) -> None:
        self.socket = f"xstock-progress-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            env=base_env(),
        ).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "audit")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


def wait_for(what: str, get: Callable[[], str], ok: Callable[[str], bool], limit: float) -> str:
    deadline = time.monotonic() + limit
    text = get()
    while not ok(text):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {limit:g} s for {what}; the screen:\n{text}")
        time.sleep(0.1)
        text = get()
    return text


@pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed (apt-get install tmux); the pty test covers the same ground",
)
def test_live_lines_on_a_real_terminal(env: Env, tmp_path: Path) -> None:
    env.slow(2.0)  # every reply held back 2 s: the EVM read takes two, Solana one
    rc = tmp_path / "rc"
    script = tmp_path / "run.sh"
    script.write_text(
        f"cd {shlex.quote(str(env.folder))}\n"
        f"{shlex.quote(CLI)} check {shlex.quote(str(env.world.registry))} --timeout 60\n"
        f"echo $? > {shlex.quote(str(rc))}\n"
        "sleep 600\n"
    )
    tmux = Tmux()
    screens: list[str] = []

    def screen() -> str:
        screens.append(tmux.screen())
        return screens[-1]

    try:
        command = f"sh {shlex.quote(str(script))}"
        tmux("new-session", "-d", "-x", "160", "-y", "40", "-s", "audit", command)

        # 1. the first request is out: the host, no block yet, a spinner, a request counted
        def out(s: str) -> bool:
            m = chain_lines(s).get("evm")
            return m is not None and m["requests"] not in (None, "0")

        first = wait_for("the EVM line with a request out", screen, out, 30)
        line = chain_lines(first)["evm"]
        assert line["host"] == env.evm_host, first
        assert line["unit"] == "block" and line["number"] == "…", first
        assert line["mark"] not in "✓✗" and int(line["requests"]) >= 1, first
        assert chain_lines(first)["sol"]["unit"] == "slot", first

        # 2. pinned, still reading (the second request is held): the block number shows
        def pinned(s: str) -> bool:
            m = chain_lines(s).get("evm")
            return m is not None and m["number"] not in (None, "…") and m["mark"] not in "✓✗"

        mid = wait_for("the pinned block", screen, pinned, 30)
        line = chain_lines(mid)["evm"]
        assert int(line["number"]) == env.evm.block_number(), mid
        assert (line["requests"], line["retries"]) == ("2", "0"), mid
        # ... and the clock runs while it waits
        time.sleep(0.6)
        later = chain_lines(screen()).get("evm")
        if later is not None and later["mark"] not in "✓✗":
            assert float(later["elapsed"]) > float(line["elapsed"]), screens[-1]

        # 3. done: one final line per chain, then the report; exit 0 (all backed)
        wait_for("the exit code", lambda: rc.read_text() if rc.exists() else "", bool, 60)
        assert rc.read_text().strip() == "0"
        final = screen()
        lines = chain_lines(final)
        evm, sol = lines["evm"], lines["sol"]
        assert evm["mark"] == "✓" and evm["number"] == line["number"], final
        assert (evm["requests"], evm["retries"]) == ("2", "0"), final
        assert sol["mark"] == "✓" and sol["unit"] == "slot" and sol["requests"] == "1", final
        assert int(sol["number"]) == env.sol.slot, final
        assert f"evm: block {line['number']}" in final  # the report names the same block
        # the display adds no request of its own
        assert (env.evm_proxy.requests, env.sol_proxy.requests) == (2, 1)
        assert "· read 1 attestation file(s)" in final
    finally:
        tmux.kill()
    for s in screens:
        assert SECRET not in s, s
    for title, s in (("first request out", first), ("pinned, reading", mid), ("done", final)):
        print(f"--- {title} ---\n{s.rstrip()}")


# --- a pseudo-terminal of our own: the bytes a terminal would get -------------------------


@dataclass
class PtyRun:
    code: int
    stdout: str
    terminal: bytes  # everything written to the terminal (stderr)

    @property
    def text(self) -> str:
        return ANSI.sub(b"", self.terminal).decode("utf-8", "replace")


def run_on_pty(
    env: Env, *args: str, environ: dict[str, str] | None = None, registry: Path | None = None
) -> PtyRun:
    """`check` with stderr on a fresh pseudo-terminal (120 x 40), stdout on a pipe."""
    master, slave = pty.openpty()
    ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    p = subprocess.Popen(
        [CLI, "check", str(registry or env.world.registry), "--timeout", "60", *args],
        cwd=env.folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=environ or base_env(),
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if p.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert p.stdout is not None
        out = p.stdout.read().decode()
        code = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return PtyRun(code, out, b"".join(chunks))


def test_live_lines_on_a_pseudo_terminal(env: Env) -> None:
    env.slow(1.0)
    run = run_on_pty(env)
    assert run.code == 0, run.text + run.stdout
    assert SECRET.encode() not in run.terminal
    assert b"\x1b[" in run.terminal  # redrawn in place
    text = run.text
    block = str(env.evm.block_number())
    before_pin = re.search(rf"{re.escape(env.evm_host)}\s+block …", text)
    waiting = before_pin.start() if before_pin else -1
    pinned = text.find(f"block {block}")
    done = max(text.rfind("✓"), text.rfind("✗"))
    assert 0 <= waiting < pinned < done, text
    final = chain_lines(text.rsplit("· read", 1)[-1])
    assert final["evm"]["mark"] == "✓" and final["evm"]["number"] == block, text
    assert final["sol"]["mark"] == "✓" and final["sol"]["number"] == str(env.sol.slot), text
    assert (env.evm_proxy.requests, env.sol_proxy.requests) == (2, 1)
    assert "BACKED" in run.stdout and "request" not in run.stdout  # the report, alone


def test_no_color_and_a_dumb_terminal(env: Env) -> None:
    env.slow(0.3)
    run = run_on_pty(env, environ=base_env(NO_COLOR="1"))
    assert run.code == 0
    colors = re.findall(rb"\x1b\[[0-9;]*m", run.terminal)
    assert colors and not any(re.search(rb"[\[;](3[0-9]|9[0-7])[;m]", c) for c in colors)

    run = run_on_pty(env, environ=base_env(TERM="dumb"))  # no cursor movement: final lines
    assert run.code == 0
    assert b"\x1b[" not in run.terminal and "…" not in run.text.replace(env.evm_host, "")
    final = chain_lines(run.text)
    assert final["evm"]["mark"] == "✓" and final["sol"]["mark"] == "✓", run.text


def test_json_to_a_file_still_shows_progress(env: Env, tmp_path: Path) -> None:
    env.slow(0.3)
    run = run_on_pty(env, "-f", "json", "-o", str(tmp_path / "report.json"))
    assert run.code == 0 and run.stdout == ""
    assert chain_lines(run.text)["evm"]["mark"] == "✓", run.text


def test_failover_and_a_dead_chain(env: Env, tmp_path: Path) -> None:
    """The line follows the endpoint in use; a chain that can't be read ends as ✗ failed."""
    env.slow(0.3)
    dead = f"http://127.0.0.1:9/v2/{SECRET}"
    text = env.world.registry.read_text()
    evm_url = f"{env.evm_proxy.url}v2/{SECRET}"
    text = text.replace(f'rpc: ["{evm_url}"]', f'rpc: ["{dead}", "{evm_url}"]\n    retries: 1')
    text = text.replace(f'rpc: ["{env.sol_proxy.url}"]', f'rpc: ["{dead}"]\n    retries: 2')
    registry = tmp_path / "r.yaml"
    registry.write_text(text.replace('["custody.json"]', f'["{env.folder}/custody.json"]'))
    run = run_on_pty(env, environ=base_env(), registry=registry)
    assert run.code == 3, run.text + run.stdout
    assert SECRET.encode() not in run.terminal
    final = chain_lines(run.text.rsplit("· read", 1)[-1])
    evm, sol = final["evm"], final["sol"]
    assert evm["mark"] == "✓" and evm["host"] == env.evm_host, run.text  # the one that answered
    assert evm["number"] == str(env.evm.block_number()) and evm["retries"] == "1", run.text
    assert sol["mark"] == "✗" and sol["unit"] == "failed" and sol["host"] == "127.0.0.1:9/…"
    assert (sol["requests"], sol["retries"]) == ("3", "2"), run.text
    assert "127.0.0.1:9/…: ConnectError" in run.stdout  # the report says why


def test_a_narrow_terminal_cuts_only_the_host() -> None:
    import io

    from rich.console import Console

    from xstock_audit.progress import TerminalProgress

    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    shown = TerminalProgress(console)
    w = shown.watch("ethereum", "block")
    w.host = "https://eth-mainnet.g.alchemy-example.com/…"
    w.pinned(23_456_789)
    shown.watch("solana", "slot").host = "https://api.mainnet-beta.solana.com"
    console.print(shown.render())
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines), lines
    assert "block 23456789" in lines[0] and "0 requests" in lines[0] and "0.0 s" in lines[0]
    assert "eth-mainnet" in lines[0] and "…" in lines[0] and "slot …" in lines[1], lines


# --- nothing when nobody is watching --------------------------------------------------------


def test_nothing_in_a_pipe(env: Env) -> None:
    env.slow(1.0)
    # even when the environment insists on a terminal: stderr itself is asked
    for extra in ({}, {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1"}):
        p = subprocess.run(
            [CLI, "check", str(env.world.registry), "--timeout", "60"],
            cwd=env.folder,
            capture_output=True,
            env=base_env(**extra),
            timeout=120,
        )
        assert p.returncode == 0, p.stderr
        assert p.stderr == b"", p.stderr  # not one progress byte
        assert b"BACKED" in p.stdout


def test_nothing_with_quiet_on_a_terminal(env: Env) -> None:
    env.slow(0.5)
    run = run_on_pty(env, "--quiet")
    assert run.code == 0
    assert run.terminal == b"", run.terminal
    assert "BACKED" in run.stdout


def test_no_live_display_with_json_on_stdout(env: Env) -> None:
    env.slow(0.5)
    run = run_on_pty(env, "-f", "json")
    assert run.code == 0
    assert run.stdout.startswith("{")
    # only the one-line summary (json on stdout puts it on stderr), never the display
    assert b"\x1b" not in run.terminal and b"request" not in run.terminal, run.terminal
    lines = run.text.strip().splitlines()
    assert len(lines) == 1 and "token(s)" in lines[0], run.text
