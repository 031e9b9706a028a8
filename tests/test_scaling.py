"""Linear, not quadratic: custody lookups and registry validation as the token count grows.

Custody lookups are counted (ISIN comparisons at N and 10 x N tokens: linear is at most 10
times more). Registry validation is timed at N and 10 x N (best of three) with the ratio
bounded at 30: linear gives about 10, quadratic about 100. No absolute time is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from solders.pubkey import Pubkey
from stdnum import isin as stdisin

from xstock_audit import registry
from xstock_audit.custody import Holding, Statement, build_book

pytestmark = pytest.mark.slow
RATIO = 30


def isin_for(i: int) -> str:
    base = f"XS{i:09d}"
    return base + str(stdisin.calc_check_digit(base))


def best_of(n: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return min(times)


class CountedIsin(str):
    """An ISIN that counts the comparisons made with it (a scan compares every holding)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        CountedIsin.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def custody_comparisons(n: int) -> int:
    isins = [CountedIsin(isin_for(i)) for i in range(n)]
    now = datetime(2026, 11, 22, tzinfo=UTC)
    holdings = tuple(Holding(x, Decimal(i), i, "f") for i, x in enumerate(isins))
    statements = [Statement("A", now, holdings, "f", 1), Statement("B", now, holdings[:10], "g", 1)]
    CountedIsin.compared = 0
    book = build_book("c", statements, ["f", "g"])
    for x in isins:
        # a lookup by an equal ISIN that is not the same object, as reconcile does
        assert len(book.positions(CountedIsin(str(x)))) == 2
    return CountedIsin.compared


def test_custody_lookups_are_linear_in_tokens() -> None:
    small, large = custody_comparisons(2_000), custody_comparisons(20_000)
    assert large <= 10 * small + 10, (small, large)


def registry_file(folder: Path, n: int) -> Path:
    lines = [
        "version: 1",
        "chains:",
        "  evm: {type: evm, chain_id: 1, rpc: ['http://127.0.0.1:1']}",
        "  sol: {type: solana, rpc: ['http://127.0.0.1:2']}",
        "custodians:",
        "  c: {attestations: ['x.json'], max_age: 1d}",
        "tokens:",
    ]
    owner = "S7vYFFWH6BjJyEsdrPQpqpYTqLTrPRK6KW3VwsJuRaS"
    for i in range(n):
        mint = str(Pubkey.new_unique())
        lines += [
            f"  - symbol: TK{i}",
            f"    isin: {isin_for(i)}",
            "    custodian: c",
            "    deployments:",
            f'      - {{chain: evm, address: "0x{i + 1:040x}", exclude: ["0x{0xE000:040x}"]}}',
            f"      - {{chain: sol, mint: {mint}, exclude_owners: [{owner}]}}",
        ]
    path = folder / f"r{n}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_registry_validation_is_linear_in_tokens(tmp_path: Path) -> None:
    small_file, large_file = registry_file(tmp_path, 300), registry_file(tmp_path, 3_000)
    small = best_of(3, lambda: registry.load(small_file, env={}))
    large = best_of(3, lambda: registry.load(large_file, env={}))
    assert large / small < RATIO, (small, large)
