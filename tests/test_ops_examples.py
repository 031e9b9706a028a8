"""The files for running the audit unattended: the GitHub Action (action.yml), the CI examples
(examples/ci) and the ops examples (examples/ops: cron line, systemd service and timer).

Pure tests read them (PyYAML, a small INI reader) and check their structure and that every
`xstock-audit` option they use exists. Slow tests run them: the Action's shell steps with
bash the way GitHub does (`bash --noprofile --norc -eo pipefail`) against a fake
`xstock-audit` that exits with a chosen code, then against the real CLI; the GitLab job's
script, the cron line (with sh, as cron does) and the systemd unit's ExecStart with the real
CLI against anvil and the local Solana node (tests/support/world.py: custody equals supply);
`systemd-analyze verify` on the units when it is installed.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
GH_WORKFLOW = ROOT / "examples" / "ci" / "github-workflow.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab-ci.yml"
OPS = ROOT / "examples" / "ops"
CRON = OPS / "xstock-audit.cron"
SERVICE = OPS / "xstock-audit.service"
TIMER = OPS / "xstock-audit.timer"

#: How GitHub Actions runs a `shell: bash` step.
GH_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
#: The console script installed next to the test interpreter.
CLI = Path(sys.executable).with_name("xstock-audit")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _action() -> dict[str, Any]:
    doc: dict[str, Any] = _yaml(ACTION)
    return doc


def _step(step_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = _action()["runs"]["steps"]
    return next(s for s in steps if s.get("id") == step_id)


def _ini(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file: section -> [(key, value)] in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if m := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(m.group(1), [])
            continue
        assert current is not None, f"{path.name}: {line!r} before any section"
        assert "=" in line, f"{path.name}: {line!r} is not KEY=VALUE"
        assert not line.endswith("\\"), f"{path.name}: keep {line!r} on one line"
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def _one(section: list[tuple[str, str]], key: str) -> str:
    values = [v for k, v in section if k == key]
    assert len(values) == 1, f"{key}: {values}"
    return values[0]


def _cron() -> tuple[dict[str, str], str, str, str]:
    """The cron.d file: its environment lines, schedule, user and command (one job line)."""
    env: dict[str, str] = {}
    jobs = []
    for line in CRON.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if m := re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line):
            env[m.group(1)] = m.group(2)
            continue
        jobs.append(line)
    assert len(jobs) == 1, jobs
    fields = jobs[0].split(None, 6)
    return env, " ".join(fields[:5]), fields[5], fields[6]


def _check_command(argv: list[str]) -> list[str]:
    """The arguments after `xstock-audit check` in a command line."""
    for i, word in enumerate(argv):
        if word.endswith("xstock-audit") and argv[i + 1 : i + 2] == ["check"]:
            return argv[i + 2 :]
    raise AssertionError(f"no `xstock-audit check` in {argv}")


def _options_used() -> dict[str, set[str]]:
    """Every long option handed to `xstock-audit check` by an example, per file."""
    used: dict[str, set[str]] = {}
    cron_cmd = _cron()[3]
    used[CRON.name] = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", cron_cmd.split("||")[0]))
    exec_start = _one(_ini(SERVICE)["Service"], "ExecStart")
    used[SERVICE.name] = {w for w in _check_command(shlex.split(exec_start)) if w.startswith("--")}
    run = _step("check")["run"]
    used[ACTION.name] = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", run.split("rc=0")[0]))
    used[ACTION.name] |= {w for w in shlex.split(_workflow_step()["with"]["extra-args"])}
    used[ACTION.name] = {w for w in used[ACTION.name] if w.startswith("--") and w != "--"}
    gitlab_job = _yaml(GITLAB)["xstock-audit"]
    env_opts = {
        "--" + k.removeprefix("XSTOCK_AUDIT_").lower().replace("_", "-")
        for k in gitlab_job["variables"]
        if k.startswith("XSTOCK_AUDIT_") and k != "XSTOCK_AUDIT_REGISTRY"
    }
    script = " ".join(gitlab_job["script"])
    used[GITLAB.name] = env_opts | set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", script))
    return used


def _workflow_step() -> dict[str, Any]:
    steps: list[dict[str, Any]] = _yaml(GH_WORKFLOW)["jobs"]["audit"]["steps"]
    return next(s for s in steps if s.get("uses") == "./")


# --- the Action, read -----------------------------------------------------------------------------


def test_action_is_composite_with_the_inputs_and_the_exit_code_output() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert {
        "registry",
        "python-version",
        "version",
        "fail-on",
        "extra-args",
        "json-report",
    } <= set(inputs)
    assert inputs["python-version"]["default"] == "3.11"  # a string, not the float 3.11
    assert inputs["version"]["default"] == ""  # the action's own checkout
    assert all("description" in spec for spec in inputs.values())
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.check.outputs.exit-code }}"


def test_action_steps_use_the_inputs_through_the_environment_only() -> None:
    steps = _action()["runs"]["steps"]
    setup = steps[0]
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    install = _step("install")
    assert install["env"]["XA_VERSION"] == "${{ inputs.version }}"
    assert install["env"]["XA_ACTION_PATH"] == "${{ github.action_path }}"
    check = _step("check")
    assert check["shell"] == "bash"
    env = check["env"]
    for name in ("registry", "fail-on", "extra-args", "json-report", "junit-report"):
        assert f"${{{{ inputs.{name} }}}}" in env.values(), name
    for step in steps:
        # an input pasted into a script would be shell code: `${{ }}` never inside `run:`
        assert "${{" not in step.get("run", ""), step.get("name")
    assert "--output-json" in check["run"] and "--output-junit" in check["run"]
    assert 'echo "exit-code=$rc" >> "$GITHUB_OUTPUT"' in check["run"]
    assert check["run"].rstrip().endswith('exit "$rc"')


def test_action_uploads_the_reports_even_when_the_gate_fails() -> None:
    upload = _action()["runs"]["steps"][-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert "always()" in upload["if"]
    paths = upload["with"]["path"].splitlines()
    assert paths == ["${{ inputs.json-report }}", "${{ inputs.junit-report }}"]
    assert upload["with"]["name"] == "${{ inputs.artifact-name }}"


def test_github_workflow_example_gates_pull_requests_with_the_action() -> None:
    wf = _yaml(GH_WORKFLOW)
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request", "workflow_dispatch"}
    step = _workflow_step()
    assert set(step["with"]) <= set(_action()["inputs"])
    text = GH_WORKFLOW.read_text(encoding="utf-8")
    assert re.search(r"^\s*#\s*uses: owner/xstock-audit@v1$", text, re.M)
    steps = wf["jobs"]["audit"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")  # `uses: ./` needs the checkout
    assert wf["permissions"] == {"contents": "read"}


def test_gitlab_job_wires_the_junit_report_and_keeps_it_on_failure() -> None:
    job = _yaml(GITLAB)["xstock-audit"]
    assert job["artifacts"]["when"] == "always"
    junit = job["variables"]["XSTOCK_AUDIT_OUTPUT_JUNIT"]
    assert job["artifacts"]["reports"]["junit"] == junit
    assert any(junit.startswith(p) for p in job["artifacts"]["paths"])
    assert any(line.startswith("xstock-audit check") for line in job["script"])
    assert "allow_failure" not in job  # a failing audit fails the pipeline


# --- the ops files, read ----------------------------------------------------------------------


def test_cron_line_runs_every_15_minutes_under_flock_with_the_outputs() -> None:
    env, schedule, user, command = _cron()
    assert schedule == "*/15 * * * *"
    assert user == "xstock-audit"
    assert "%" not in command  # cron turns % into a newline
    assert {"MAILTO", "XSTOCK_AUDIT_REGISTRY", "XSTOCK_AUDIT_NOTIFY"} <= set(env)
    argv = shlex.split(command.split("||")[0])
    assert argv[:4] == ["flock", "-n", "-E", "75"]  # skip, don't pile up; 75 is not an audit code
    args = _check_command(argv)
    assert "--quiet" in args
    assert args[args.index("--output-prom") + 1] == "/var/lib/node_exporter/textfile/xstock.prom"
    assert "--history" in args
    # an unset webhook must not become `--notify ""` (exit 2): the option is only added when set
    assert '${XSTOCK_AUDIT_NOTIFY:+--notify "$XSTOCK_AUDIT_NOTIFY"}' in command


def test_service_is_a_hardened_oneshot_and_the_timer_runs_it_every_15_minutes() -> None:
    unit = _ini(SERVICE)
    service = unit["Service"]
    assert _one(service, "Type") == "oneshot"
    assert _one(service, "EnvironmentFile") == "/etc/xstock-audit/env"
    assert ("DynamicUser", "yes") in service or _one(service, "User") not in ("", "root")
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert _one(service, key) == "yes", key
    assert _one(service, "ProtectSystem") == "strict"
    writable = _one(service, "ReadWritePaths").split()
    assert set(writable) == {"/var/lib/node_exporter/textfile", "/var/lib/xstock-audit"}
    args = _check_command(shlex.split(_one(service, "ExecStart")))
    for path in (args[args.index("--output-prom") + 1], args[args.index("--history") + 1]):
        assert any(path.startswith(w + "/") for w in writable), path
    timer = _ini(TIMER)["Timer"]
    assert _one(timer, "OnCalendar") == "*:0/15"
    assert _one(timer, "Persistent") == "true"
    assert _one(timer, "RandomizedDelaySec")
    assert _ini(TIMER)["Install"] == [("WantedBy", "timers.target")]


def test_every_option_the_examples_use_exists() -> None:
    """Read from the `check` command itself (its click parameters), in process."""
    import typer.main

    from xstock_audit.cli import app

    command = typer.main.get_command(app)
    check = command.commands["check"]  # type: ignore[attr-defined]
    known = {o for p in check.params for o in (*p.opts, *p.secondary_opts)}
    for name, used in _options_used().items():
        assert used, name
        assert used <= known, f"{name}: {sorted(used - known)} not options of `check`"


@pytest.mark.slow
def test_every_option_the_examples_use_is_in_check_help() -> None:
    p = subprocess.run(
        [str(CLI), "check", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", p.stdout))
    for name, used in _options_used().items():
        assert used <= documented, f"{name}: {sorted(used - documented)} not in check --help"


# --- the Action, run ------------------------------------------------------------------------------

FAKE_CLI = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args == ["--version"]:
    print("xstock-audit 0.0.0 (fake)")
    sys.exit(0)
for option, text in (("--output-json", '{"exit_code": %s}'), ("--output-junit", "<testsuite/>")):
    if option in args:
        with open(args[args.index(option) + 1], "w") as f:
            f.write(text % os.environ["FAKE_RC"] if "%" in text else text)
sys.exit(int(os.environ["FAKE_RC"]))
"""

