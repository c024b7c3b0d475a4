"""The notifier's update of people's rows (uow.py PgPeople.update): people locked in the transaction get one
UPDATE of the columns the batch changed, each row its own values, the other columns left as they were;
anyone not locked there is written whole (an upsert), as before."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.standings import load_people
from services.notifier.store import MIGRATIONS, SCHEMA
from services.notifier.uow import PgUnitOfWork
from shared.db import make_sessions
from shared.enums import ParticipantStatus
from testkit.engines import migrated_engine

AT = dt.datetime(2026, 11, 24, 5, tzinfo=dt.UTC)
A, B, C, D = (f"36740157089{i:05d}" for i in range(1, 5))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


async def test_only_the_changed_columns_are_written_each_row_with_its_own_values(engine: AsyncEngine) -> None:
    sessions = make_sessions(engine)
    held = {
        A: Person(OnFile("+6281200000001"), Standing(A, status=ParticipantStatus.INACTIVE, desil=7)),
        B: Person(OnFile("+6281200000002", on_whatsapp=False), Standing(B, reasons=("DESIL_UNKNOWN",))),
        C: Person(OnFile(None), Standing(C, request_ids=("ab" * 16,))),
    }
    async with PgUnitOfWork(sessions) as uow:
        assert await uow.people.add(list(held.values())) == set()
    after = {
        # a decision's columns
        A: dataclasses.replace(
            held[A],
            standing=dataclasses.replace(
                held[A].standing,
                status=ParticipantStatus.REACTIVATION_PENDING,
                reasons=("BIOMETRIC_MISSING",),
                last_status_at=AT,
            ),
        ),
        # a new number and other reasons
        B: Person(OnFile("+6281299999999"), dataclasses.replace(held[B].standing, reasons=())),
        C: held[C],  # unchanged, in a batch that changes others
        # not locked in this transaction: written whole
        D: Person(OnFile(None, opted_out=True), Standing(D, deceased=True)),
    }
    async with PgUnitOfWork(sessions) as uow:
        assert await uow.people.lock([A, B, C]) == held
        await uow.people.update(list(after.values()))
    async with sessions() as session:
        assert await load_people(session, [A, B, C, D]) == after
    # And a second update in the transaction compares with what the first wrote.
    again = dataclasses.replace(after[A], standing=dataclasses.replace(after[A].standing, status=None))
    async with PgUnitOfWork(sessions) as uow:
        await uow.people.lock([A])
        await uow.people.update([again])
        await uow.people.update([after[A]])
    async with sessions() as session:
        assert await load_people(session, [A]) == {A: after[A]}
