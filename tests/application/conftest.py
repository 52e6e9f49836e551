"""The application wired over in-memory adapters: a repository, a request gate, an executor.

Each test gets fresh ones; the executor is the real ``RequestExecutor``
(core/service/execution.py) with a router whose one channel is a ``MemoryChannel``.
"""

from __future__ import annotations

import pytest

from core.service.execution import ExecutorSettings, RequestExecutor
from router import Router
from tests.support.memory import MemoryChannel, MemoryRequestGate
from tests.support.memory_repository import MemoryRepository


@pytest.fixture
def repository() -> MemoryRepository:
    """An empty payment repository."""
    return MemoryRepository()


@pytest.fixture
def gate() -> MemoryRequestGate:
    """A request gate with no marker yet."""
    return MemoryRequestGate()


@pytest.fixture
def channel() -> MemoryChannel:
    """The router's one channel, answering SUCCEEDED."""
    return MemoryChannel()


@pytest.fixture
def executor(
    repository: MemoryRepository, gate: MemoryRequestGate, channel: MemoryChannel
) -> RequestExecutor:
    """The request executor over the in-memory repository, gate and channel."""
    return RequestExecutor(
        repository=repository,
        gate=gate,
        router=Router([channel], timeout_s=1.0),
        settings=ExecutorSettings(),
    )
