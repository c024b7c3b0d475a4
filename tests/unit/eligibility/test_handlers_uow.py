"""The eligibility handler cases (handler_cases.py) on the in-memory unit of work: every rule through the
handlers and the timer loop, without infrastructure. The same cases run on PostgreSQL in
tests/integration/test_eligibility_uow_pg.py."""

from __future__ import annotations

from typing import Any

import pytest

from services.eligibility.store_memory import MemoryStore, MemoryUnitOfWork
from tests.unit.eligibility.handler_cases import HandlerCases


class MemoryBackend:
    def __init__(self) -> None:
        self.store = MemoryStore()

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    async def outbox(self) -> list[dict[str, Any]]:
        return list(self.store.outbox)

    async def unfired_timers(self) -> set[tuple[str, str]]:
        return {(t["kind"], t["subject"]) for t in self.store.timers.values()}  # a fired one's row is gone

    async def processed(self) -> int:
        return len(self.store.processed)


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


class TestOnTheInMemoryUnitOfWork(HandlerCases):
    pass
