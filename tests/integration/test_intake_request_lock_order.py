"""Intake's read model locks a batch's request rows in request id order before updating them
(services/intake/uow.py `LOCK_IN_ORDER`): an `update ... from unnest` takes rows in its plan's order, and a
decision batch and an SLA batch (two consumers) updating the same rows in crossing orders deadlocked
(retried, as a transient error). Both batches go through the read model's handler on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.handlers import ReadModel
from services.intake.store import MIGRATIONS, SCHEMA, RequestView
from services.intake.uow import PgUnitOfWork
from shared.db import make_sessions
from shared.events import Event
from testkit.engines import migrated_engine
from testkit.events import NIK, T0, H, decided, sla_changed
from testkit.locks import Pause, crossing, free_while_waiting

REQUESTS = f"{SCHEMA}.requests"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


def read_model(engine: AsyncEngine, pause: Pause | None = None) -> ReadModel:
    """The read model's handler; with `pause`, its transaction stops after its first statement on the
    request rows."""
    sessions = make_sessions(engine)
    return ReadModel(sessions, uow=(lambda: pause.unit(PgUnitOfWork(sessions))) if pause else None)


async def two_emergencies(engine: AsyncEngine, heap_order: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Two emergencies' rows as the API leaves them (RECEIVED, SLA OK), inserted in `heap_order` ("low
    first" or "high first": the order a scan of the table meets them); their ids, the lower first."""
    low, high = sorted([uuid.uuid4(), uuid.uuid4()], key=lambda u: u.int)
    row = {"nik": NIK, "path": "EMERGENCY", "received_at": T0, "sla_state": "OK", "status": "RECEIVED", "reasons": []}
    async with engine.begin() as conn:
        for rid in (low, high) if heap_order == "low first" else (high, low):
            await conn.execute(insert(RequestView.__table__).values(request_id=rid, **row))  # type: ignore[attr-defined]
    return low, high


async def requests(engine: AsyncEngine) -> dict[uuid.UUID, tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"select request_id, status, sla_state from {REQUESTS}"))
        return {r.request_id: (r.status, r.sla_state) for r in rows}


async def test_two_batches_crossing_on_the_same_rows_both_commit(engine: AsyncEngine) -> None:
    low, high = await two_emergencies(engine, "low first")
    # The first batch: the higher request's decision, then the lower one's SLA state (two statements: the
    # higher row is updated before the lower).
    first: list[Event] = [decided(NIK, high, "APPROVED", T0 + 2 * H, path="REGULAR"), sla_changed(NIK, low, "WARNING")]
    # The second: SLA states of both, the lower first (its input's order and the table's: whatever the plan).
    second: list[Event] = [sla_changed(NIK, low, "BREACHED"), sla_changed(NIK, high, "WARNING")]
    pause = Pause(REQUESTS)
    ended = await crossing(
        engine, pause, read_model(engine, pause).on_events(first), read_model(engine).on_events(second)
    )
    assert ended == [None, None]  # without the order: one of them `deadlock detected`
    assert await requests(engine) == {low: ("RECEIVED", "BREACHED"), high: ("APPROVED", "WARNING")}


async def test_one_update_takes_its_rows_in_request_id_order_whatever_its_plan(engine: AsyncEngine) -> None:
    low, high = await two_emergencies(engine, "high first")  # a scan meets the higher row first
    # The higher first in the batch too: an update in either order (its input's or the table's) would lock the
    # higher row and then wait for the lower.
    states: list[Event] = [sla_changed(NIK, high, "WARNING"), sla_changed(NIK, low, "WARNING")]
    # Waiting for the lower row (another batch holds it), the batch holds no other: the higher one is free.
    batch = read_model(engine).on_events(states)
    assert await free_while_waiting(engine, REQUESTS, "request_id", held=low, free=high, batch=batch)
    assert await requests(engine) == {low: ("RECEIVED", "WARNING"), high: ("RECEIVED", "WARNING")}
