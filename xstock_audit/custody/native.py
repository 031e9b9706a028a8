"""The native attestation format (JSON or YAML):

    {"custodian": "acme-custody", "account": "SAFE-0001", "as_of": "2026-11-20T23:59:59Z",
     "holdings": [{"isin": "US88160R1014", "quantity": "1523.000000"}]}

A file may also hold a list of such statements.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import InputError
from ..yamlsrc import SourceMap, dotted, loads
from . import fields
from .interface import CustodyFormat, Holding, Statement

TOP_KEYS = {"custodian", "account", "as_of", "holdings"}
HOLDING_KEYS = {"isin", "quantity"}
#: the start of a JSON object or list, or a YAML line with one of the top keys
_JSON_START = re.compile(r"\s*(\[|\{\s*(\"|\}))")
_YAML_KEY = re.compile(r"(- +)?(custodian|account|as_of|holdings) *:(\s|$)")


def _field(
    smap: SourceMap, path: tuple[str | int, ...], value: Any, parse: Callable[[Any], Any]
) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise smap.error(path, str(exc)) from None


def _statement(doc: Any, smap: SourceMap, base: tuple[str | int, ...]) -> Statement:
    if not isinstance(doc, dict):
        raise smap.error(base, "an attestation must be a mapping with account, as_of, holdings")
    for key in doc:
        if key not in TOP_KEYS:
            raise smap.error((*base, key), f"unknown key {key!r}; expected {sorted(TOP_KEYS)}")
    for key in ("account", "as_of", "holdings"):
        if key not in doc:
            raise smap.error((*base, key), "required key is missing")
    custodian = doc.get("custodian")
    if custodian is not None and not isinstance(custodian, str):
        raise smap.error((*base, "custodian"), "custodian must be a string")
    account = _field(smap, (*base, "account"), doc["account"], fields.account)
    as_of = _field(smap, (*base, "as_of"), doc["as_of"], fields.timestamp)
    items = doc["holdings"]
    if not isinstance(items, list):
        raise smap.error((*base, "holdings"), "holdings must be a list")
    holdings = []
    for i, item in enumerate(items):
        p = (*base, "holdings", i)
        if not isinstance(item, dict):
            raise smap.error(p, "a holding must be a mapping with isin and quantity")
        for key in item:
            if key not in HOLDING_KEYS:
                raise smap.error((*p, key), f"unknown key {key!r}; expected isin, quantity")
        for key in ("isin", "quantity"):
            if key not in item:
                raise smap.error((*p, key), "required key is missing")
        holdings.append(
            Holding(
                isin=_field(smap, (*p, "isin"), item["isin"], fields.isin),
                quantity=_field(smap, (*p, "quantity"), item["quantity"], fields.quantity),
                file=smap.file,
                locate=partial(smap.line, p),
            )
        )
    return Statement(
        account=account,
        as_of=as_of,
        holdings=tuple(holdings),
        file=smap.file,
        line=smap.line(base),
        custodian=custodian,
        custodian_line=smap.line((*base, "custodian")) if custodian is not None else None,
        custodian_field=dotted((*base, "custodian")),
    )


class NativeFormat(CustodyFormat):
    name = "native"
    suffixes = (".json", ".yaml", ".yml")

    def detect(self, text: str) -> bool:
        head = text[:4096].lstrip("\ufeff")
        if _JSON_START.match(head):
            return True
        for line in head.splitlines():
            if line.strip() and not line.lstrip().startswith("#") and line.strip() != "---":
                return _YAML_KEY.match(line) is not None
        return False

    def parse(self, text: str, display: str) -> list[Statement]:
        data, smap = loads(text, display)
        if isinstance(data, list):
            if not data:
                raise InputError("no attestation in file (empty list)", file=display, line=1)
            return [_statement(doc, smap, (i,)) for i, doc in enumerate(data)]
        return [_statement(data, smap, ())]


FORMAT = NativeFormat()
