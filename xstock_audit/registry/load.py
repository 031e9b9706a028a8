"""Loading a registry file: YAML with lines, `${VAR}` expansion, the families' models, the
schema, then the cross-checks. Every problem is an `InputError` naming file, line, field."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from ..settings import paused_gc
from ..yamlsrc import load as load_yaml
from .crosscheck import cross_check
from .env import expand_env, register_secrets
from .errors import raise_all, translate
from .schema import Registry
from .typed import typed


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Registry:
    """Load and validate a registry file. Raises InputError (exit code 2) on any problem."""
    with paused_gc():
        return _load(path, env)


def _load(path: str | Path, env: Mapping[str, str] | None) -> Registry:
    p = Path(path)
    display = str(path)
    data, smap = load_yaml(p, display)
    if not isinstance(data, dict):
        raise smap.error(
            (), "the registry must be a mapping with version, chains, custodians, tokens"
        )
    for reserved in ("source", "base_dir"):
        if reserved in data:
            raise smap.error((reserved,), "unknown key (check the spelling)")
    data = expand_env(data, smap, os.environ if env is None else env)
    register_secrets(data.get("chains"), data.get("custodians"))
    data, errors = typed(data, smap)
    data = {**data, "source": display, "base_dir": str(p.resolve().parent)}
    try:
        reg = Registry.model_validate(data)
    except ValidationError as exc:
        errors += translate(exc, data, smap, model=Registry)
    raise_all(sorted(errors, key=lambda e: e.line or 0))
    cross_check(reg, smap)
    return reg
