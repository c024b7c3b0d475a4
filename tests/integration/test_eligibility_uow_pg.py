"""The eligibility handler cases (tests/unit/eligibility/handler_cases.py) on PostgreSQL: the unit of work
the service runs with (store.PgUnitOfWork), on a freshly migrated database per case. The same cases run
in memory in tests/unit/eligibility/test_handlers_uow.py; a difference between the two fails here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from services.eligibility.store import MIGRATIONS, PROCESSED, SCHEMA, PgUnitOfWork, T, outbox
from shared.db import make_sessions, migrate
from tests.unit.eligibility.handler_cases import HandlerCases


class PgBackend:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.sessions = engine, make_sessions(engine)

    def uow(self) -> PgUnitOfWork:
        return PgUnitOfWork(self.sessions)

    async def outbox(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(select(outbox).order_by(outbox.c.id))).mappings()]

    async def unfired_timers(self) -> set[tuple[str, str]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(T.c.kind, T.c.subject).where(T.c.fired_at.is_(None)))
            return {(kind, subject) for kind, subject in rows.all()}

    async def processed(self) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(PROCESSED))).scalar_one()


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[PgBackend]:
    engine = create_async_engine(database_url)
    await migrate(engine, MIGRATIONS, SCHEMA)
    yield PgBackend(engine)
    await engine.dispose()


class TestOnPostgreSQL(HandlerCases):
    pass
