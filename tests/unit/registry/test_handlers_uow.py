"""The registry handler's cases (handler_cases.py) on the unit of work in memory: no infrastructure."""

from __future__ import annotations

import pytest

from tests.unit.registry.handler_cases import HandlerCases, MemoryBackend


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


class TestInMemory(HandlerCases):
    pass
