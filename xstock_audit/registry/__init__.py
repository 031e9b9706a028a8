"""The token registry (YAML, version 1): what to audit and where to read it.

- `schema`: the registry's own models (tokens, custodians, policy);
- `typed`: each chain and deployment validated by its chain family's models;
- `env`: `${VAR}` expansion and the secrets it brings in;
- `errors`: validation errors told with file, line and field;
- `crosscheck`: unique symbols and deployments, known custodians;
- `load`: all of it, in order.
"""

from __future__ import annotations

from ..chains.interface import ChainSettings as Chain
from ..chains.interface import DeploymentModel as Deployment
from ..settings import parse_duration
from ..yamlsrc import dotted
from .load import load
from .schema import DEFAULT_REGISTRY, Custodian, Policy, Registry, Token

__all__ = [
    "DEFAULT_REGISTRY",
    "Chain",
    "Custodian",
    "Deployment",
    "Policy",
    "Registry",
    "Token",
    "dotted",
    "load",
    "parse_duration",
]
