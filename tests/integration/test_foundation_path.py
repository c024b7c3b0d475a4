"""The foundation's promise, on real Kafka and PostgreSQL: publish -> broker -> subscriber -> row,
poison records dead-lettered with their reason while the partition keeps flowing."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker
from sqlmodel import Field, SQLModel, select

from shared import correlation
from shared.db import make_engine, make_sessions, transaction
from shared.events import DesilUpdated, ParticipantEvent, participant_event_adapter
from shared.kafka import DEAD_LETTERS, HEADER_REASON, make_broker, subscribe
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.polling import eventually

NIK = "3674015708900001"


class SeenEvent(SQLModel, table=True):
    __tablename__ = "seen_event"
    event_id: uuid.UUID = Field(primary_key=True)
    nik: str
    desil: int


def desil_event(desil: int = 3) -> DesilUpdated:
    return DesilUpdated(
        occurred_at=dt.datetime.now(dt.UTC), source="DTSEN", nik=NIK, desil=desil, effective_on=dt.date(2025, 7, 1)
    )


CORRELATIONS: list[tuple[str | None, str | None]] = []  # (for the event, current) as each handler saw it


async def start_consumer(settings: Settings) -> tuple[KafkaBroker, object]:
    engine = make_engine(settings)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all, tables=[SeenEvent.__table__])
    sessions = make_sessions(engine)
    broker = make_broker(settings, "test-consumer")

    @subscribe(
        broker,
        PARTICIPANT_EVENTS,
        group="test-group",
        adapter=participant_event_adapter,
        service="test",
        prefix=settings.topic_prefix,
    )
    async def on_events(events: list[ParticipantEvent]) -> None:
        async with transaction(sessions) as session:
            for event in events:
                assert isinstance(event, DesilUpdated)
                CORRELATIONS.append((correlation.for_event(event.event_id), correlation.current()))
                session.add(SeenEvent(event_id=event.event_id, nik=event.nik, desil=event.desil))

    await broker.start()
    return broker, engine


async def rows(settings: Settings) -> list[SeenEvent]:
    engine = make_engine(settings)
    async with make_sessions(engine)() as session:
        result = list((await session.scalars(select(SeenEvent))).all())
    await engine.dispose()
    return result


async def test_published_event_becomes_a_row_in_postgres(settings: Settings) -> None:
    CORRELATIONS.clear()
    broker, engine = await start_consumer(settings)
    publisher = make_broker(settings, "test-producer")
    await publisher.start()
    try:
        event = desil_event()
        await publisher.publish(
            event.model_dump_json().encode(),
            topic=settings.topic_prefix + PARTICIPANT_EVENTS.name,
            key=event.kafka_key(),
            headers={correlation.HEADER: "req-4711"},
        )
        found = await eventually(lambda: rows(settings))
        assert [(r.event_id, r.nik, r.desil) for r in found] == [(event.event_id, NIK, 3)]
        # The handler ran with the correlation id from the record's headers.
        assert CORRELATIONS == [("req-4711", "req-4711")]
    finally:
        await publisher.stop()
        await broker.stop()
        await engine.dispose()  # type: ignore[attr-defined]


async def dead_letters(settings: Settings, expected: int) -> list:
    consumer = AIOKafkaConsumer(
        settings.topic_prefix + PARTICIPANT_EVENTS.dlq,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records: list = []

        async def fetch() -> list:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
            return records if len(records) >= expected else []

        return await eventually(fetch)
    finally:
        await consumer.stop()


async def test_poison_records_are_dead_lettered_and_the_partition_keeps_flowing(settings: Settings) -> None:
    broker, engine = await start_consumer(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    good = desil_event(desil=4)
    counted_before = DEAD_LETTERS.labels(topic=PARTICIPANT_EVENTS.name, service="test")._value.get()
    schema_violation = json.loads(good.model_dump_json()) | {"desil": 11, "event_id": str(uuid.uuid4())}
    try:
        # Same key, so the same partition: the good record comes after both poison ones.
        await producer.send_and_wait(topic, b"\x00not json{", key=NIK.encode())
        await producer.send_and_wait(topic, json.dumps(schema_violation).encode(), key=NIK.encode())
        await producer.send_and_wait(topic, good.model_dump_json().encode(), key=NIK.encode())

        found = await eventually(lambda: rows(settings))
        assert [r.event_id for r in found] == [good.event_id]

        dlq = await dead_letters(settings, expected=2)
        reasons = [dict(r.headers)[HEADER_REASON].decode() for r in dlq]
        assert reasons[0].startswith("invalid JSON")
        assert "desil" in reasons[1] and "less than or equal to 10" in reasons[1]
        assert dlq[0].value == b"\x00not json{"
        assert all(NIK not in reason for reason in reasons)
        # Counted for alerting, by topic without the deployment's prefix.
        counted = DEAD_LETTERS.labels(topic=PARTICIPANT_EVENTS.name, service="test")._value.get()
        assert counted - counted_before == 2
    finally:
        await producer.stop()
        await broker.stop()
        await engine.dispose()  # type: ignore[attr-defined]
