"""The token registry (YAML, version 1): loading, `${VAR}` expansion and strict validation.

The result is a tree of frozen pydantic models. Every error names the file, the line and
the field (``tokens[0].deployments[1].address``); unknown keys are errors.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from . import amounts, identifiers, redact
from .errors import InputError
from .yamlsrc import SourceMap, dotted
from .yamlsrc import load as load_yaml

DEFAULT_REGISTRY = "xstock-audit.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


_DURATION_RE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object, *, allow_zero: bool = False) -> timedelta:
    if isinstance(value, bool):
        raise ValueError("expected a duration like '36h', '2d', '90m'")
    if isinstance(value, int):
        if value < 0 or (value == 0 and not allow_zero):
            raise ValueError("duration must be positive")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError("expected a duration like '36h', '2d', '90m'")
    text = value.strip().lower()
    pos = 0
    seconds = 0
    for m in _DURATION_RE.finditer(text):
        if text[pos : m.start()].strip():
            break
        seconds += int(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or text[pos:].strip() or (seconds <= 0 and not (allow_zero and pos)):
        raise ValueError(f"not a duration: {value!r} (use e.g. '36h', '1d12h', '90m', '3600s')")
    return timedelta(seconds=seconds)


def _check_rpc_urls(urls: list[str]) -> list[str]:
    from urllib.parse import urlsplit

    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"RPC endpoint {redact.redact_url(url)!r} is not an http(s) URL with a host"
            )
    return urls


class _ChainBase(_Model):
    rpc: Annotated[list[str], Field(min_length=1)]
    headers: dict[str, str] = Field(default_factory=dict)
    batch_size: Annotated[StrictInt, Field(ge=1, le=1000)] = 100
    max_concurrency: Annotated[StrictInt, Field(ge=1, le=64)] = 4
    #: seconds to wait for a reply (read timeout) and to connect
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    connect_timeout: Annotated[float, Field(gt=0, le=120)] = 5.0
    #: retries of a failed request (429, 5xx, connection errors, rate-limit errors)
    retries: Annotated[StrictInt, Field(ge=0, le=10)] = 2
    #: read the same values from this many endpoints and require them to agree
    quorum: Annotated[StrictInt, Field(ge=1, le=10)] = 1
    #: a head (newest block or slot read) older than this means a stuck or syncing node
    max_head_age: timedelta = timedelta(minutes=30)

    @field_validator("max_head_age", mode="before")
    @classmethod
    def _head_age(cls, v: object) -> timedelta:
        return v if isinstance(v, timedelta) else parse_duration(v)

    @model_validator(mode="after")
    def _quorum_fits(self) -> _ChainBase:
        if self.quorum > len(self.rpc):
            raise ValueError(
                f"quorum {self.quorum} needs at least {self.quorum} rpc endpoints, "
                f"{len(self.rpc)} given"
            )
        return self

    @field_validator("rpc")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return _check_rpc_urls(v)


class EvmChain(_ChainBase):
    type: Literal["evm"]
    #: skip an endpoint whose head is this many blocks behind the others' median
    max_lag: Annotated[StrictInt, Field(ge=0)] = 10
    #: request body limit; anvil refuses bodies of 2 MiB, geth over 5 MiB
    max_body_bytes: Annotated[StrictInt, Field(ge=1024)] = 2_000_000
    chain_id: Annotated[StrictInt, Field(gt=0)]
    confirmations: Annotated[StrictInt, Field(ge=0)] | None = None
    block: Literal["latest", "safe", "finalized"] | None = None
    #: Multicall3 address (default: the canonical one), or false to use plain eth_calls
    multicall: str | Literal[False] = "0xcA11bde05977b3631167028862bE2a173976CA11"
    multicall_chunk: Annotated[StrictInt, Field(ge=1, le=10000)] = 500
    multicall_bytes: Annotated[StrictInt, Field(ge=1024, le=10_000_000)] = 128 * 1024

    @field_validator("multicall", mode="before")
    @classmethod
    def _multicall(cls, v: object) -> object:
        if v is False:
            return v
        if isinstance(v, str):
            return _evm_address(v)
        raise ValueError("multicall is a contract address or false")

    @model_validator(mode="after")
    def _one_pin(self) -> EvmChain:
        if self.confirmations is not None and self.block is not None:
            raise ValueError("give either `confirmations` or `block`, not both")
        return self


class SolanaChain(_ChainBase):
    type: Literal["solana"]
    #: skip an endpoint whose slot is this many slots behind the others' median
    max_lag: Annotated[StrictInt, Field(ge=0)] = 150
    #: request body limit; Agave's RPC refuses bodies over 50 KiB
    max_body_bytes: Annotated[StrictInt, Field(ge=1024)] = 51_200
    genesis_hash: str | None = None
    commitment: Literal["processed", "confirmed", "finalized"] = "finalized"

    @field_validator("genesis_hash")
    @classmethod
    def _genesis(cls, v: str | None) -> str | None:
        if v is not None:
            _pubkey_bytes(v, "genesis hash")
        return v


Chain = Annotated[EvmChain | SolanaChain, Field(discriminator="type")]


class Custodian(_Model):
    attestations: Annotated[list[str], Field(min_length=1)]
    max_age: timedelta

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, v: object) -> timedelta:
        return parse_duration(v)


@functools.lru_cache(maxsize=65536)  # treasuries repeat across a thousand tokens
def _evm_address(v: str) -> str:
    from eth_utils.address import is_checksum_address, to_checksum_address

    if not isinstance(v, str) or not re.fullmatch(r"0x[0-9a-fA-F]{40}", v):
        raise ValueError(f"{v!r} is not a 0x-prefixed 20-byte hex address")
    body = v[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(v):
        raise ValueError(
            f"{v} fails its EIP-55 checksum (mixed case); expected {to_checksum_address(v)} "
            "or all lower case"
        )
    return str(to_checksum_address(v))


@functools.lru_cache(maxsize=65536)
def _pubkey_bytes(v: str, what: str) -> bytes:
    from solders.pubkey import Pubkey

    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    if not isinstance(v, str) or not v or any(c not in alphabet for c in v):
        raise ValueError(f"{v!r} is not a base58 {what}")
    n = 0
    for c in v:
        n = n * 58 + alphabet.index(c)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    raw = b"\x00" * (len(v) - len(v.lstrip("1"))) + raw
    if len(raw) != 32:
        raise ValueError(f"{v!r} decodes to {len(raw)} bytes; a Solana {what} has 32")
    Pubkey.from_bytes(raw)
    return raw


def _pubkey(v: str) -> str:
    _pubkey_bytes(v, "public key")
    return v


class EvmDeployment(_Model):
    chain: str
    address: str
    decimals: Annotated[StrictInt, Field(ge=0, le=77)] | None = None
    exclude: list[str] = Field(default_factory=list)

    @field_validator("address")
    @classmethod
    def _addr(cls, v: str) -> str:
        return _evm_address(v)

    @field_validator("exclude")
    @classmethod
    def _excl(cls, v: list[str]) -> list[str]:
        out = [_evm_address(a) for a in v]
        if len(set(out)) != len(out):
            raise ValueError("an excluded address is listed twice")
        return out

    @property
    def key(self) -> str:
        return self.address


class SolanaDeployment(_Model):
    chain: str
    mint: str
    decimals: Annotated[StrictInt, Field(ge=0, le=255)] | None = None
    exclude_owners: list[str] = Field(default_factory=list)
    exclude_accounts: list[str] = Field(default_factory=list)

    @field_validator("mint")
    @classmethod
    def _mint(cls, v: str) -> str:
        return _pubkey(v)

    @field_validator("exclude_owners", "exclude_accounts")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        out = [_pubkey(k) for k in v]
        if len(set(out)) != len(out):
            raise ValueError("a key is listed twice")
        return out

    @property
    def address(self) -> str:
        return self.mint

    @property
    def key(self) -> str:
        return self.mint


def _deployment_kind(v: Any) -> str | None:
    if isinstance(v, Mapping):
        if "address" in v:
            return "evm"
        if "mint" in v:
            return "solana"
    return None


Deployment = Annotated[
    Annotated[EvmDeployment, Tag("evm")] | Annotated[SolanaDeployment, Tag("solana")],
    Discriminator(
        _deployment_kind,
        custom_error_type="deployment_kind",
        custom_error_message="a deployment needs `address` (EVM) or `mint` (Solana)",
    ),
]


class Token(_Model):
    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    isin: str
    custodian: str
    tolerance: amounts.Tolerance = amounts.Tolerance()
    shares_per_token: Decimal = Decimal(1)
    deployments: Annotated[list[Deployment], Field(min_length=1)]

    @field_validator("isin")
    @classmethod
    def _isin(cls, v: str) -> str:
        return identifiers.isin(v)

    @field_validator("tolerance", mode="before")
    @classmethod
    def _tol(cls, v: object) -> amounts.Tolerance:
        if isinstance(v, amounts.Tolerance):
            return v
        return amounts.parse_tolerance(v)

    @field_validator("shares_per_token", mode="before")
    @classmethod
    def _spt(cls, v: object) -> Decimal:
        if isinstance(v, Decimal):
            return v
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise ValueError("write shares_per_token as a quoted decimal string or an integer")
        d = amounts.parse_quantity(str(v))
        if d <= 0:
            raise ValueError("shares_per_token must be positive")
        return d


class Policy(_Model):
    #: the allowance for clocks: a statement or block dated later than the run's start plus
    #: this is in the future
    clock_skew: timedelta = timedelta(minutes=5)

    @field_validator("clock_skew", mode="before")
    @classmethod
    def _skew(cls, v: object) -> timedelta:
        return v if isinstance(v, timedelta) else parse_duration(v, allow_zero=True)


class Registry(_Model):
    version: Literal[1]
    chains: Annotated[dict[str, Chain], Field(min_length=1)]
    custodians: Annotated[dict[str, Custodian], Field(min_length=1)]
    tokens: Annotated[list[Token], Field(min_length=1)]
    policy: Policy = Policy()

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("version must be the number 1")
        return v

    #: Where the registry was read from (attestation globs are relative to its folder).
    source: str = ""
    base_dir: str = ""


# --- environment expansion -------------------------------------------------------------

_VAR_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")


def expand_env(
    data: Any, smap: SourceMap, env: Mapping[str, str], path: tuple[str | int, ...] = ()
) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string; ``$$`` is a literal ``$``."""
    if isinstance(data, dict):
        return {k: expand_env(v, smap, env, (*path, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, smap, env, (*path, i)) for i, v in enumerate(data)]
    if not isinstance(data, str) or "$" not in data:
        return data
    secret_place = bool(path) and path[0] == "chains"

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

    return _VAR_RE.sub(repl, data)


# --- loading ---------------------------------------------------------------------------


_UNION_TAGS = {"evm", "solana"}


def _resolve_loc(data: Any, loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Keep the parts of a pydantic error location that exist in the data (drop union tags)."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            out.append(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            out.append(part)
        elif part in _UNION_TAGS:
            continue
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


_DEPLOYMENT_KEYS = set(EvmDeployment.model_fields) | set(SolanaDeployment.model_fields)


def _kind_errors(data: Any, path: tuple[str | int, ...], smap: SourceMap) -> list[InputError]:
    """A deployment with neither `address` nor `mint`: name its unknown keys (typos)."""
    import difflib

    node = data
    for part in path:
        node = node[part]
    if not isinstance(node, dict):
        return []
    out = []
    for key in node:
        if key not in _DEPLOYMENT_KEYS:
            close = difflib.get_close_matches(str(key), sorted(_DEPLOYMENT_KEYS), n=1)
            hint = f"did you mean `{close[0]}`?" if close else None
            out.append(smap.error((*path, key), "unknown key", hint=hint))
    return out


def _validation_errors(exc: ValidationError, data: Any, smap: SourceMap) -> InputError:
    from .errors import InputErrors

    items: list[InputError] = []
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    for err in exc.errors():
        path = _resolve_loc(data, err["loc"])
        if err["type"] == "deployment_kind":
            found = _kind_errors(data, path, smap)
            if found:
                items.extend(found)
                continue
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = (*path, "type")
        msg = _message(err)
        if (path, msg) in seen:
            continue
        seen.add((path, msg))
        items.append(smap.error(path, msg))
    return items[0] if len(items) == 1 else InputErrors(items)


def _cross_check(reg: Registry, smap: SourceMap) -> None:
    from .errors import InputErrors

    errors: list[InputError] = []
    symbols: dict[str, int] = {}
    places: dict[tuple[str, str], tuple[int, int]] = {}
    for i, tok in enumerate(reg.tokens):
        if tok.symbol in symbols:
            errors.append(
                smap.error(
                    ("tokens", i, "symbol"),
                    f"duplicate symbol {tok.symbol!r} (also tokens[{symbols[tok.symbol]}])",
                )
            )
        symbols.setdefault(tok.symbol, i)
        if tok.custodian not in reg.custodians:
            errors.append(
                smap.error(
                    ("tokens", i, "custodian"),
                    f"unknown custodian {tok.custodian!r}; defined: "
                    + ", ".join(sorted(reg.custodians)),
                )
            )
        for j, dep in enumerate(tok.deployments):
            chain = reg.chains.get(dep.chain)
            where = ("tokens", i, "deployments", j, "chain")
            if chain is None:
                errors.append(
                    smap.error(
                        where,
                        f"unknown chain {dep.chain!r}; defined: " + ", ".join(sorted(reg.chains)),
                    )
                )
                continue
            want = "evm" if isinstance(dep, EvmDeployment) else "solana"
            if chain.type != want:
                errors.append(
                    smap.error(
                        where,
                        f"chain {dep.chain!r} is type {chain.type} but this deployment is "
                        f"{want} ({'address' if want == 'evm' else 'mint'})",
                    )
                )
            k = (dep.chain, dep.key)
            if k in places:
                ti, dj = places[k]
                errors.append(
                    smap.error(
                        ("tokens", i, "deployments", j),
                        f"{dep.chain} {dep.key} is already listed at "
                        f"tokens[{ti}].deployments[{dj}]",
                    )
                )
            places.setdefault(k, (i, j))
    if errors:
        raise errors[0] if len(errors) == 1 else InputErrors(errors)


def _register_secrets(chains: Any) -> None:
    """Register RPC URLs and header values as secrets, whatever shape the input has."""
    if not isinstance(chains, dict):
        return
    for chain in chains.values():
        if not isinstance(chain, dict):
            continue
        rpc = chain.get("rpc")
        for url in rpc if isinstance(rpc, list) else [rpc]:
            if isinstance(url, str):
                redact.register_url(url)
        headers = chain.get("headers")
        if isinstance(headers, dict):
            for value in headers.values():
                if isinstance(value, str):
                    redact.register_secret(value)


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Registry:
    """Load and validate a registry file. Raises InputError (exit code 2) on any problem."""
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
    _register_secrets(data.get("chains"))
    data = {**data, "source": display, "base_dir": str(p.resolve().parent)}
    try:
        reg = Registry.model_validate(data)
    except ValidationError as exc:
        raise _validation_errors(exc, data, smap) from None
    _cross_check(reg, smap)
    return reg


__all__ = [
    "DEFAULT_REGISTRY",
    "Chain",
    "Custodian",
    "Deployment",
    "EvmChain",
    "EvmDeployment",
    "Policy",
    "Registry",
    "SolanaChain",
    "SolanaDeployment",
    "Token",
    "dotted",
    "load",
    "parse_duration",
]
