"""shared.inbox on a real PostgreSQL: an event id is claimed once, whoever asks and however often."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.inbox import claim_events, claim_new, processed_events_table
from testkit.polling import eventually

SCHEMA = "inbox_test"
PROCESSED = processed_events_table(MetaData(), SCHEMA)


@dataclass(frozen=True)
class Ev:
    event_id: uuid.UUID


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text(f"create schema {SCHEMA}"))
        await conn.run_sync(PROCESSED.metadata.create_all)
    yield engine
    await engine.dispose()


async def test_an_id_is_claimed_once_and_a_second_claim_returns_nothing(engine: AsyncEngine) -> None:
    ids = [uuid.uuid4() for _ in range(500)]
    async with engine.begin() as conn:
        assert await claim_new(conn, PROCESSED, ids) == set(ids)
    async with engine.begin() as conn:
        assert await claim_new(conn, SCHEMA, ids) == set()  # by schema name: the same table
        newer = uuid.uuid4()
        assert await claim_new(conn, PROCESSED, [*ids[:3], newer]) == {newer}
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(PROCESSED)) == 501


async def test_an_empty_batch_claims_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await claim_new(conn, PROCESSED, []) == set()


async def test_a_record_twice_in_one_batch_is_applied_once_at_its_first_place(engine: AsyncEngine) -> None:
    a, b = Ev(uuid.uuid4()), Ev(uuid.uuid4())
    async with engine.begin() as conn:
        assert await claim_events(conn, PROCESSED, [a, b, a]) == [a, b]
    async with engine.begin() as conn:
        assert await claim_events(conn, PROCESSED, [b, a]) == []


async def test_a_rolled_back_claim_is_released(engine: AsyncEngine) -> None:
    ids = [uuid.uuid4()]
    async with engine.connect() as conn:
        async with conn.begin() as tx:
            assert await claim_new(conn, PROCESSED, ids) == set(ids)
            await tx.rollback()
    async with engine.begin() as conn:
        assert await claim_new(conn, PROCESSED, ids) == set(ids)


async def test_of_two_concurrent_transactions_claiming_the_same_ids_only_one_wins(engine: AsyncEngine) -> None:
    ids = [uuid.uuid4() for _ in range(50)]

    async with engine.connect() as first, engine.connect() as second:
        tx1 = await first.begin()
        won_first = await claim_new(first, PROCESSED, ids)

        async def claim_second() -> set[uuid.UUID]:
            async with second.begin():
                return await claim_new(second, PROCESSED, ids)

        # The second claim waits on the first transaction's uncommitted rows ...
        pending = asyncio.create_task(claim_second())
        await _until_blocked(engine)
        assert not pending.done()
        await tx1.commit()  # ... and once it commits, finds them taken
        won_second = await pending
    assert won_first == set(ids)
    assert won_second == set()


async def _until_blocked(engine: AsyncEngine) -> None:
    """Waits until some session of this database is waiting for a lock (the second claim)."""
    async with engine.connect() as conn:

        async def waiting() -> bool:
            sessions = "select count(*) from pg_stat_activity where datname = current_database()"
            return bool(await conn.scalar(text(sessions + " and wait_event_type = 'Lock'")))

        await eventually(waiting, interval=0.01)  # (failing: the second claim never waited for the first)