FAKE_PYTHON = r"""#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  printf '%s\n' "$@" > "$FAKE_PIP_LOG"
  exit 0
fi
exec "$REAL_PYTHON" "$@"
"""


def _fake_bin(folder: Path) -> Path:
    """A folder with a fake `xstock-audit` and a `python` whose `-m pip` only logs."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("xstock-audit", FAKE_CLI), ("python", FAKE_PYTHON)):
        exe = folder / name
        exe.write_text(text)
        exe.chmod(0o755)
    return folder


def _run_step(
    step_id: str, workspace: Path, env: dict[str, str], path_first: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the step's `run:` script as GitHub would, with the step's `env:` filled in from
    `env` (the inputs, by the names the step gives them): exit status and $GITHUB_OUTPUT."""
    step = _step(step_id)
    script = workspace.parent / f"{step_id}.sh"
    script.write_text(step["run"])
    output = workspace.parent / f"{step_id}.output"
    output.write_text("")
    full = {
        **os.environ,
        "PATH": f"{path_first}{os.pathsep}{os.environ['PATH']}",
        "REAL_PYTHON": sys.executable,
        "GITHUB_OUTPUT": str(output),
        "NO_COLOR": "1",
        **env,
    }
    full.pop("GITHUB_STEP_SUMMARY", None)
    full.update({k: v for k, v in env.items() if k == "GITHUB_STEP_SUMMARY"})
    p = subprocess.run(
        [*GH_BASH, str(script)],
        cwd=workspace,
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return p, outputs


def _inputs(**given: str) -> dict[str, str]:
    """The check step's environment for these inputs (defaults from action.yml)."""
    defaults = {k: str(v.get("default", "")) for k, v in _action()["inputs"].items()}
    values = {**defaults, **{k.replace("_", "-"): v for k, v in given.items()}}
    env: dict[str, str] = {}
    for var, expr in _step("check")["env"].items():
        m = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", expr)
        assert m, expr
        env[var] = values[m.group(1)]
    return env


@pytest.mark.slow
@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_action_check_step_exits_with_the_audit_code(tmp_path: Path, code: int) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    log = tmp_path / "calls.jsonl"
    env = _inputs(
        registry="conf/my registry.yaml",
        fail_on="under,error",
        extra_args="--timeout 120 --ignore 'NVDAx:OPS 42' $(touch pwned)",
        json_report="out/report.json",
        junit_report="out/junit.xml",
    )
    p, outputs = _run_step(
        "check",
        workspace,
        {**env, "FAKE_LOG": str(log), "FAKE_RC": str(code)},
        _fake_bin(tmp_path / "bin"),
    )
    assert p.returncode == code, p.stderr
    assert outputs == {
        "exit-code": str(code),
        "json-report": "out/report.json",
        "junit-report": "out/junit.xml",
    }
    assert json.loads((workspace / "out" / "report.json").read_text()) == {"exit_code": code}
    assert (workspace / "out" / "junit.xml").exists()
    (args,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert args == [
        "check",
        "--output-json",
        "out/report.json",
        "--output-junit",
        "out/junit.xml",
        "--fail-on",
        "under,error",
        "--timeout",
        "120",
        "--ignore",
        "NVDAx:OPS 42",  # quotes honoured
        "$(touch",  # and nothing expanded or run
        "pwned)",
        "--",
        "conf/my registry.yaml",
    ]
    assert not (workspace / "pwned").exists()
    if code:
        assert "::error title=xstock-audit::" in p.stdout and f"(exit {code})" in p.stdout


@pytest.mark.slow
def test_action_check_step_defaults_leave_the_registry_to_the_tool(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    log = tmp_path / "calls.jsonl"
    env = {**_inputs(), "FAKE_LOG": str(log), "FAKE_RC": "0"}
    p, outputs = _run_step("check", workspace, env, _fake_bin(tmp_path / "bin"))
    assert p.returncode == 0, p.stderr
    assert outputs["exit-code"] == "0"
    args = json.loads(log.read_text())
    # no registry argument: XSTOCK_AUDIT_REGISTRY or ./xstock-audit.yaml; no --fail-on: policy
    assert args == [
        "check",
        "--output-json",
        "xstock-audit-report.json",
        "--output-junit",
        "xstock-audit-junit.xml",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("version", "repository", "spec"),
    [
        ("", "", "{action_path}"),
        ("0.1.0", "", "xstock-audit==0.1.0"),
        ("1.2.0rc1", "", "xstock-audit==1.2.0rc1"),
        (
            "git+https://example.org/x/xstock-audit@v2",
            "",
            "git+https://example.org/x/xstock-audit@v2",
        ),
        ("v1", "acme/xstock-audit", "git+https://github.com/acme/xstock-audit@v1"),
        ("v1", "", None),  # `uses: ./` has no repository to take a ref of
    ],
)
def test_action_install_step_resolves_the_version(
    tmp_path: Path, version: str, repository: str, spec: str | None
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    action_path = tmp_path / "action checkout"
    pip_log = tmp_path / "pip.log"
    env = {
        "XA_VERSION": version,
        "XA_ACTION_PATH": str(action_path),
        "XA_ACTION_REPOSITORY": repository,
        "FAKE_PIP_LOG": str(pip_log),
        "FAKE_LOG": str(tmp_path / "calls.jsonl"),
        "FAKE_RC": "0",
    }
    assert set(_step("install")["env"]) == {"XA_VERSION", "XA_ACTION_PATH", "XA_ACTION_REPOSITORY"}
    p, _ = _run_step("install", workspace, env, _fake_bin(tmp_path / "bin"))
    if spec is None:
        assert p.returncode == 2
        assert "::error title=xstock-audit::" in p.stdout
        assert not pip_log.exists()
        return
    assert p.returncode == 0, p.stderr
    expected = spec.format(action_path=action_path)
    assert pip_log.read_text().splitlines()[-1] == expected
    assert "xstock-audit 0.0.0 (fake)" in p.stdout  # the installed tool answers


# --- the real CLI against local chains --------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from support.evm import make_node
    from support.world import build_on

    from xstock_audit.sandbox.solana import SolanaNode

    folder = tmp_path_factory.mktemp("ops")
    with make_node("anvil") as evm, SolanaNode() as sol:
        yield build_on(folder, evm, sol)


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    from support.localhttp import Webhook

    with Webhook() as w:
        yield w.url("/services/T0KEN-SECRET"), w.bodies


def _real_bin(folder: Path) -> Path:
    """A folder with `xstock-audit` (the installed one) and `python` (this interpreter)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "xstock-audit").symlink_to(CLI)
    (folder / "python").symlink_to(sys.executable)
    return folder


@pytest.mark.slow
def test_action_check_step_with_the_real_cli(tmp_path: Path, world: Any) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    bin_dir = _real_bin(tmp_path / "bin")
    env = {**_inputs(registry=str(world.registry)), "GITHUB_STEP_SUMMARY": str(summary)}
    p, outputs = _run_step("check", workspace, {**env, "XSTOCK_AUDIT_MINT": ""}, bin_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert outputs["exit-code"] == "0"
    report = json.loads((workspace / "xstock-audit-report.json").read_text())
    assert report["exit_code"] == 0
    assert {t["status"] for t in report["tokens"]} == {"BACKED"}
    suite = ET.parse(workspace / "xstock-audit-junit.xml").getroot()
    assert sorted(c.get("name") or "" for c in suite.iter("testcase")) == ["TK0", "TK1"]
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## xstock-audit" in text

    # a planned mint that custody does not cover: the step fails with 1, reports still written
    env = _inputs(registry=str(world.registry), extra_args="--mint TK1:1@sol")
    p, outputs = _run_step("check", workspace, env, bin_dir)
    assert p.returncode == 1, p.stdout + p.stderr
    assert outputs["exit-code"] == "1"
    report = json.loads((workspace / "xstock-audit-report.json").read_text())
    assert report["exit_code"] == 1
    junit = ET.parse(workspace / "xstock-audit-junit.xml").getroot()
    assert [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None] == [
        "TK1"
    ]


@pytest.mark.slow
def test_gitlab_job_script_with_the_real_cli(tmp_path: Path, world: Any) -> None:
    job = _yaml(GITLAB)["xstock-audit"]
    project = tmp_path / "project"
    project.mkdir()
    variables = {k: str(v) for k, v in job["variables"].items() if k.startswith("XSTOCK_AUDIT_")}
    variables["XSTOCK_AUDIT_REGISTRY"] = str(world.registry)
    script = tmp_path / "job.sh"
    script.write_text("\n".join(job["script"]) + "\n")
    env = {**os.environ, **variables, "NO_COLOR": "1"}
    env["PATH"] = f"{_real_bin(tmp_path / 'bin')}{os.pathsep}{env['PATH']}"
    p = subprocess.run(
        ["bash", "-eo", "pipefail", str(script)],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    junit = project / job["artifacts"]["reports"]["junit"]
    suite = ET.parse(junit).getroot()
    assert suite.get("name") == "xstock-audit"
    assert sorted(c.get("name") or "" for c in suite.iter("testcase")) == ["TK0", "TK1"]
    assert (
        json.loads((project / variables["XSTOCK_AUDIT_OUTPUT_JSON"]).read_text())["exit_code"] == 0
    )
    assert (project / variables["XSTOCK_AUDIT_OUTPUT_MARKDOWN"]).read_text().startswith("## ")


def _cron_run(
    tmp_path: Path, world: Any, extra_env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Run the cron line's command with sh, as cron does, its paths moved into tmp_path."""
    env_lines, _, _, command = _cron()
    state = tmp_path / "state"
    textfile = tmp_path / "textfile"
    state.mkdir(exist_ok=True)
    textfile.mkdir(exist_ok=True)
    moved = {
        "/var/lib/node_exporter/textfile": str(textfile),
        "/var/lib/xstock-audit": str(state),
        "/etc/xstock-audit/xstock-audit.yaml": str(world.registry),
    }

    def move(text: str) -> str:
        for old, new in moved.items():
            text = text.replace(old, new)
        return text

    env = {k: move(v) for k, v in env_lines.items() if k != "PATH"}
    env.pop("ETH_RPC_URL")
    env.pop("SOLANA_RPC_URL")
    env.update(extra_env)
    env["PATH"] = f"{CLI.parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    env["HOME"] = str(tmp_path)
    p = subprocess.run(
        ["/bin/sh", "-c", move(command)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return p, state, textfile


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("flock") is None, reason="flock (util-linux) is not installed")
def test_cron_line_with_the_real_cli(
    tmp_path: Path, world: Any, hook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = hook
    # the webhook unset (empty): no --notify "" (which would be exit 2), a silent passing run
    p, state, textfile = _cron_run(tmp_path, world, {"XSTOCK_AUDIT_NOTIFY": ""})
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")  # nothing for cron to mail
    prom = (textfile / "xstock.prom").read_text()
    assert re.search(r"^xstock_audit_exit_code 0(\.0)?$", prom, re.M)
    assert json.loads((state / "report.json").read_text())["exit_code"] == 0
    assert "BACKED" in (state / "report.txt").read_text()
    assert (state / "report.html").read_text().lstrip().lower().startswith("<!doctype html")
    with sqlite3.connect(state / "history.sqlite") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables

    # a shortfall (a planned mint custody does not cover): cron mails the code and the log,
    # the webhook gets the failure, the textfile says 1
    p, _, _ = _cron_run(
        tmp_path, world, {"XSTOCK_AUDIT_NOTIFY": url, "XSTOCK_AUDIT_MINT": "TK1:1@sol"}
    )
    assert p.returncode == 1
    assert p.stdout.startswith("xstock-audit check exited 1 ")
    assert "UNDER" in p.stdout and "T0KEN-SECRET" not in p.stdout
    assert re.search(
        r"^xstock_audit_exit_code 1(\.0)?$", (textfile / "xstock.prom").read_text(), re.M
    )
    assert [b["exit_code"] for b in bodies] == [1]
    assert bodies[0]["failed"] == ["TK1"]

    # a run still holding the lock: this one is skipped with 75, and says so
    with open(state / "cron.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p, _, _ = _cron_run(tmp_path, world, {"XSTOCK_AUDIT_NOTIFY": ""})
    assert p.returncode == 75
    assert p.stdout.startswith("xstock-audit check exited 75 ")
    assert "previous run still running" in p.stdout


@pytest.mark.slow
def test_an_empty_notify_option_is_refused(tmp_path: Path, world: Any) -> None:
    """Why the cron line adds --notify only when XSTOCK_AUDIT_NOTIFY is set."""
    p = subprocess.run(
        [str(CLI), "check", str(world.registry), "-f", "json", "--notify", ""],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )
    assert p.returncode == 2
    assert "--notify" in p.stderr


@pytest.mark.slow
def test_service_exec_start_with_the_real_cli(tmp_path: Path, world: Any) -> None:
    argv = shlex.split(_one(_ini(SERVICE)["Service"], "ExecStart"))
    assert argv[0] == "/opt/xstock-audit/bin/xstock-audit"
    moved = {
        "/var/lib/node_exporter/textfile": tmp_path / "textfile",
        "/var/lib/xstock-audit": tmp_path / "state",
    }
    for folder in moved.values():
        folder.mkdir()
    run = [str(CLI)]
    for word in argv[1:]:
        for old, new in moved.items():
            word = word.replace(old, str(new))
        run.append(word)
    # EnvironmentFile: what examples/ops/README.md puts there
    env = {**os.environ, "NO_COLOR": "1", "XSTOCK_AUDIT_REGISTRY": str(world.registry)}
    p = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "xstock_audit_status{" in (tmp_path / "textfile" / "xstock.prom").read_text()
    assert (tmp_path / "state" / "history.sqlite").exists()
    assert json.loads((tmp_path / "state" / "report.json").read_text())["exit_code"] == 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    # verify wants the ExecStart binary to exist: point it at the installed one
    text = SERVICE.read_text().replace("/opt/xstock-audit/bin/xstock-audit", str(CLI))
    (tmp_path / SERVICE.name).write_text(text)
    shutil.copy(TIMER, tmp_path / TIMER.name)
    p = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / TIMER.name), str(tmp_path / SERVICE.name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 on an unknown key or a bad value, with a warning: any output is a finding
    assert (p.returncode, p.stdout + p.stderr) == (0, "")
    p = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=yes",
            "--threshold=20",
            "--no-pager",
            str(tmp_path / SERVICE.name),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", p.stdout)
    assert level and float(level.group(1)) <= 2.0, p.stdout[-500:]
    p = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=3", _one(_ini(TIMER)["Timer"], "OnCalendar")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    minutes = re.findall(r"Iter\. #\d+: \S+ \S+ \d\d:(\d\d):00", p.stdout)
    minutes += re.findall(r"Next elapse: \S+ \S+ \d\d:(\d\d):00", p.stdout)
    assert minutes and {int(m) % 15 for m in minutes} == {0}, p.stdout
