"""The eligibility handler cases (handler_cases.py) on the in-memory unit of work: every rule through the
handlers and the timer loop, without infrastructure. The same cases run on PostgreSQL in
tests/integration/test_eligibility_uow_pg.py."""

from __future__ import annotations

import pytest

from tests.unit.eligibility.handler_cases import HandlerCases, MemoryBackend


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


class TestOnTheInMemoryUnitOfWork(HandlerCases):
    pass
