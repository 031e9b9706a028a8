"""The registry's JSON Schema (`xstock-audit registry schema`), for editors.

Generated from the models `load` validates with: `Registry`, with `chains` a union of the
installed chain families' `chain_model`s discriminated on `type`, and each token's
`deployments` a union of their `deployment_model`s. What the models accept in a looser form
than their Python types (durations like `36h`, tolerances like `5bps`, decimal strings) is
described as written in YAML. Descriptions come from the models' `#:` comments and
docstrings, and from `DESCRIPTIONS` below. The loader checks more than a schema can (ISIN
check digits, EIP-55 checksums, base58 keys, cross-references); the schema catches the shape
and typos as one types.
"""

from __future__ import annotations

import inspect
import re
from functools import reduce
from operator import or_
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
TITLE = "xstock-audit registry (version 1)"

DURATION: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*(\d+\s*[smhdwSMHDW]\s*)+$"},
        {"type": "integer", "minimum": 0},
    ],
    "description": "A duration: '36h', '1d12h', '90m', '3600s' (or a number of seconds).",
}
TOLERANCE: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "description": "'0.000001' (shares), '5bps' or '0.5%' of on-chain"},
        {"type": "integer", "minimum": 0},
        {
            "type": "object",
            "properties": {
                "units": {"type": ["string", "integer"], "description": "in shares"},
                "bps": {"type": ["string", "integer"], "description": "basis points"},
            },
            "additionalProperties": False,
        },
    ],
    "description": "In shares: an absolute decimal string, basis points ('5bps', '0.5%') of "
    "on-chain, or both ({units, bps}: the larger wins). Write decimals as quoted strings.",
}

#: descriptions the models' comments do not give, by (schema title, property)
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("Registry", "version"): "The registry format's version: 1.",
    ("Registry", "chains"): "The chains, by the name deployments use; `type` picks the family.",
    ("Registry", "custodians"): "Who holds the shares, and where their statements are.",
    ("Registry", "tokens"): "The tokens to audit, each with its deployments on the chains.",
    ("Registry", "policy"): "What fails the gate, and what the history flags.",
    ("Token", "symbol"): "Unique symbol, e.g. TSLAx.",
    ("Token", "isin"): "ISIN of the underlying security (check digit verified).",
    ("Token", "custodian"): "A custodian's name, or a list (their quantities are summed).",
    ("Token", "shares_per_token"): "Shares of the underlying per token (default 1).",
    ("Token", "deployments"): "Where the token lives: one entry per chain deployment.",
    ("Custodian", "format"): "auto (by content), native, csv, semt002, mt535, chainlink-por, "
    "http-json, or an installed custody format.",
    ("Custodian", "attestations"): "Globs of the statement files, relative to the registry.",
    ("Custodian", "max_age"): "A statement older than this is STALE.",
    ("ChainSettings", "rpc"): "JSON-RPC URLs, tried in order; write keys as ${VAR}.",
    ("ChainSettings", "headers"): "HTTP headers sent to every endpoint (secrets: ${VAR}).",
    ("EvmChain", "chain_id"): "Verified against eth_chainId before any read.",
    ("EvmChain", "confirmations"): "Read at head minus this many blocks.",
    ("EvmChain", "block"): "Read at this block tag (instead of confirmations).",
    ("SolanaChain", "genesis_hash"): "Verified against getGenesisHash when given.",
    ("SolanaChain", "commitment"): "The commitment every read uses.",
    ("EvmDeployment", "address"): "The token contract (EIP-55 checked when mixed-case).",
    ("EvmDeployment", "decimals"): "Verified against decimals() when given.",
    ("EvmDeployment", "exclude"): "Holders whose balances are not circulating.",
    ("SolanaDeployment", "mint"): "The SPL Token or Token-2022 mint.",
    ("SolanaDeployment", "decimals"): "Verified against the mint when given.",
    ("SolanaDeployment", "exclude_owners"): "Owners whose token accounts are not circulating.",
    ("SolanaDeployment", "exclude_accounts"): "Token accounts that are not circulating.",
    ("Policy", "fail_on"): "Statuses that fail the gate: under, stale, unverified, error, over.",
    ("Policy", "ignore"): "Tokens the gate does not fail on (still audited and shown).",
    ("IgnoreEntry", "until"): "An ISO date after which the ignore is an error.",
}

