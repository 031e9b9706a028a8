"""The command line's rough edges, through the installed `xstock-audit` process.

Each test asserts the exact message a person reads and the exit code a script sees. Only
127.0.0.1 is ever contacted. The tests run as root in CI, so "unwritable" places are ones
root cannot write either (/sys, /proc), and the reason expected is the one the OS gives
for a real attempt, probed here the same way the tool probes.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the installed CLI in subprocesses

CLI = str(Path(sys.executable).with_name("xstock-audit"))
ENV = {**os.environ, "NO_COLOR": "1"}


def run(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout
    )


def os_reason(folder: str) -> str:
    """What the OS says when a file is created in FOLDER (skip when it can be)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError as exc:
        return str(exc.strerror)
    os.close(fd)
    os.unlink(probe)
    pytest.skip(f"{folder} is writable here")


@pytest.fixture
def silent_rpc() -> Iterator[socket.socket]:
    """A JSON-RPC endpoint that would hang a run: it listens, and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server


def registry_at(folder: Path, port: int) -> Path:
    """A one-token registry whose only chain is http://127.0.0.1:PORT."""
    (folder / "att").mkdir(exist_ok=True)
    registry = folder / f"registry-{port}.yaml"
    registry.write_text(
        f"""version: 1
chains:
  eth:
    type: evm
    chain_id: 1
    rpc: ["http://127.0.0.1:{port}"]
custodians:
  c:
    attestations: ["att/*.json"]
    max_age: 36h
tokens:
  - symbol: Ax
    isin: US88160R1014
    custodian: c
    deployments:
      - chain: eth
        address: "0x8ad3c73f833d3f9a523ab01476625f269aeb7cf0"
"""
    )
    return registry


def no_connection_made(server: socket.socket) -> bool:
    server.setblocking(False)
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


# --- -o/--output: checked before the registry is read or any chain is asked -----------------


