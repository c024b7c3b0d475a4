"""The eligibility handler cases (tests/unit/eligibility/handler_cases.py) on PostgreSQL: the unit of work
the service runs with (store.PgUnitOfWork), on a freshly migrated database per case. The same cases run
in memory in tests/unit/eligibility/test_handlers_uow.py; a difference between the two fails here."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.eligibility.domain.outgoing import decision_event
from services.eligibility.domain.records import RequestRecord
from services.eligibility.domain.rules import Decision
from services.eligibility.store import (
    _EMPTY_FACTS,
    MIGRATIONS,
    MOST_WAITING,
    PROCESSED,
    SCHEMA,
    F,
    PgUnitOfWork,
    R,
    T,
    _request_row,
    outbox,
    outbox_rows,
)
from shared.db import bulk_insert, make_sessions
from shared.enums import Outcome
from shared.events import ReactivationDecided
from shared.topics import DECISIONS
from testkit.engines import migrated_engine
from testkit.polling import eventually
from tests.unit.eligibility.handler_cases import (
    DEACTIVATED_ON,
    NIK,
    OTHER,
    T0,
    HandlerCases,
    World,
    deactivated,
    emergency,
)


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
            rows = await conn.execute(select(T.c.kind, T.c.subject))  # a fired one's row is gone
            return {(kind, subject) for kind, subject in rows.all()}

    async def processed(self) -> int:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(PROCESSED))).scalar_one()


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[PgBackend]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield PgBackend(engine)


class TestOnPostgreSQL(HandlerCases):
    pass


async def test_a_new_persons_first_fact_meeting_their_first_request_is_decided_again_on_what_that_committed(
    backend: PgBackend,
) -> None:
    """The facts handler inserts a person it has not seen in one statement, no empty row first. When their
    first request created the row meanwhile (uncommitted: the insert waits for it), the insert finds it
    taken and the batch runs again, under the lock, and sees the request: approved, not left PENDING."""
    world = World(backend)
    request = emergency()
    pending = RequestRecord(request, "PENDING", ("NOT_DEACTIVATED",), T0, None)
    async with backend.engine.connect() as conn:
        async with conn.begin():  # plays the request handler's transaction for a person never seen
            await bulk_insert(conn, F, [{**_EMPTY_FACTS, "nik": NIK}])
            facts = asyncio.create_task(world.handlers.on_participant_events([deactivated()]))
            await eventually(lambda: _someone_waits_for_a_lock(backend.engine))
            await bulk_insert(conn, R, [_request_row(pending)])
        await facts
    outcomes = [d.outcome for d in await world.decisions(request)]
    assert outcomes == [Outcome.APPROVED]
    assert (await world.person(NIK))[0].deactivated_on == DEACTIVATED_ON


async def _someone_waits_for_a_lock(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        waiting = await conn.scalar(
            text(
                "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


async def test_an_outbox_far_behind_counts_as_waiting_for_everyone(backend: PgBackend) -> None:
    """The emergency path reads the waiting rows without an index (bundles: a handful while the relay keeps
    up); after a long Kafka outage it reads no more than MOST_WAITING of them, and answers "waiting": the
    emergency goes out in order, by the relay, instead of an ever longer scan in every transaction."""
    event = _decided(OTHER)
    rows = outbox_rows("t.", [(DECISIONS, event, None)])
    async with backend.uow() as uow:
        await uow.add_to_outbox(rows)
        assert await uow.waiting_in_outbox({OTHER}) and not await uow.waiting_in_outbox({NIK})
    many = [{**row, "event_id": uuid.uuid4()} for row in rows for _ in range(MOST_WAITING)]
    async with backend.uow() as uow:
        await uow.add_to_outbox(many)
        assert await uow.waiting_in_outbox({NIK})


def _decided(nik: str) -> ReactivationDecided:
    return decision_event(emergency(nik=nik), Decision(Outcome.PENDING, (), (), "test", None), T0)
