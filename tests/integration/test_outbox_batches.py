"""The outbox relay hands its rows to Kafka as whole record batches per partition (shared.outbox
BatchPublisher), not one send per record: every row arrives once with its headers, each key on the
partition a per-record send puts it on, and a key's events in the order they were committed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.partitioner import murmur2
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.events import DesilUpdated, participant_event_adapter
from shared.kafka import decode_record, ensure_topics
from shared.kafka_security import kafka_client_options
from shared.messaging import EVENT_TYPE
from shared.outbox import OutboxRelay, add_to_outbox, outbox_bundle, outbox_row, outbox_table
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.polling import eventually

SCHEMA = "outbox_batches"
PEOPLE, PER_PERSON = 150, 20  # 3,000 rows: three relay batches of 1,000


def desil(person: int, n: int) -> DesilUpdated:
    return DesilUpdated(
        occurred_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC) + dt.timedelta(seconds=n),
        source="DTSEN",
        nik=f"36740157089{person + 1:05d}",
        desil=1 + n % 10,
        effective_on=dt.date(2025, 7, 1),
    )


@pytest.fixture
async def outbox(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, Table]]:
    engine = make_engine(settings)
    table = outbox_table(MetaData(), SCHEMA)
    async with engine.begin() as conn:
        await conn.execute(text(f"create schema {SCHEMA}"))
        await conn.run_sync(table.metadata.create_all)
    yield engine, table
    await engine.dispose()


async def read_all(settings: Settings, topic: str, n: int) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(topic, **kafka_client_options(settings), auto_offset_reset="earliest")
    await consumer.start()
    got: list[ConsumerRecord] = []

    async def enough() -> bool:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            got.extend(records)
        return len(got) >= n

    try:
        await eventually(enough, timeout=60)
    finally:
        await consumer.stop()
    return got


async def relay_until_empty(settings: Settings, engine: AsyncEngine, table: Table) -> OutboxRelay:
    """A relay run until the outbox is empty, then stopped (its `published` count kept)."""
    relay = OutboxRelay(engine, table, settings.kafka_bootstrap_servers, client_options=kafka_client_options(settings))
    relay.start()
    try:

        async def emptied() -> bool:
            async with engine.connect() as conn:
                return (await conn.execute(select(func.count()).select_from(table))).scalar_one() == 0

        await eventually(emptied, timeout=60)
    finally:
        await relay.stop()
    return relay


async def test_the_relay_publishes_every_row_once_in_key_order_on_the_keys_partition(
    settings: Settings, outbox: tuple[AsyncEngine, Table]
) -> None:
    engine, table = outbox
    await ensure_topics(settings, [PARTICIPANT_EVENTS])
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    events = [desil(person, n) for n in range(PER_PERSON) for person in range(PEOPLE)]
    async with engine.begin() as conn:
        await add_to_outbox(conn, table, [outbox_row(topic, e, {"x-seq": str(i)}) for i, e in enumerate(events)])
    relay = await relay_until_empty(settings, engine, table)
    got = await read_all(settings, topic, len(events))
    assert len(got) == len(events) == relay.published
    count = settings.kafka_partitions_override or PARTICIPANT_EVENTS.partitions
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for r in got:
        headers = dict(r.headers)
        assert headers[EVENT_TYPE] == b"participant.desil_updated"
        assert decode_record(r, participant_event_adapter).event_id == events[int(headers["x-seq"])].event_id
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % count  # where a per-record send puts the key
        by_key[r.key].append(int(headers["x-seq"]))
    assert len({r.partition for r in got}) == count > 1
    assert all(seqs == sorted(seqs) and len(seqs) == PER_PERSON for seqs in by_key.values())


@pytest.fixture
async def bundles(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, Table]]:
    engine = make_engine(settings)
    table = outbox_table(MetaData(), SCHEMA, bundles=True)
    async with engine.begin() as conn:
        await conn.execute(text(f"create schema {SCHEMA}"))
        await conn.run_sync(table.metadata.create_all)
    yield engine, table
    await engine.dispose()


async def test_a_bundle_is_published_as_its_events_in_order_between_the_rows_around_it(
    settings: Settings, bundles: tuple[AsyncEngine, Table]
) -> None:
    """Bundles of 700 events (batch_size 1,000: a relay batch takes whole rows, at least one) between
    rows of one event: every event once, a key's events in commit order, the bundles' rows deleted."""
    engine, table = bundles
    await ensure_topics(settings, [PARTICIPANT_EVENTS])
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    events = [desil(person, n) for n in range(PER_PERSON) for person in range(PEOPLE)]
    seq = {e.event_id: i for i, e in enumerate(events)}
    rows, i = [], 0
    while i < len(events):
        if (len(rows) % 2) == 0:
            chunk = events[i : i + 700]
            records = [(e.kafka_key(), e.model_dump_json().encode(), outbox_row(topic, e)["headers"]) for e in chunk]
            rows.append(outbox_bundle(topic, records, event_id=chunk[0].event_id))
        else:
            chunk = events[i : i + 1]
            rows.append({**outbox_row(topic, chunk[0]), "records": None})
        i += len(chunk)
    async with engine.begin() as conn:
        for row in rows:  # one transaction each, in order
            await add_to_outbox(conn, table, [row])
    relay = await relay_until_empty(settings, engine, table)
    got = await read_all(settings, topic, len(events))
    assert len(got) == len(events) == relay.published
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for r in got:
        assert dict(r.headers)[EVENT_TYPE] == b"participant.desil_updated"
        by_key[r.key].append(seq[decode_record(r, participant_event_adapter).event_id])
    assert all(s == sorted(s) and len(s) == PER_PERSON for s in by_key.values())
