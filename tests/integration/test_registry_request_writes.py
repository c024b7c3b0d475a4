"""How often a batch writes an emergency's request row, as PostgreSQL counts it in the batch's own
transaction (pg_stat_xact_user_tables, over the unit of work's save): a decision and the SLA state it
settles are one write, and an SLA state the row already holds is none."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry.handlers import RegistryHandlers
from services.registry.store import MIGRATIONS, SCHEMA
from services.registry.uow import PgUnitOfWork
from shared.db import make_sessions
from shared.events import ReactivationRequested
from testkit.engines import migrated_engine
from tests.unit.registry.handler_cases import DAY, PREFIX, T0, H, deactivated, decided, requested, sla

_WRITTEN = text(
    "select n_tup_ins + n_tup_upd from pg_stat_xact_user_tables where schemaname = :s and relname = 'requests'"
)


class CountingUnit(PgUnitOfWork):
    """Notes how many request rows the batch's save wrote (the counter's change over it: it also holds
    the backend's earlier transactions until they are flushed)."""

    written: list[int]

    async def save(self, changes):  # type: ignore[no-untyped-def]
        before = await self._count()
        new = await super().save(changes)
        self.written.append(await self._count() - before)
        return new

    async def _count(self) -> int:
        return int((await self.session.execute(_WRITTEN, {"s": SCHEMA})).scalar() or 0)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


async def test_an_emergency_decision_writes_its_request_row_once(engine: AsyncEngine) -> None:
    sessions, written = make_sessions(engine), []

    def unit() -> PgUnitOfWork:
        u = CountingUnit(sessions, PREFIX)
        u.written = written
        return u

    handlers = RegistryHandlers(sessions, PREFIX, lambda: None, clock=lambda: T0 + DAY, uow=unit)
    rid = uuid.uuid4()
    emergency = {"path": "EMERGENCY", "channel": "HOSPITAL", "sla_deadline": T0 + 25 * H}
    asked = ReactivationRequested.model_validate({**requested(rid).model_dump(), **emergency})
    await handlers.on_events([deactivated(), asked])
    await handlers.on_events([decided(rid, "APPROVED", T0 + 2 * H, path="EMERGENCY")])  # and its MET
    await handlers.on_events([sla(rid, "MET", T0 + 2 * H)])  # eligibility's MET: already on the row
    assert written == [1, 1, 0]
    async with engine.connect() as conn:
        row = (await conn.execute(text("select status, sla_state from registry.requests"))).one()
    assert tuple(row) == ("APPROVED", "MET")
