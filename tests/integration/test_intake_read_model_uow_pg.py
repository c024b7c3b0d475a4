"""Intake's read-model cases (tests/unit/intake/read_model_cases.py) against the unit of work on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.store import MIGRATIONS, SCHEMA, AppealView, ProcessedEvent, RequestView
from services.intake.uow import PgUnitOfWork, ReadModelUnitOfWork
from services.intake.uow_memory import AppealState, RequestState
from shared.db import make_sessions
from testkit.engines import migrated_engine
from tests.unit.intake.read_model_cases import NIK, T0, ReadModelCases

R, A, PE = RequestView.__table__, AppealView.__table__, ProcessedEvent.__table__


class OnPostgres:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.sessions = engine, make_sessions(engine)

    def uow(self) -> ReadModelUnitOfWork:
        return PgUnitOfWork(self.sessions)

    async def given_request(self, request_id: uuid.UUID, sla_state: str | None = None) -> None:
        row = {"request_id": request_id, "nik": NIK, "path": "EMERGENCY", "received_at": T0, "sla_state": sla_state}
        async with self.engine.begin() as conn:
            await conn.execute(insert(R).values(status="RECEIVED", reasons=[], **row))

    async def request(self, request_id: uuid.UUID) -> RequestState | None:
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(R).where(R.c.request_id == request_id))).one_or_none()
        return RequestState(r.status, tuple(r.reasons), r.decided_at, r.last_event_at, r.sla_state) if r else None

    async def appeal(self, appeal_id: uuid.UUID) -> AppealState | None:
        async with self.engine.connect() as conn:
            a = (await conn.execute(select(A).where(A.c.appeal_id == appeal_id))).one_or_none()
        return AppealState(a.request_id, a.status, tuple(a.reasons), a.decided_at, a.last_event_at) if a else None

    async def version(self, request_id: uuid.UUID) -> object:
        """The row version's transaction id (xmin): any update, of the same values too, changes it."""
        async with self.engine.connect() as conn:
            return await conn.scalar(select(literal_column("xmin::text")).where(R.c.request_id == request_id))

    async def inbox_rows(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(PE)) or 0)


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[OnPostgres]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield OnPostgres(engine)


class TestOnPostgres(ReadModelCases):
    pass
