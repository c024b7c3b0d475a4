"""A batch that fails deterministically, on real Kafka and PostgreSQL (shared.kafka's batch path with
shared.errors.is_transient): it is not retried forever. After a few attempts the batch is halved until the
records that fail on their own stand alone, so a batch that failed only as a whole (one statement whose
arguments grow with the batch passed asyncpg's 32,767 limit: the registry's decisions consumer on 2026-11-30)
is applied whole with nothing dead-lettered, a record the database refuses on its own goes to `<topic>.dlq`
with the reason while every other record of its batch, before and after it, is applied, and a batch the
database refuses record by record is dead-lettered whole, each record once."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.exc import InterfaceError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine, make_sessions, transaction
from shared.events import DesilUpdated, ParticipantEvent, participant_event_adapter
from shared.kafka import HEADER_ERROR, HEADER_OFFSET, HEADER_REASON, HEADER_RETRIES, make_broker, subscribe
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.kafka import TopicReader, consumed, produce
from testkit.polling import eventually

pytestmark = pytest.mark.integration

NIK = "3674015708900001"  # one key: one partition, the records in order in one fetch
EVENTS = 400
ARGS_PER_EVENT = 100  # 400 x 100 = 40,000 arguments in the batch's statement; one record's has 100
REFUSED_DESIL = 10  # valid for the schema, refused by the table's check constraint: a poison the database finds


def desil_event(desil: int) -> DesilUpdated:
    return DesilUpdated(
        occurred_at=dt.datetime.now(dt.UTC), source="DTSEN", nik=NIK, desil=desil, effective_on=dt.date(2026, 11, 1)
    )


class Consumer:
    """A batch subscriber that writes its events with one statement per batch, ARGS_PER_EVENT arguments each."""

    def __init__(self, settings: Settings) -> None:
        self.engine: AsyncEngine = make_engine(settings)
        self.sessions = make_sessions(self.engine)
        self.broker: KafkaBroker = make_broker(settings, "test-poison-batch")
        self.failures: list[type[BaseException]] = []

        @subscribe(
            self.broker,
            PARTICIPANT_EVENTS,
            group=settings.topic_prefix + "test-poison-batch",
            adapter=participant_event_adapter,
            service="test",
            prefix=settings.topic_prefix,
            batch=True,
            max_records=500,
        )
        async def on_events(events: list[ParticipantEvent]) -> None:
            try:
                await self.insert(events)
            except Exception as exc:
                self.failures.append(type(exc))
                raise

    async def insert(self, events: list[ParticipantEvent]) -> None:
        rows, args = [], []
        for event in events:
            assert isinstance(event, DesilUpdated)
            n = len(args)
            widths = ", ".join(f"${n + 3 + i}::int" for i in range(ARGS_PER_EVENT - 2))
            rows.append(f"(${n + 1}::uuid, ${n + 2}::int, cardinality(array[{widths}]))")
            args += [event.event_id, event.desil, *range(ARGS_PER_EVENT - 2)]
        sql = f"insert into batch_seen (event_id, desil, width) values {', '.join(rows)} on conflict do nothing"
        async with transaction(self.sessions) as session:
            await (await session.connection()).exec_driver_sql(sql, tuple(args))

    async def rows(self) -> list[tuple[str, int]]:
        async with transaction(self.sessions) as session:
            return [(str(r[0]), r[1]) for r in await session.execute(text("select event_id, desil from batch_seen"))]


@pytest.fixture
async def consumer(settings: Settings) -> AsyncIterator[Consumer]:
    made = Consumer(settings)
    async with made.engine.begin() as conn:
        await conn.execute(
            text(
                "create table batch_seen (event_id uuid primary key, desil int not null"
                f" check (desil < {REFUSED_DESIL}), width int not null)"
            )
        )
    try:
        yield made
    finally:
        await made.broker.stop()
        await made.engine.dispose()


async def test_a_batch_too_big_for_one_statement_is_applied_record_by_record_with_nothing_dead_lettered(
    settings: Settings, consumer: Consumer
) -> None:
    events = [desil_event(desil=1 + i % (REFUSED_DESIL - 1)) for i in range(EVENTS)]
    await produce(settings, PARTICIPANT_EVENTS, *events)  # all there before the consumer starts: one big fetch
    await consumer.broker.start()

    async def all_applied() -> bool:
        return len(await consumer.rows()) == EVENTS

    await eventually(all_applied, timeout=120)
    assert sorted(await consumer.rows()) == sorted((str(e.event_id), e.desil) for e in events)
    # The whole batch failed with asyncpg's client-side InterfaceError, a few times, not forever.
    assert InterfaceError in consumer.failures
    await eventually(lambda: consumed(settings, PARTICIPANT_EVENTS), timeout=60)
    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.dlq) as dlq:
        await dlq.read_to_end()
        assert dlq.raw == []


async def test_a_record_the_database_refuses_is_dead_lettered_with_its_reason_and_the_rest_of_its_batch_applied(
    settings: Settings, consumer: Consumer
) -> None:
    events = [desil_event(desil=1 + i % (REFUSED_DESIL - 1)) for i in range(EVENTS)]
    refused = desil_event(desil=REFUSED_DESIL)
    events.insert(EVENTS // 2, refused)
    await produce(settings, PARTICIPANT_EVENTS, *events)
    await consumer.broker.start()

    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.dlq) as dlq:
        [dead] = await eventually(dlq.poll, timeout=120)
        applied = await consumer.rows()
        assert sorted(applied) == sorted((str(e.event_id), e.desil) for e in events if e is not refused)
        headers = {k: v.decode() for k, v in dlq.raw[0].headers}
        assert dead.event_id == refused.event_id
        assert headers[HEADER_ERROR] == "IntegrityError"
        assert "check constraint" in headers[HEADER_REASON] and "batch_seen_desil_check" in headers[HEADER_REASON]
        assert int(headers[HEADER_RETRIES]) > 3 and headers[HEADER_OFFSET] == str(EVENTS // 2)  # batch, halvings
        await eventually(lambda: consumed(settings, PARTICIPANT_EVENTS), timeout=60)
        await dlq.read_to_end()
        assert len(dlq.raw) == 1  # the refused record alone, once


async def test_a_batch_whose_every_record_is_refused_is_dead_lettered_each_record_once(
    settings: Settings, consumer: Consumer
) -> None:
    events = [desil_event(desil=REFUSED_DESIL) for _ in range(EVENTS)]
    await produce(settings, PARTICIPANT_EVENTS, *events)
    await consumer.broker.start()

    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.dlq) as dlq:
        await eventually(lambda: consumed(settings, PARTICIPANT_EVENTS), timeout=120)
        await dlq.read_to_end()
        assert [e.event_id for e in dlq.events] == [e.event_id for e in events]  # in order, once each
        assert {dict(r.headers)[HEADER_ERROR] for r in dlq.raw} == {b"IntegrityError"}
    assert await consumer.rows() == []
