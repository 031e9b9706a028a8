"""Loading a registry file: YAML with lines, `${VAR}` expansion, the families' models, the
schema, then the cross-checks. Every problem is an `InputError` naming file, line, field.

Every stage after the YAML goes on past its problems, so that one run reports all of a
file's problems: every unset variable, every token's schema errors and, where the schema
failed, the cross-checks over the parts that did validate."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import InputError
from ..settings import paused_gc
from ..yamlsrc import SourceMap, dotted
from ..yamlsrc import load as load_yaml
from .crosscheck import cross_check, partial_registry
from .env import expand_env, register_secrets
from .errors import raise_all, translate
from .schema import Registry
from .typed import typed


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Registry:
    """Load and validate a registry file. Raises InputError (exit code 2) on any problem."""
    with paused_gc():
        return _load(path, env)[0]


def load_with_map(
    path: str | Path, env: Mapping[str, str] | None = None
) -> tuple[Registry, SourceMap]:
    """`load`, and the line of every value of the file (for messages about its values)."""
    with paused_gc():
        return _load(path, env)


def _under(field: str | None, places: list[str]) -> bool:
    """Whether an error's field is at or below one of `places`, or is the list that holds
    one of them (an RPC list whose `${VAR}` item could not be expanded)."""
    if not field:
        return False
    for place in places:
        if field == place or field.startswith((place + ".", place + "[")):
            return True
        if place.startswith(field + "[") and "." not in place[len(field) :]:
            return True
    return False


#: what an RPC or source URL whose variable is unset is validated as: the chain's other
#: settings and its deployments are still checked (the unset variable is reported)
STAND_IN_URL = "https://unset.invalid/"


def _stand_in(data: Any, where: tuple[str | int, ...]) -> Any:
    """`data` with the URL at `where` replaced by `STAND_IN_URL` (a copy along the path);
    other values are left as written."""
    is_url = len(where) >= 3 and (
        (where[0] == "chains" and where[2] == "rpc")
        or (where[0] == "custodians" and where[2] == "url" and len(where) == 3)
    )
    if not is_url:
        return data

    def put(node: Any, rest: tuple[str | int, ...]) -> Any:
        if not rest:
            return STAND_IN_URL
        key = rest[0]
        if isinstance(node, dict) and key in node:
            return {**node, key: put(node[key], rest[1:])}
        if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            return [*node[:key], put(node[key], rest[1:]), *node[key + 1 :]]
        return node

    return put(data, where)


def _load(path: str | Path, env: Mapping[str, str] | None) -> tuple[Registry, SourceMap]:
    p = Path(path)
    display = str(path)
    data, smap = load_yaml(p, display)
    if not isinstance(data, dict):
        raise smap.error(
            (), "the registry must be a mapping with version, chains, custodians, tokens"
        )
    errors: list[InputError] = []
    for reserved in ("source", "base_dir"):
        if reserved in data:
            errors.append(smap.error((reserved,), "unknown key (check the spelling)"))
            data = {k: v for k, v in data.items() if k != reserved}
    unset: list[tuple[tuple[str | int, ...], InputError]] = []
    data = expand_env(data, smap, os.environ if env is None else env, errors=unset)
    register_secrets(data.get("chains"), data.get("custodians"))
    for where, _ in unset:
        data = _stand_in(data, where)
    data, later = typed(data, smap)
    data = {**data, "source": display, "base_dir": str(p.resolve().parent)}
    reg: Registry | None = None
    try:
        reg = Registry.model_validate(data)
    except ValidationError as exc:
        later += translate(exc, data, smap, model=Registry)
    # a value whose variable is unset is kept as written: what the models say of it is noise
    places = [dotted(where) for where, _ in unset]
    errors += [e for _, e in unset] + [e for e in later if not _under(e.field, places)]
    if reg is not None and not errors:
        cross_check(reg, smap)
        return reg, smap
    partial = partial_registry(data)
    if partial is not None:
        try:
            cross_check(partial, smap)
        except InputError as exc:
            errors += getattr(exc, "items", [exc])
    raise_all(sorted(errors, key=lambda e: e.line or 0))
    raise AssertionError("unreachable: a registry in error raised above")  # pragma: no cover
