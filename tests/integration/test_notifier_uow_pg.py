"""The notifier handler's cases (tests/unit/notifier/handler_cases.py) against the unit of work on
PostgreSQL, and what only a database shows: a person another batch creates meanwhile is folded onto."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any, Self

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.handlers import NotifierHandlers
from services.notifier.privacy import ERASURES
from services.notifier.standings import load, to_row
from services.notifier.store import INBOX, MIGRATIONS, OO, PE, SCHEMA, C, M
from services.notifier.uow import PgUnitOfWork, UnitOfWork
from shared.db import make_sessions
from shared.enums import ParticipantStatus
from testkit.engines import migrated_engine
from tests.unit.notifier.handler_cases import NIK, NOON, NotifierHandlerCases, deactivation


class OnPostgres:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.sessions = engine, make_sessions(engine)

    def uow(self) -> UnitOfWork:
        return PgUnitOfWork(self.sessions)

    async def _insert(self, table: Any, **row: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(table).values(**row))

    async def given_contact(self, nik: str, contact: OnFile) -> None:
        """The person's number on file (their row kept if they have one: the standing stays)."""
        values = {"phone": contact.phone, "opted_out": contact.opted_out, "on_whatsapp": contact.on_whatsapp}
        async with self.engine.begin() as conn:
            await conn.execute(
                pg_insert(C).values(nik=nik, **values).on_conflict_do_update(index_elements=[C.c.nik], set_=values)
            )

    async def given_opt_out(self, phone: str) -> None:
        await self._insert(OO, phone=phone, opted_out=True, changed_at=NOON)

    async def given_erasure(self, nik: str, at: dt.datetime) -> None:
        await self._insert(ERASURES, nik=nik, erased_at=at)

    async def messages(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(select(M))).mappings()]

    async def standing(self, nik: str) -> Standing | None:
        async with self.sessions() as session:
            return (await load(session, [nik])).get(nik)

    async def contact(self, nik: str) -> OnFile | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(C).where(C.c.nik == nik))).one_or_none()
        return OnFile(row.phone, row.opted_out, row.on_whatsapp) if row else None

    async def inbox(self) -> set[uuid.UUID]:
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(INBOX.c.event_id))).scalars())

    async def seen(self) -> set[uuid.UUID]:
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(PE.c.event_id))).scalars())


@pytest.fixture
async def postgres(database_url: str) -> AsyncIterator[OnPostgres]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield OnPostgres(engine)


class TestOnPostgres(NotifierHandlerCases):
    @pytest.fixture
    def backend(self, postgres: OnPostgres) -> OnPostgres:
        return postgres


async def test_a_standing_another_batch_creates_meanwhile_is_folded_onto_not_overwritten(postgres: OnPostgres) -> None:
    """Between this batch's lock (no row yet) and its insert, a request's batch commits the person's row:
    the deactivation is folded onto that one (the request stays known), not written over it."""
    theirs = Standing(NIK, request_open=True, request_ids=("ab" * 16,))

    class CreatedMeanwhile(PgUnitOfWork):
        async def __aenter__(self) -> Self:
            uow = await super().__aenter__()
            locked = uow.people.lock

            async def lock(niks: Any) -> dict[str, Person]:
                found = await locked(niks)
                if not found and NIK in set(niks):
                    # another transaction, committed
                    await postgres._insert(C, **to_row(Person(OnFile(None, opted_out=True), theirs)))
                return found

            uow.people.lock = lock  # type: ignore[method-assign]
            return uow

    handlers = NotifierHandlers(None, lambda: NOON, lambda: None, uow=lambda: CreatedMeanwhile(postgres.sessions))
    await handlers.on_events([deactivation()])
    standing = await postgres.standing(NIK)
    assert standing is not None
    assert standing.request_ids == theirs.request_ids  # theirs, kept
    assert standing.status is ParticipantStatus.INACTIVE and standing.deactivated_on == dt.date(2026, 11, 1)
    assert await postgres.contact(NIK) == OnFile(deactivation().phone, opted_out=True)  # their opt-out kept


async def test_processed_events_lists_every_applied_event_whichever_row_remembers_it(postgres: OnPostgres) -> None:
    told, untold = deactivation(), deactivation(phone=None, nik="3674015708900002")
    handlers = NotifierHandlers(None, lambda: NOON, lambda: None, uow=postgres.uow)
    await handlers.on_events([told, untold])
    assert await postgres.inbox() == {untold.event_id}  # the other one by its message
    assert await postgres.seen() == {told.event_id, untold.event_id}
