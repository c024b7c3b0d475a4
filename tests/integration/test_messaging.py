"""shared.messaging on the real broker: a publish returns once Kafka has the records, with the headers
consumers read; an aborted transaction shows nothing to read_committed consumers; rows committed to an
outbox are published at once and deleted, and rows a crash left behind are published again, same ids."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import correlation
from shared.db import make_engine
from shared.events import DesilUpdated, participant_event_adapter
from shared.kafka import decode_record, ensure_topics
from shared.kafka_security import kafka_client_options
from shared.messaging import EVENT_TYPE, DirectPublisher, PublishFailed, Record
from shared.outbox import OutboxRelay, add_to_outbox, outbox_row, outbox_table
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.polling import eventually

SCHEMA = "messaging"


def desil(i: int) -> DesilUpdated:
    return DesilUpdated(
        occurred_at=dt.datetime.now(dt.UTC),
        source="DTSEN",
        nik=f"36740157089{i + 1:05d}",
        desil=1 + i % 10,
        effective_on=dt.date(2025, 7, 1),
    )


class Reader:
    """Everything on a topic from its start, at an isolation level."""

    def __init__(self, settings: Settings, topic: str, isolation_level: str = "read_committed") -> None:
        self.topic, self.records = topic, list[ConsumerRecord]()
        self.consumer = AIOKafkaConsumer(
            topic,
            **kafka_client_options(settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level=isolation_level,
        )

    async def read(self) -> list[ConsumerRecord]:
        for records in (await self.consumer.getmany(timeout_ms=200)).values():
            self.records.extend(records)
        return self.records

    async def at_least(self, n: int) -> list[ConsumerRecord]:
        return await eventually(lambda: self._at_least(n), timeout=30)

    async def _at_least(self, n: int) -> list[ConsumerRecord]:
        return got if len(got := await self.read()) >= n else []

    async def end(self) -> int:
        """How many offsets the topic holds: what Kafka acknowledged, read at once."""
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        ends = await self.consumer.end_offsets([TopicPartition(self.topic, p) for p in partitions])
        return sum(ends.values())


@pytest.fixture
async def topic(settings: Settings) -> str:
    await ensure_topics(settings, [PARTICIPANT_EVENTS])
    return settings.topic_prefix + PARTICIPANT_EVENTS.name


@pytest.fixture
async def reader(settings: Settings, topic: str) -> AsyncIterator[Reader]:
    reader = Reader(settings, topic)
    await reader.consumer.start()
    yield reader
    await reader.consumer.stop()


@pytest.fixture
async def outbox(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, Table]]:
    engine = make_engine(settings)
    table = outbox_table(MetaData(), SCHEMA)
    async with engine.begin() as conn:
        await conn.execute(text(f"create schema {SCHEMA}"))
        await conn.run_sync(table.metadata.create_all)
    yield engine, table
    await engine.dispose()


async def waiting(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def committed_rows(engine: AsyncEngine, table: Table, topic: str, n: int) -> list[dict]:  # type: ignore[type-arg]
    rows = [outbox_row(topic, desil(i)) for i in range(n)]
    async with engine.begin() as conn:
        await add_to_outbox(conn, table, rows)
    return rows


async def test_a_direct_publish_returns_once_acknowledged_and_consumers_read_its_headers(
    settings: Settings, topic: str, reader: Reader
) -> None:
    events = [desil(i) for i in range(3)]
    async with DirectPublisher.for_settings(settings) as producer:
        with correlation.bound("req-msg-1"):
            await producer.publish([Record.of(topic, e) for e in events])
        assert await reader.end() == 3  # on the broker when publish returned, nothing polled for

    got = await reader.at_least(3)
    assert sorted(decode_record(r, participant_event_adapter).event_id for r in got) == sorted(
        e.event_id for e in events
    )
    for r in got:
        headers = dict(r.headers)
        assert headers[EVENT_TYPE] == b"participant.desil_updated"
        assert correlation.from_headers(r.headers) == "req-msg-1"
        assert r.key == decode_record(r, participant_event_adapter).nik.encode()


async def test_an_aborted_transaction_leaves_nothing_for_read_committed_consumers(
    settings: Settings, topic: str, reader: Reader
) -> None:
    producer = DirectPublisher.for_settings(settings, transactional="test", linger_ms=0, max_request_size=10_000)
    aborted = [Record.of(topic, desil(i)) for i in range(5)]
    too_big = Record(topic, b"x" * 20_000, b"k")  # refused by the producer after the others were sent
    with pytest.raises(PublishFailed):
        await producer.publish([*aborted, too_big])
    after = desil(99)
    await producer.publish([Record.of(topic, after)])  # a new producer, the same transactional id
    await producer.stop()

    got = await reader.at_least(1)
    assert [decode_record(r, participant_event_adapter).event_id for r in got] == [after.event_id]
    everything = Reader(settings, topic, isolation_level="read_uncommitted")
    await everything.consumer.start()
    try:  # the aborted records did reach the broker: only the transaction's abort hides them
        await everything.at_least(6)
    finally:
        await everything.consumer.stop()
    assert [decode_record(r, participant_event_adapter).event_id for r in await reader.read()] == [after.event_id]


async def test_publish_committed_publishes_at_once_then_deletes_the_rows(
    settings: Settings, topic: str, reader: Reader, outbox: tuple[AsyncEngine, Table]
) -> None:
    engine, table = outbox
    rows = await committed_rows(engine, table, topic, 4)
    relay = OutboxRelay(engine, table, settings.kafka_bootstrap_servers, client_options=kafka_client_options(settings))
    try:
        assert await relay.publish_committed(rows)  # the relay itself never started
        assert await reader.end() == 4
    finally:
        await relay.stop()  # waits for the delete
    assert await waiting(engine, table) == 0
    got = await reader.at_least(4)
    assert {decode_record(r, participant_event_adapter).event_id for r in got} == {r["event_id"] for r in rows}


async def test_rows_a_crash_left_before_their_delete_are_published_again_with_the_same_ids(
    settings: Settings, topic: str, reader: Reader, outbox: tuple[AsyncEngine, Table]
) -> None:
    engine, table = outbox
    rows = await committed_rows(engine, table, topic, 3)
    options = kafka_client_options(settings)
    crashed = OutboxRelay(engine, table, settings.kafka_bootstrap_servers, client_options=options)

    async def died_before_deleting(event_ids: list[uuid.UUID]) -> None:
        return None

    crashed._delete = died_before_deleting  # type: ignore[method-assign]
    assert await crashed.publish_committed(rows)
    await crashed.stop()
    assert await waiting(engine, table) == 3  # published, still in the outbox

    relay = OutboxRelay(engine, table, settings.kafka_bootstrap_servers, client_options=options, poll_interval_s=0.1)
    relay.start()
    try:
        await eventually(lambda: _emptied(engine, table), timeout=30)
    finally:
        await relay.stop()
    got = await reader.at_least(6)
    ids = [decode_record(r, participant_event_adapter).event_id for r in got]
    assert sorted(ids) == sorted([r["event_id"] for r in rows] * 2)  # twice each, the same ids: consumers de-duplicate
    first, again = {}, {}
    for r in got:
        (again if r.value in first else first)[r.value] = r.headers
    assert first == again  # the same record, headers included


async def _emptied(engine: AsyncEngine, table: Table) -> bool:
    return await waiting(engine, table) == 0