def output_cases(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("")
    return [
        (str(tmp_path / "a-folder"), "is a directory"),
        (str(tmp_path / "nope" / "r.json"), f"folder {tmp_path / 'nope'} does not exist"),
        (
            "/proc/xstock-audit-test/report.json",
            "folder /proc/xstock-audit-test does not exist",
        ),
        (str(tmp_path / "a-file" / "r.json"), f"{tmp_path / 'a-file'} is not a folder"),
        ("/sys/report.json", f"cannot write in /sys: {os_reason('/sys')}"),
        ("/proc/report.json", f"cannot write in /proc: {os_reason('/proc')}"),
    ]


def test_unusable_output_is_exit_2_before_any_network_traffic(
    tmp_path: Path, silent_rpc: socket.socket
) -> None:
    registry = registry_at(tmp_path, silent_rpc.getsockname()[1])
    for output, reason in output_cases(tmp_path):
        started = time.monotonic()
        p = run("check", str(registry), "-o", output, "--timeout", "120", timeout=60)
        assert (p.returncode, p.stderr, p.stdout) == (
            2,
            f"error: --output {output}: {reason}\n",
            "",
        )
        assert time.monotonic() - started < 20  # not the 120 s deadline of a hung read
    assert no_connection_made(silent_rpc)


def test_unusable_output_is_reported_before_the_registry_is_read(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [\n")
    p = run("check", str(broken), "-o", str(tmp_path))
    assert (p.returncode, p.stderr) == (2, f"error: --output {tmp_path}: is a directory\n")


def test_relative_output_in_an_unwritable_current_folder(tmp_path: Path) -> None:
    registry = tmp_path / "r.yaml"
    registry.write_text("version: 1\n")
    p = run("check", str(registry), "-o", "report.json", cwd=Path("/sys"))
    reason = os_reason("/sys")
    assert (p.returncode, p.stderr) == (
        2,
        f"error: --output report.json: cannot write in the current folder (/sys): {reason}\n",
    )


def refused_registry(folder: Path) -> Path:
    """A registry whose only chain refuses connections: a quick run, exit 3, report written."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections to it are refused
    return registry_at(folder, port)


def test_report_file_gets_ordinary_permissions_and_keeps_a_symlink(tmp_path: Path) -> None:
    registry = refused_registry(tmp_path)
    out = tmp_path / "report.json"
    p = run("check", str(registry), "-f", "json", "-o", str(out))
    assert p.returncode == 3, p.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600

    out.chmod(0o640)  # replacing a report keeps its permissions
    link = tmp_path / "latest.json"
    link.symlink_to(out)
    p = run("check", str(registry), "-f", "json", "-o", str(link))
    assert p.returncode == 3, p.stderr
    assert link.is_symlink() and stat.S_IMODE(out.stat().st_mode) == 0o640
    assert '"exit_code": 3' in out.read_text()


def test_output_to_a_pipe_is_written_in_place(tmp_path: Path) -> None:
    registry = refused_registry(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True) as reader:
        p = run("check", str(registry), "-f", "json", "-o", str(fifo))
        text, _ = reader.communicate(timeout=60)
    assert p.returncode == 3, p.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # still a pipe, not replaced by a file
    assert '"exit_code": 3' in text
    assert p.stderr.startswith(f"report written to {fifo}\n")


def test_output_to_a_device_is_written_in_place(tmp_path: Path) -> None:
    """`-o /dev/null` as root must not put a regular file where the device was."""
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a second /dev/null
        null.write_text("")
    except OSError as exc:
        pytest.skip(f"cannot make a usable device node here: {exc}")
    p = run("check", str(refused_registry(tmp_path)), "-o", str(null))
    assert p.returncode == 3, p.stderr
    assert stat.S_ISCHR(null.lstat().st_mode)


# --- demo --keep and sandbox --dir: refused before any chain starts ------------------------


def folder_cases(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "a-file").write_text("")
    return [
        (str(tmp_path / "a-file"), "is a file, not a folder"),
        (str(tmp_path / "nope" / "demo"), f"folder {tmp_path / 'nope'} does not exist"),
        ("/sys/xstock-audit-demo", f"cannot write in /sys: {os_reason('/sys')}"),
        ("/proc/xstock-audit-demo", f"cannot write in /proc: {os_reason('/proc')}"),
    ]


def test_demo_keep_refuses_what_cannot_receive_the_files(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    for keep, reason in [*folder_cases(tmp_path), (str(full), "folder is not empty")]:
        p = run("demo", "--keep", keep)
        assert (p.returncode, p.stderr, p.stdout) == (2, f"error: --keep {keep}: {reason}\n", "")
    assert not (tmp_path / "nope").exists()
    assert [f.name for f in full.iterdir()] == ["notes.txt"]


def test_sandbox_dir_refuses_what_cannot_receive_the_files(tmp_path: Path) -> None:
    for folder, reason in folder_cases(tmp_path):
        p = run("sandbox", "--dir", folder)
        assert (p.returncode, p.stderr, p.stdout) == (2, f"error: --dir {folder}: {reason}\n", "")


# --- signals: Ctrl-C is 130, SIGTERM is 143, never a traceback --------------------------------


def _default_signals() -> None:
    """In the child: Ctrl-C and SIGTERM at their defaults, whatever the test runner inherited
    (a background job of a non-interactive shell ignores SIGINT, and so would the CLI)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")  # end of output

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, f"exited early ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def stop(proc: subprocess.Popen[str], sig: int, lines: queue.Queue[str]) -> tuple[str, str]:
    """Send SIG; return (stdout from now on, stderr)."""
    proc.send_signal(sig)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    out = ""
    while (line := lines.get(timeout=10)) != "":
        out += line
    return out, stderr


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted (Ctrl-C)")],
)
def test_sandbox_stops_on_sigterm_and_ctrl_c(
    tmp_path: Path, sig: int, code: int, said: str
) -> None:
    proc, lines = start("sandbox", "--dir", str(tmp_path / "sb"))
    try:
        banner = ""

        def up() -> bool:
            nonlocal banner
            while not lines.empty():
                banner += lines.get()
            return "Custody is plain files" in banner

        wait_for(up, proc, "the sandbox banner")
        assert "http://127.0.0.1:" in banner
        out, err = stop(proc, sig, lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code
    assert out == "\nstopping the sandbox chains\n"
    assert err == f"{said}\n"


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGTERM, 143, "terminated (SIGTERM)"), (signal.SIGINT, 130, "interrupted (Ctrl-C)")],
)
def test_demo_stops_on_sigterm_and_ctrl_c(tmp_path: Path, sig: int, code: int, said: str) -> None:
    keep = tmp_path / "demo"
    proc, lines = start("demo", "--keep", str(keep))
    try:  # the registry is written once the chains are up and seeded: the demo is running
        wait_for((keep / "xstock-audit.yaml").exists, proc, "the demo registry")
        out, err = stop(proc, sig, lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, err) == (code, f"{said}: the demo did not finish\n")
    assert "Demo passed" not in out


# --- --help, -V, shell completion --------------------------------------------------------


def test_help_lists_every_exit_code() -> None:
    p = run("--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    for code in (
        "0 every token backed",
        "1 at least one token UNDER",
        "2 unusable input",
        "3 no shortfall but the audit is incomplete",
        "130 interrupted (Ctrl-C)",
        "143 terminated (SIGTERM",
    ):
        assert code in text
    assert "--install-completion" in text and "--show-completion" in text


