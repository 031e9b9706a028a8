"""Shared fixtures.

Local nodes, one fixture per variant (which node, and how long it lives):

    evm_node            anvil and py-evm (each test runs on both), one node per test module
    pyevm_node          the package's py-evm node only, one per test module
    solana_node         LiteSVM, one node per test module
    fresh_evm_node      anvil and py-evm, a new node for each test
    fresh_solana_node   LiteSVM, a new node for each test

A module's node is shared by its tests, one after the other: each deploys its own contracts or
mints and reads only those back. A fresh node is for tests that move the clock, take
snapshots or count from an empty chain.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.evm import NODE_KINDS, EvmNode, EvmTestNode, NodeKind, make_node

from xstock_audit.sandbox.solana_node import SolanaNode

# ---------------------------------------------------------------------- local nodes


@pytest.fixture(scope="module", params=NODE_KINDS)
def evm_node(request: pytest.FixtureRequest) -> Iterator[EvmTestNode]:
    """One anvil and one py-evm node per module, shared by its tests."""
    kind: NodeKind = request.param
    with make_node(kind) as node:
        yield node


@pytest.fixture(scope="module")
def pyevm_node() -> Iterator[EvmNode]:
    """One py-evm node (the package's own, with its in-process helpers) per module."""
    with EvmNode() as node:
        yield node


@pytest.fixture(scope="module")
def solana_node() -> Iterator[SolanaNode]:
    """One LiteSVM node per module, shared by its tests."""
    with SolanaNode() as node:
        yield node


@pytest.fixture(params=NODE_KINDS)
def fresh_evm_node(request: pytest.FixtureRequest) -> Iterator[EvmTestNode]:
    """A new anvil or py-evm node for this test alone (each test runs on both)."""
    kind: NodeKind = request.param
    with make_node(kind) as node:
        yield node


@pytest.fixture
def fresh_solana_node() -> Iterator[SolanaNode]:
    """A new LiteSVM node for this test alone."""
    with SolanaNode() as node:
        yield node