_COMMENT = re.compile(r"^\s*#:\s?(.*)$")
_FIELD = re.compile(r"^\s*(\w+)\s*:")


def comment_docs(model: type[BaseModel]) -> dict[str, str]:
    """The `#:` comments above each field in the source of `model` and its bases."""
    out: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines:
            if m := _COMMENT.match(line):
                pending.append(m.group(1).strip())
            elif (m := _FIELD.match(line)) and pending:
                out[m.group(1)] = " ".join(pending)
                pending = []
            elif line.strip():
                pending = []
    return out


class _Generate(GenerateJsonSchema):
    """Durations and decimals as written in YAML."""

    def timedelta_schema(self, schema: core_schema.TimedeltaSchema) -> JsonSchemaValue:
        return dict(DURATION)

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        return {
            "type": ["string", "integer"],
            "description": "A decimal: a quoted string or an integer.",
        }

    def date_schema(self, schema: core_schema.DateSchema) -> JsonSchemaValue:
        return {"type": "string", "format": "date"}


def schema_model() -> type[BaseModel]:
    """`Registry`, with the installed families' chain and deployment models in place."""
    from .. import plugins
    from ..chains.interface import family
    from .schema import Registry, Token

    families = [family(n) for n in plugins.names(plugins.CHAINS)]
    chain_union: Any = reduce(or_, [f.chain_model for f in families])
    dep_union: Any = reduce(or_, [f.deployment_model for f in families])
    literal = all(
        getattr(f.chain_model.model_fields["type"].annotation, "__origin__", None) is not None
        for f in families
    )
    chain_type: Any = (
        Annotated[chain_union, Field(discriminator="type")]
        if literal and len(families) > 1
        else chain_union
    )
    token: Any = create_model(
        "Token",
        __base__=Token,
        __doc__="One tokenized stock: its underlying, custodian(s) and deployments.",
        deployments=(Annotated[list[dep_union], Field(min_length=1)], ...),
    )
    return create_model(
        "Registry",
        __base__=Registry,
        __doc__="What to audit and where to read it.",
        chains=(Annotated[dict[str, chain_type], Field(min_length=1)], ...),
        tokens=(Annotated[list[token], Field(min_length=1)], ...),
    )


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model below `root`, by its schema title (its class name)."""
    seen: dict[str, type[BaseModel]] = {}

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in seen:
                return
            seen[tp.__name__] = tp
            for f in tp.model_fields.values():
                walk(f.annotation)
            return
        for arg in getattr(tp, "__args__", ()) or ():
            walk(arg)
        if hasattr(tp, "__metadata__"):
            walk(getattr(tp, "__origin__", None))

    walk(root)
    return seen


def registry_schema() -> dict[str, Any]:
    model = schema_model()
    schema = model.model_json_schema(schema_generator=_Generate)
    defs: dict[str, Any] = schema.get("$defs", {})
    for name in ("source", "base_dir"):  # set by the loader, never written
        schema["properties"].pop(name, None)
    defs["Tolerance"] = TOLERANCE
    for where in [schema, *defs.values()]:
        for prop in where.get("properties", {}).values():
            if prop.get("$ref") == "#/$defs/Tolerance":
                prop.pop("default", None)
    policy = defs.get("Policy", {}).get("properties", {})
    if "fail_on" in policy:
        statuses = {"enum": ["under", "stale", "unverified", "error", "over"]}
        policy["fail_on"] = {"anyOf": [{"type": "string"}, {"type": "array", "items": statuses}]}
    models = _models(model)
    for title, cls in models.items():
        target = schema if title == "Registry" else defs.get(title)
        if target is None:
            continue
        docs = comment_docs(cls)
        for prop_name, prop in target.get("properties", {}).items():
            text = DESCRIPTIONS.get((title, prop_name)) or docs.get(prop_name)
            for base in cls.__mro__[1:]:
                text = text or DESCRIPTIONS.get((base.__name__, prop_name))
            if text and "description" not in prop:
                prop["description"] = text
    schema.pop("title", None)
    return {"$schema": SCHEMA_URI, "title": TITLE, **schema}