def test_dash_v_is_version() -> None:
    long, short = run("--version"), run("-V")
    assert (short.returncode, short.stdout, short.stderr) == (0, long.stdout, "")
    assert short.stdout.startswith("xstock-audit ")


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--show-completion", "bash"], "_xstock_audit_completion() {"),
        (["--show-completion", "zsh"], "#compdef xstock-audit"),  # named, not detected
        (["--show-completion=fish"], "complete --command xstock-audit"),
    ],
)
def test_show_completion_for_a_named_shell(args: list[str], start: str) -> None:
    p = run(*args)
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout.startswith(start)
    assert "_XSTOCK_AUDIT_COMPLETE" in p.stdout


def test_show_completion_refuses_an_unknown_shell() -> None:
    p = run("--show-completion", "tcsh")
    assert p.returncode == 2 and p.stdout == ""
    assert "'tcsh' is not one of" in " ".join(p.stderr.replace("│", " ").split())


def test_completion_of_a_command_name() -> None:
    env = {**ENV, "_XSTOCK_AUDIT_COMPLETE": "complete_bash", "COMP_WORDS": "xstock-audit de"}
    p = subprocess.run(
        [CLI], capture_output=True, text=True, env={**env, "COMP_CWORD": "1"}, timeout=60
    )
    assert (p.returncode, p.stdout.split()) == (0, ["demo"])


