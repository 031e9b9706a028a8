"""`${VAR}` and `${VAR:-default}` expansion, and the secrets it brings into the registry.

Values expanded into `chains` (RPC URLs, headers) or into a custodian's `url` or `headers`
(the http-json source), and every such URL and header value, are registered with `redact`,
so they never appear in any output, log or error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .. import redact
from ..errors import InputError
from ..yamlsrc import SourceMap

_VAR_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


def _has_dollar(data: Any) -> bool:
    """Whether any key or string below `data` holds a `$` (json's C encoder looks fast)."""
    import json

    return "$" in json.dumps(data, default=str, ensure_ascii=False)


Path = tuple[str | int, ...]


def expand_env(
    data: Any,
    smap: SourceMap,
    env: Mapping[str, str],
    path: Path = (),
    errors: list[tuple[Path, InputError]] | None = None,
) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string; ``$$`` is a literal ``$``.

    An unset variable (or a malformed reference) raises an `InputError`; with `errors`, it
    is appended there with its path instead and the string is kept as written, so that
    every such problem of a file is reported at once."""
    if isinstance(data, dict | list) and not _has_dollar(data):
        return data  # nothing to expand below here: skip the walk (150,000 values at scale)
    if isinstance(data, dict):
        return {k: expand_env(v, smap, env, (*path, k), errors) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, smap, env, (*path, i), errors) for i, v in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data
    secret_place = bool(path) and (
        path[0] == "chains" or (path[0] == "custodians" and path[2:3] in (("url",), ("headers",)))
    )

    def repl(m: re.Match[str]) -> str:
        whole = m.group(0)
        if whole == "$$":
            return "$"
        name = m.group(1)
        if name is None:
            raise smap.error(path, f"malformed variable reference {whole!r}")
        value = env.get(name)
        if value is None or (value == "" and m.group(2) is not None):
            if m.group(2) is None:
                raise smap.error(
                    path,
                    f"environment variable {name} is not set",
                    hint=f"export {name}=… or write ${{{name}:-default}}",
                )
            value = m.group(2)
        elif secret_place:
            redact.register_secret(value)
        return value

    try:
        return _VAR_RE.sub(repl, data)
    except InputError as exc:
        if errors is None:
            raise
        errors.append((path, exc))
        return data


def register_secrets(chains: Any, custodians: Any = None) -> None:
    """Register RPC URLs, custodians' `url`s (http-json) and all their header values as
    secrets, whatever shape the input has."""
    places = [*(chains.values() if isinstance(chains, dict) else ())]
    places += [
        {"rpc": c.get("url"), "headers": c.get("headers")}
        for c in (custodians.values() if isinstance(custodians, dict) else ())
        if isinstance(c, dict)
    ]
    for place in places:
        if not isinstance(place, dict):
            continue
        for key in ("rpc", "archive_rpc"):  # archive_rpc: EVM endpoints for past reads
            rpc = place.get(key)
            for url in rpc if isinstance(rpc, list) else [rpc]:
                if isinstance(url, str):
                    redact.register_url(url)
        headers = place.get("headers")
        if isinstance(headers, dict):
            for value in headers.values():
                if isinstance(value, str):
                    redact.register_secret(value)
