"""Shared fixtures and the `slow` marker.

Local nodes, one fixture per variant (which node, and how long it lives):

    evm_node            anvil and py-evm (each test runs on both), one node per test module
    pyevm_node          the package's py-evm node only, one per test module
    solana_node         LiteSVM, one node per test module
    fresh_evm_node      anvil and py-evm, a new node for each test
    fresh_solana_node   LiteSVM, a new node for each test

A module's node is shared by its tests, one after the other: each deploys its own contracts or
mints and reads only those back. A fresh node is for tests that move the clock, take
snapshots or count from an empty chain.

`slow` marks a test that starts a node (anvil, py-evm, LiteSVM), a proxy or a process (the
CLI), or sleeps; `python -m pytest -m "not slow"` runs only the pure tests. A test using one
of the node fixtures above is marked here; a test or module that starts its own nodes or
processes says `pytest.mark.slow` itself. An unmarked test that starts a process or binds or
connects a socket fails with a message saying so, which keeps the split honest.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from support.evm import NODE_KINDS, EvmNode, EvmTestNode, NodeKind, make_node

from xstock_audit.sandbox.solana import SolanaNode

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


NODE_FIXTURES = frozenset(
    {"evm_node", "pyevm_node", "solana_node", "fresh_evm_node", "fresh_solana_node"}
)

# ---------------------------------------------------------------------- the slow marker


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `slow` every test that uses a node fixture, directly or through another fixture."""
    for item in items:
        if NODE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _refuse(item: pytest.Item, what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"{item.nodeid} {what} but is not marked slow: mark it `@pytest.mark.slow` "
            "(see tests/conftest.py) so that `pytest -m 'not slow'` stays pure"
        )

    return refuse


@contextmanager
def _pure(item: pytest.Item) -> Iterator[None]:
    """Around the set-up and the run of a test not marked slow: starting a process, binding or
    connecting a socket raises instead."""
    if item.get_closest_marker("slow") is not None:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", _refuse(item, "starts a process"))
        patch.setattr(socket.socket, "bind", _refuse(item, "binds a socket"))
        patch.setattr(socket.socket, "connect", _refuse(item, "connects a socket"))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    with _pure(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    with _pure(item):
        return (yield)