def _orphan(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI from a process that has no parent shell (re-parented, as under an init)."""
    code = f"""
import json, os, subprocess, sys, time
r, w = os.pipe()
if os.fork() == 0:  # the middle process exits at once: the grandchild is re-parented
    os.close(r)
    if os.fork() == 0:
        time.sleep(0.5)
        try:
            import shellingham
            shell = shellingham.detect_shell()[0]
        except Exception:
            shell = None
        p = subprocess.run({[CLI, *args]!r}, capture_output=True, text=True, env={env!r})
        os.write(w, json.dumps([shell, p.returncode, p.stdout, p.stderr]).encode())
    os._exit(0)
os.close(w)
chunks = []
while chunk := os.read(r, 65536):
    chunks.append(chunk)
sys.stdout.write(b"".join(chunks).decode())
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    shell, rc, out, err = json.loads(p.stdout)
    if shell is not None:
        pytest.skip(f"a {shell} is among the re-parented process's ancestors here")
    return rc, out, err


def test_show_completion_without_a_parent_shell_uses_dollar_shell() -> None:
    rc, out, err = _orphan(["--show-completion"], {**ENV, "SHELL": "/usr/bin/zsh"})
    assert (rc, err) == (0, "") and out.startswith("#compdef xstock-audit")
    env = {k: v for k, v in ENV.items() if k != "SHELL"}
    rc, out, err = _orphan(["--show-completion"], env)
    assert (rc, out) == (2, "")
    assert err == (
        "error: --show-completion: cannot tell which shell this is (no shell among the parent "
        "processes and no $SHELL); name it: xstock-audit --show-completion bash (or zsh, fish, "
        "powershell)\n"
    )


# --- --timeout: a finite number of seconds, at least 1 -----------------------------------


def usage_error(stderr: str) -> str:
    """The message inside the usage-error box, unwrapped."""
    inside = [line.strip("│ ") for line in stderr.splitlines() if line.startswith("│")]
    return " ".join(" ".join(inside).split())


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e309", "0.5", "0", "-1", "abc", ""])
def test_timeout_must_be_finite_and_at_least_1(tmp_path: Path, value: str) -> None:
    p = run("check", str(tmp_path / "r.yaml"), "--timeout", value)
    assert (p.returncode, p.stdout) == (2, "")
    assert usage_error(p.stderr) == (
        "Invalid value for '--timeout' (env var: 'XSTOCK_AUDIT_TIMEOUT'): must be a finite "
        f"number of seconds, at least 1 (got {value!r})"
    )
    assert "Traceback" not in p.stderr


def test_timeout_of_1_is_accepted(tmp_path: Path) -> None:
    p = run("check", str(tmp_path / "r.yaml"), "--timeout", "1")
    assert (p.returncode, p.stderr) == (2, f"error: {tmp_path / 'r.yaml'}: file not found\n")


# --- check: where the registry is --------------------------------------------------------

NO_REGISTRY = (
    "error: no registry: xstock-audit.yaml is not in the current folder. Pass a registry file "
    "(xstock-audit check path/to/registry.yaml), start from examples/xstocks.yaml, or run "
    '`xstock-audit demo` to see a whole audit; see "Quick start" in the README.\n'
)


def test_check_without_a_registry_says_how_to_start(tmp_path: Path) -> None:
    for args in (["check"], ["check", "-f", "json"], ["check", "-o", str(tmp_path)]):
        p = run(*args, cwd=tmp_path)
        assert (p.returncode, p.stdout, p.stderr) == (2, "", NO_REGISTRY)


def test_the_examples_and_readme_the_message_points_at_exist() -> None:
    root = Path(__file__).resolve().parents[1]
    assert (root / "examples" / "xstocks.yaml").is_file()
    assert "## Quick start" in (root / "README.md").read_text()

    from xstock_audit import cli, registry

    assert cli.DEFAULT_REGISTRY == registry.DEFAULT_REGISTRY


def test_check_registry_missing_or_a_folder(tmp_path: Path) -> None:
    (tmp_path / "xstock-audit.yaml").mkdir()  # the default name, but a folder
    for args, message in [
        (["check"], "error: xstock-audit.yaml: is a directory, expected a file\n"),
        (["check", "nope.yaml"], "error: nope.yaml: file not found\n"),
        (["check", str(tmp_path)], f"error: {tmp_path}: is a directory, expected a file\n"),
    ]:
        p = run(*args, cwd=tmp_path)
        assert (p.returncode, p.stdout, p.stderr) == (2, "", message)


# --- what a new user tries next ----------------------------------------------------------


@pytest.mark.parametrize("option", ["--evm-port", "--solana-port"])
@pytest.mark.parametrize("port", ["65536", "-1"])
def test_sandbox_port_out_of_range_is_a_usage_error(option: str, port: str) -> None:
    p = run("sandbox", option, port)
    assert (p.returncode, p.stdout) == (2, "")
    assert usage_error(p.stderr).startswith(f"Invalid value for '{option}': ")
    assert "Traceback" not in p.stderr and "OverflowError" not in p.stderr


def test_sandbox_port_in_use_is_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = run("sandbox", "--evm-port", str(port), timeout=120)
    assert (p.returncode, p.stdout) == (2, "")
    in_use = f"[Errno {errno.EADDRINUSE}] {os.strerror(errno.EADDRINUSE)}"
    assert p.stderr == f"error: cannot start the sandbox: {in_use}\n"


BROKEN_PIPE = "error: stdout was closed before the whole report was written (broken pipe)\n"


def closed_stdout(*args: str) -> tuple[int, str]:
    """Run with stdout's reader gone at once, as `xstock-audit check | head -0` does."""
    proc = subprocess.Popen(
        [CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    try:
        err = proc.stderr.read()
        return proc.wait(timeout=300), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_check_into_a_closed_pipe_keeps_the_finding(tmp_path: Path) -> None:
    registry = refused_registry(tmp_path)
    for fmt in ("table", "json"):
        code, err = closed_stdout("check", str(registry), "-f", fmt)
        assert (code, err) == (3, BROKEN_PIPE + "1 token(s): 1 ERROR — audit incomplete (exit 3)\n")


def test_demo_and_sandbox_into_a_closed_pipe(tmp_path: Path) -> None:
    assert closed_stdout("demo") == (1, BROKEN_PIPE)
    assert closed_stdout("sandbox", "--dir", str(tmp_path / "sb")) == (
        2,
        "error: stdout was closed: the sandbox cannot show its URLs (broken pipe)\n",
    )


def test_command_help_paragraphs_are_not_broken_mid_sentence() -> None:
    wide = {**ENV, "COLUMNS": "300"}
    for command, sentence in [
        (
            "demo",
            "Starts a local Ethereum (py-evm) and Solana (LiteSVM) node on 127.0.0.1, seeds a "
            "small xStocks-like portfolio (one token deliberately short of custody, multiplier "
            "changes scheduled), writes attestation files and a registry,",
        ),
        (
            "sandbox",
            "change a Backed token's multiplier with eth_sendTransaction, or a Token-2022 "
            "ScaledUiAmount multiplier and the Solana clock",
        ),
    ]:
        p = subprocess.run(
            [CLI, command, "--help"], capture_output=True, text=True, env=wide, timeout=60
        )
        assert p.returncode == 0
        assert any(sentence in line for line in p.stdout.splitlines()), p.stdout


def test_output_onto_the_registry_is_refused(tmp_path: Path) -> None:
    registry = refused_registry(tmp_path)
    before = registry.read_text()
    link = tmp_path / "same.yaml"
    link.symlink_to(registry)
    for output in (str(registry), str(link)):
        p = run("check", str(registry), "-o", output)
        assert (p.returncode, p.stderr) == (
            2,
            f"error: --output {output}: is the registry file (the report would replace it)\n",
        )
    assert registry.read_text() == before


def test_debug_adds_no_empty_traceback_to_a_refusal(tmp_path: Path) -> None:
    p = run("check", "--debug", cwd=tmp_path)
    assert (p.returncode, p.stderr) == (2, NO_REGISTRY)
    a_file = refused_registry(tmp_path)
    p = run("demo", "--keep", str(a_file), "--debug")
    assert (p.returncode, p.stderr) == (2, f"error: --keep {a_file}: is a file, not a folder\n")
