"""`xstock-audit registry lint`, offline: the registry and what it points to on disk.

Every problem of the registry (`load` reports all of them at once), then, when it loads,
each custodian's `attestations` globs (one that matches no file is a warning: the files may
not have arrived yet) and every file they match, parsed with the custodian's format and time
zone and checked as `check` would (the custodian it names, each ISIN once per statement).
Signatures are `attest verify`'s business; nothing here reads a chain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..yamlsrc import SourceMap
from .schema import Registry


@dataclass(frozen=True)
class Warning_:
    """Something worth a look that does not make the registry unusable."""

    message: str
    file: str
    line: int | None
    field: str

    def render(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field}: warning: {self.message}"


@dataclass
class LintResult:
    registry: Registry | None = None
    smap: SourceMap | None = None
    errors: list[InputError] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    #: attestation files read
    files: int = 0


def items(exc: InputError) -> list[InputError]:
    """The single problems an `InputError` (or `InputErrors`) holds."""
    found: list[InputError] | None = getattr(exc, "items", None)
    return list(found) if found else [exc]


def shown(path: Path) -> str:
    """A file as the user can open it: relative to the current folder when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def lint(path: Path, env: Mapping[str, str] | None = None) -> LintResult:
    from .load import load_with_map

    result = LintResult()
    try:
        result.registry, result.smap = load_with_map(path, env)
    except InputError as exc:
        result.errors = items(exc)
        return result
    _attestations(result, result.registry, result.smap)
    return result


def _attestations(result: LintResult, reg: Registry, smap: SourceMap) -> None:
    from .. import custody
    from ..attest_files import parse_attestation
    from ..yamlsrc import read_bytes

    base = Path(reg.base_dir)
    for name, custodian in reg.custodians.items():
        if custodian.attestations is None:
            continue  # a source that is not files (chainlink-por, http-json)
        files: dict[str, Path] = {}
        for k, pattern in enumerate(custodian.attestations):
            matched = custody.expand([pattern], base)
            if not matched:
                where = ("custodians", name, "attestations", k)
                result.warnings.append(
                    Warning_(
                        f"{pattern!r} matches no file (globs are relative to {shown(base)}/)",
                        smap.file,
                        smap.line(where),
                        f"custodians.{name}.attestations[{k}]",
                    )
                )
            for p in matched:
                files.setdefault(str(p.resolve()), p)
        statements = []
        displays = []
        for p in files.values():
            display = shown(p)
            displays.append(display)
            result.files += 1
            try:
                _, found = parse_attestation(p, display, read_bytes(p, display), custodian)
            except InputError as exc:
                result.errors += items(exc)
                continue
            statements.extend(found)
        try:
            custody.build_book(name, statements, displays)
        except InputError as exc:
            result.errors += items(exc)
