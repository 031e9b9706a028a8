"""Pydantic's validation errors, told as `InputError`s that name the file, line and field."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import InputError, InputErrors
from ..yamlsrc import SourceMap

Path = tuple[str | int, ...]


def node_at(data: Any, path: Path) -> Any:
    for part in path:
        data = data[part]
    return data


def resolve_loc(data: Any, loc: Sequence[str | int]) -> Path:
    """Keep the parts of a pydantic error location that exist in the data."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            out.append(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            out.append(part)
        elif isinstance(cur, dict):
            # an unknown or missing key: name it; its line is the parent's (or its own)
            out.append(part)
            break
    return tuple(out)


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    kind = err.get("type", "")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see the registry format in the README)"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error" and err.get("loc", ())[-1:] == ("version",):
        return "unsupported registry version (this xstock-audit reads version: 1)"
    return msg


def _hint(kind: str, key: str | int, model: type[BaseModel] | None) -> str | None:
    if kind != "extra_forbidden" or model is None:
        return None
    close = difflib.get_close_matches(str(key), sorted(model.model_fields), n=1)
    return f"did you mean `{close[0]}`?" if close else None


def _misspelt(missing: Mapping[str, Any], errs: Sequence[Mapping[str, Any]]) -> bool:
    """A required key is missing and, beside it, an unknown key is a near spelling of it."""
    *parent, name = missing["loc"]
    return any(
        e["type"] == "extra_forbidden"
        and list(e["loc"][:-1]) == parent
        and difflib.get_close_matches(str(e["loc"][-1]), [str(name)], n=1)
        for e in errs
    )


def translate(
    exc: ValidationError,
    root: Any,
    smap: SourceMap,
    prefix: Path = (),
    model: type[BaseModel] | None = None,
) -> list[InputError]:
    """One error per (place, message) of `exc`, raised validating the data at `prefix`."""
    sub = node_at(root, prefix)
    items: list[InputError] = []
    seen: set[tuple[Path, str]] = set()
    errs = exc.errors()
    for err in errs:
        if err["type"] == "missing" and _misspelt(err, errs):
            continue  # the unknown key near it says it better ("did you mean ...?")
        path = (*prefix, *resolve_loc(sub, err["loc"]))
        msg = _message(err)
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        items.append(
            smap.error(path, msg, hint=_hint(err["type"], path[-1] if path else "", model))
        )
    return items


def raise_all(errors: Iterable[InputError]) -> None:
    items = list(errors)
    if items:
        raise items[0] if len(items) == 1 else InputErrors(items)
