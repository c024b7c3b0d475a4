"""Intake's read-model cases (read_model_cases.py) against the unit of work in memory."""

from __future__ import annotations

import uuid

import pytest

from services.intake.uow import ReadModelUnitOfWork
from services.intake.uow_memory import AppealState, MemoryReadModel, MemoryUnitOfWork, RequestState
from tests.unit.intake.read_model_cases import ReadModelCases


class InMemory:
    def __init__(self) -> None:
        self.store = MemoryReadModel()

    def uow(self) -> ReadModelUnitOfWork:
        return MemoryUnitOfWork(self.store)

    async def given_request(self, request_id: uuid.UUID, sla_state: str | None = None) -> None:
        self.store.requests[request_id] = RequestState(sla_state=sla_state)

    async def request(self, request_id: uuid.UUID) -> RequestState | None:
        return self.store.requests.get(request_id)

    async def appeal(self, appeal_id: uuid.UUID) -> AppealState | None:
        return self.store.appeals.get(appeal_id)

    async def version(self, request_id: uuid.UUID) -> object:
        return self.store.versions.get(request_id, 0)

    async def inbox_rows(self) -> int:
        return 0  # the memory store has no inbox at all


class TestInMemory(ReadModelCases):
    @pytest.fixture
    def backend(self) -> InMemory:
        return InMemory()
