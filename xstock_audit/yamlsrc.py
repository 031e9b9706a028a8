"""Load YAML (or JSON, a subset) keeping the line of every value, for error messages.

`load(path)` returns plain Python data plus a `SourceMap` from data paths such as
``("tokens", 0, "deployments", 1, "address")`` to 1-based line numbers. Duplicate keys,
oversized and binary files are input errors, never silently accepted.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

#: Registries and attestation files are small; anything larger is a mistake (or an attack).
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_NODES = 500_000

Path_ = tuple[str | int, ...]
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
#: libyaml's parser when PyYAML has it (about ten times faster on a thousand-token registry)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SourceMap:
    """The line of every value of a document, by data path.

    The lines may be computed when first asked for (`later`): a registry needs them only to
    report an error, so reading it does not record them.
    """

    def __init__(
        self,
        file: str,
        lines: dict[Path_, int] | None = None,
        later: Callable[[], dict[Path_, int]] | None = None,
    ) -> None:
        self.file = file
        self._lines = {} if lines is None else lines
        self._later = later

    @property
    def lines(self) -> dict[Path_, int]:
        if self._later is not None:
            self._lines, self._later = self._later(), None
        return self._lines

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of the value at ``path``, or of its nearest ancestor."""
        lines = self.lines
        p = tuple(path)
        while p:
            if p in lines:
                return lines[p]
            p = p[:-1]
        return lines.get((), None)

    def error(self, path: Sequence[str | int], message: str, hint: str | None = None) -> InputError:
        return InputError(
            message, file=self.file, line=self.line(path), field=dotted(path) or None, hint=hint
        )

    def __repr__(self) -> str:
        return f"SourceMap({self.file!r})"


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def read_text(path: Path, display: str) -> str:
    """Read a small UTF-8 text file or raise an InputError naming it."""
    return decode_text(read_bytes(path, display), display)


def read_bytes(path: Path, display: str) -> bytes:
    """A small file's exact bytes (what a signature covers) or an InputError naming it."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError("file not found", file=display) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=display) from None
    if path.is_dir():
        raise InputError("is a directory, expected a file", file=display)
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"file is {size} bytes, more than the {MAX_FILE_BYTES} allowed", file=display
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=display) from None


def decode_text(data: bytes, display: str) -> str:
    """`read_bytes`' result as UTF-8 text (a BOM dropped) or an InputError naming the file."""
    if b"\x00" in data:
        raise InputError("binary file (contains NUL bytes), expected text", file=display)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0)
        line = data[:start].count(b"\n") + 1
        raise InputError("not valid UTF-8 text", file=display, line=line) from None


class _Converter:
    def __init__(self, file: str) -> None:
        self.map = SourceMap(file)
        self.constructor = yaml.SafeLoader("")
        self.count = 0

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise InputError("document too large or too deeply aliased", file=self.map.file)
        self.map.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise InputError(
                        "YAML merge keys (<<) are not supported",
                        file=self.map.file,
                        line=key_node.start_mark.line + 1,
                    )
                key = self.convert(key_node, (*path, "<key>"))
                if not isinstance(key, str | int) or isinstance(key, bool):
                    raise InputError(
                        f"mapping key must be a string, got {key!r}",
                        file=self.map.file,
                        line=key_node.start_mark.line + 1,
                    )
                if key in out:
                    raise InputError(
                        f"duplicate key {key!r}",
                        file=self.map.file,
                        line=key_node.start_mark.line + 1,
                        field=dotted((*path, key)),
                    )
                self.map.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.convert(value_node, (*path, key))
                self.map.lines[(*path, key)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == "tag:yaml.org,2002:int"
            and not _PLAIN_INT.fullmatch(node.value)
        ):
            raise InputError(
                f"ambiguous number {node.value!r} (YAML reads it as "
                f"{self.constructor.construct_object(node)}); quote it or write plain digits",
                file=self.map.file,
                line=node.start_mark.line + 1,
                field=dotted(path) or None,
            )
        return self.constructor.construct_object(node, deep=True)


def loads(text: str, display: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document from text. Raises InputError with the file and line.

    Documents in the plain subset `_FastReader` accepts are read by it; every other
    document, and every document with an error, by PyYAML (`_loads_pyyaml`), which is the
    reference: both give the same data and the same `SourceMap` (tests/test_yaml_speed.py).
    """
    from .yamlfast import _FastReader

    reader = _FastReader(text, record_lines=False)
    fast = reader.read()
    if fast is None:
        return _loads_pyyaml(text, display)
    data, lines = fast
    if reader.lines_complete:
        return data, SourceMap(display, lines)
    return data, SourceMap(display, later=lambda: _lines_of(text, display))


def _lines_of(text: str, display: str) -> dict[Path_, int]:
    """The lines of a document the fast reader has read without recording them."""
    from .yamlfast import _FastReader

    again = _FastReader(text).read()  # the same text, the same reading: it cannot decline
    return again[1] if again is not None else _loads_pyyaml(text, display)[1].lines


def _loads_pyyaml(text: str, display: str) -> tuple[Any, SourceMap]:
    """The reference reader: PyYAML (libyaml) composes, `_Converter` checks and converts."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", file=display, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=display) from None
    if node is None:
        raise InputError("file is empty", file=display, line=1)
    conv = _Converter(display)
    try:
        data = conv.convert(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise InputError(
            f"invalid value: {exc.problem}", file=display, line=mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise InputError("document nested too deeply", file=display) from None
    return data, conv.map


def load(path: Path, display: str | None = None) -> tuple[Any, SourceMap]:
    name = display or str(path)
    return loads(read_text(path, name), name)
