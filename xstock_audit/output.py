"""Where reports and the demo's files go: widths, the checks made before any work, and
atomic writes. Used by the CLI; nothing here imports a heavy library."""

from __future__ import annotations

import os
from pathlib import Path


def terminal_width() -> int:
    import shutil

    return max(80, shutil.get_terminal_size((120, 24)).columns)


def pipe_width() -> int:
    """A report to a pipe or file is 120 columns wide, or `COLUMNS` when that is wider (an
    inherited terminal width never squeezes a cron mail)."""
    try:
        return max(120, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 120


def folder_problem(folder: Path) -> str | None:
    """Why no file can be created in FOLDER, or None when one can.

    Probes by creating (and removing) a file: permission bits say nothing when the process
    runs as root, on a read-only mount or under /proc.
    """
    import tempfile

    shown = str(folder) if str(folder) != "." else f"the current folder ({Path.cwd()})"
    if not folder.exists():
        return f"folder {shown} does not exist"
    if not folder.is_dir():
        return f"{shown} is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".xstock-audit-probe-", dir=folder)
    except OSError as exc:
        return f"cannot write in {shown}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(probe)
    return None


def folder_option_problem(folder: Path, *, empty: bool) -> str | None:
    """Why FOLDER (`demo --keep`, `sandbox --dir`) cannot receive the demo's files, or None.

    It may not exist yet (it is created, not its parents); when it exists it must be a
    folder, writable, and with `empty`, empty.
    """
    if not folder.is_dir():
        if folder.is_file():
            return "is a file, not a folder"
        if folder.exists():
            return "is not a folder"
        return folder_problem(folder.parent)
    if empty:
        try:
            if any(folder.iterdir()):
                return "folder is not empty"
        except OSError as exc:
            return f"cannot read the folder: {exc.strerror or exc}"
    return folder_problem(folder)


def output_problem(path: Path, registry: Path | None = None) -> str | None:
    """Why the report cannot be written to PATH (`-o`), or None. Checked before any work."""
    if path.is_dir():
        return "is a directory"
    if (
        registry is not None
        and path.exists()
        and registry.exists()
        and os.path.samefile(path, registry)
    ):
        return "is the registry file (the report would replace it)"
    if path.exists() and not path.is_file():  # /dev/null, a FIFO: written in place
        return None
    return folder_problem(path.parent)


def write_atomic(path: Path, text: str) -> None:
    """Write the report all at once: a temp file in the same folder, then a rename.

    A path that exists and is not a regular file (/dev/null, /dev/stdout, a FIFO) is written
    in place: replacing it would put a regular file where a device or a pipe was.
    """
    import tempfile

    from .errors import InputError

    if path.exists() and not path.is_file() and not path.is_dir():
        with path.open("w", encoding="utf-8") as f:
            f.write(text)
        return
    target = path.resolve()  # a symlink: replace the file it points to, keep the link
    if problem := output_problem(target):
        raise InputError(problem, file=str(path), field="--output")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.fchmod(fd, _mode_for(target))  # mkstemp makes 0600; a report is an ordinary file
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """The permissions a report file gets: the replaced file's, else the umask's default."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
