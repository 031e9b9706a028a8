"""A toy custody format (`.toy`): `account A`, `as_of T`, then `ISIN QUANTITY` lines."""

from __future__ import annotations

from datetime import datetime

from xstock_audit.amounts import parse_quantity
from xstock_audit.custody.interface import CustodyFormat, Holding, Statement
from xstock_audit.errors import InputError


class ToyFormat(CustodyFormat):
    name = "toy"
    suffixes = (".toy",)

    def parse(self, text: str, display: str) -> list[Statement]:
        head: dict[str, str] = {}
        holdings: list[Holding] = []
        for n, line in enumerate(text.splitlines(), 1):
            key, _, value = line.strip().partition(" ")
            if key in ("account", "as_of"):
                head[key] = value.strip()
            elif key:
                try:
                    holdings.append(Holding(key, parse_quantity(value), n, display))
                except ValueError as exc:
                    raise InputError(str(exc), file=display, line=n, field="quantity") from None
        if set(head) != {"account", "as_of"}:
            raise InputError("needs `account` and `as_of` lines", file=display, line=1)
        as_of = datetime.fromisoformat(head["as_of"].replace("Z", "+00:00"))
        return [Statement(head["account"], as_of, tuple(holdings), display, 1)]


FORMAT = ToyFormat()
