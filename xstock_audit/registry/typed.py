"""Each chain and each deployment validated by the chain family its `type` names.

A chain's block is validated by its family's `chain_model`; a deployment by the
`deployment_model` of the family of the chain it names. Unknown types and chains, and a
deployment written for another family (a `mint` under an EVM chain), are errors naming
the line. The data comes back with typed models in place of those mappings; one that is
in error is replaced by an unvalidated placeholder, so that the schema can go on to find
the other errors of the file without repeating these.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import ValidationError

from .. import plugins
from ..chains.interface import ChainFamily, ChainSettings, DeploymentModel, family
from ..errors import InputError
from ..yamlsrc import SourceMap
from .errors import translate


def _family(kind: object) -> ChainFamily | None:
    if not isinstance(kind, str):
        return None
    try:
        return family(kind)
    except plugins.UnknownPlugin:
        return None


@functools.cache
def _keys(fam: ChainFamily) -> tuple[frozenset[str], frozenset[str]]:
    """A family's deployment fields: (required, all)."""
    fields = fam.deployment_model.model_fields
    return frozenset(k for k, f in fields.items() if f.is_required()), frozenset(fields)


def _other_family(raw: dict[str, Any], own: ChainFamily) -> ChainFamily | None:
    """The family whose deployment fields this deployment has, when it lacks its own
    family's required ones (e.g. a Solana `mint` under an EVM chain)."""
    required, fields = _keys(own)
    if required <= raw.keys():
        return None
    extra = raw.keys() - fields
    for name in plugins.names(plugins.CHAINS):
        other = _family(name)
        if other is None or other is own:
            continue
        needed, theirs = _keys(other)
        if extra and extra <= theirs and needed <= raw.keys():
            return other
    return None


@functools.cache
def _placeholder(chain: str) -> DeploymentModel:
    return DeploymentModel.model_construct(chain=chain)


def typed(data: dict[str, Any], smap: SourceMap) -> tuple[dict[str, Any], list[InputError]]:
    errors: list[InputError] = []
    families: dict[str, ChainFamily] = {}
    chains = data.get("chains")
    if isinstance(chains, dict):
        out: dict[str, Any] = {}
        for name, raw in chains.items():
            if not isinstance(raw, dict):
                out[name] = raw
                continue
            out[name] = ChainSettings.model_construct(type=str(raw.get("type")), rpc=["-"])
            path: tuple[str | int, ...] = ("chains", name)
            kind = raw.get("type")
            fam = _family(kind)
            if kind is None:
                errors.append(smap.error((*path, "type"), "required key is missing"))
                continue
            if fam is None:
                errors.append(
                    smap.error(
                        (*path, "type"),
                        f"unknown chain type {kind!r}; installed: "
                        + ", ".join(plugins.names(plugins.CHAINS)),
                    )
                )
                continue
            try:
                out[name] = fam.chain_model.model_validate(raw)
            except ValidationError as exc:
                errors.extend(translate(exc, data, smap, path, fam.chain_model))
                continue
            families[name] = fam
        data = {**data, "chains": out}

    tokens = data.get("tokens")
    if not isinstance(tokens, list):
        return data, errors
    new_tokens: list[Any] = []
    for i, token in enumerate(tokens):
        deployments = token.get("deployments") if isinstance(token, dict) else None
        if not isinstance(deployments, list):
            new_tokens.append(token)
            continue
        typed_deps: list[Any] = []
        for j, raw in enumerate(deployments):
            path = ("tokens", i, "deployments", j)
            if not isinstance(raw, dict) or not isinstance(raw.get("chain"), str):
                typed_deps.append(raw)
                continue  # the schema says what is wrong
            name = raw["chain"]
            # an unvalidated placeholder until the deployment validates
            typed_deps.append(_placeholder(name))
            fam = families.get(name)
            if fam is None:
                if isinstance(chains, dict) and name not in chains:
                    errors.append(
                        smap.error(
                            (*path, "chain"),
                            f"unknown chain {name!r}; defined: " + ", ".join(sorted(chains)),
                        )
                    )
                continue  # a chain with errors of its own: those are reported
            other = _other_family(raw, fam)
            if other is not None:
                keys = sorted(raw.keys() - fam.deployment_model.model_fields.keys())
                errors.append(
                    smap.error(
                        (*path, "chain"),
                        f"chain {name!r} is type {fam.name} but this deployment is "
                        f"{other.name} ({', '.join(keys)})",
                    )
                )
                continue
            try:
                typed_deps[-1] = fam.deployment_model.model_validate(raw)
            except ValidationError as exc:
                errors.extend(translate(exc, data, smap, path, fam.deployment_model))
        new_tokens.append({**token, "deployments": typed_deps})
    return {**data, "tokens": new_tokens}, errors
