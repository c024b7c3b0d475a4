"""What eligibility's unit of work writes for people and requests on PostgreSQL, beyond the handler cases:
save_people updates only the columns that differ from the rows it read (a row left as read is not written
at all), yet every row reads back as the domain's facts; new people's rows send only what is not blank and
read back as their facts too; add_requests sends a batch's common decision moment
once and keeps a row's own where it differs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.eligibility.domain.records import RequestRecord
from services.eligibility.domain.rules import Facts
from services.eligibility.store import MIGRATIONS, SCHEMA, NewPersonRace, PgUnitOfWork
from shared.db import make_sessions
from shared.events import ReactivationRequested
from testkit.engines import migrated_engine

T0 = dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC)
NIKS = [f"36740157089000{i:02d}" for i in range(1, 6)]


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


async def _rows(engine: AsyncEngine) -> dict[str, tuple[object, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"select nik, xmin::text, * from {SCHEMA}.facts order by nik"))
        return {row[0]: tuple(row[1:]) for row in rows.all()}


async def test_save_people_writes_the_columns_that_changed_and_rows_read_back_as_the_facts(
    engine: AsyncEngine,
) -> None:
    sessions = make_sessions(engine)
    async with PgUnitOfWork(sessions) as uow:  # five people on record, deactivated, two with a number
        people = await uow.lock_people(set(NIKS))
        await uow.save_people(
            {
                nik: (dataclasses.replace(facts, deactivated_on=dt.date(2026, 6, 1), desil=7), "+6281234567890")
                for nik, (facts, _) in people.items()
            }
        )
    before = await _rows(engine)
    async with PgUnitOfWork(sessions) as uow:
        read = await uow.lock_people(set(NIKS))
        a, b, c, d, e = NIKS
        changed = {
            a: (read[a][0].but(reactivated=True, reactivated_at=T0, next_reminder_at=None), read[a][1]),
            b: (read[b][0].but(desil=3, desil_effective_on=dt.date(2026, 6, 20)), read[b][1]),
            c: (read[c][0], None),  # the number only
            d: read[d],  # as read: not written
            e: (read[e][0].but(deceased=True, id_semesta="ID-1", biometric_recorded=True), "+6281299999999"),
        }
        await uow.save_people(changed)
        again = {**changed, a: (changed[a][0].but(next_reminder_at=T0), changed[a][1])}
        await uow.save_people(again)  # a second save in the transaction compares with the first's rows
    after = await _rows(engine)
    async with PgUnitOfWork(sessions) as uow:
        assert await uow.lock_people(set(NIKS)) == again
    assert after[d] == before[d]  # same xmin: no new row version
    assert all(after[n][0] != before[n][0] for n in (a, b, c, e))


async def test_add_requests_keeps_each_rows_decision_moment(engine: AsyncEngine) -> None:
    def record(nik: str, decided_at: dt.datetime) -> RequestRecord:
        event = ReactivationRequested(
            occurred_at=T0, source="intake", nik=nik, request_id=uuid.uuid4(), path="REGULAR", channel="VILLAGE",
            received_at=T0 - dt.timedelta(minutes=1),
        )  # fmt: skip
        return RequestRecord(event, "PENDING", ("DESIL_UNKNOWN", "BIOMETRIC_MISSING"), decided_at, None)

    later = T0 + dt.timedelta(microseconds=1)
    records = [record(NIKS[0], T0), record(NIKS[1], later), record(NIKS[2], T0)]
    async with PgUnitOfWork(make_sessions(engine)) as uow:
        await uow.add_requests(records)
        await uow.add_requests([])
    async with PgUnitOfWork(make_sessions(engine)) as uow:
        read = {r.request_id: r for r in await uow.requests(r.request_id for r in records)}
    assert read == {r.request_id: r for r in records}
    assert [read[r.request_id].decided_at for r in records] == [T0, later, T0]


async def test_new_people_read_back_as_their_facts(engine: AsyncEngine) -> None:
    sessions = make_sessions(engine)
    a, b, c, d, _ = NIKS
    new = {
        a: (Facts(a, deactivated_on=dt.date(2026, 6, 1), next_reminder_at=T0), "+6281234567890"),
        b: (Facts(b, deactivated_on=dt.date(2026, 6, 2), deceased=True), None),
        c: (Facts(c, desil=4, desil_effective_on=dt.date(2026, 6, 3), biometric_recorded=True), None),
    }
    async with PgUnitOfWork(sessions) as uow:
        await uow.save_people(new)
        assert await uow.lock_people({d}) == {d: (Facts(d), None)}  # a blank row, created by the lock
    async with PgUnitOfWork(sessions) as uow:
        assert await uow.lock_people({a, b, c, d}) == {**new, d: (Facts(d), None)}
    async with PgUnitOfWork(sessions) as uow:
        with pytest.raises(NewPersonRace):  # taken for new, on record meanwhile
            await uow.save_people({a: (Facts(a), None)})
