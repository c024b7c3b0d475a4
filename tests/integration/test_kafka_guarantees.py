"""The broker the project runs gives the guarantees the services rely on: idempotent producers,
transactions (aborted records invisible to read_committed consumers), per-key ordering."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.polling import eventually


async def read_all(settings: Settings, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:

        async def fetch() -> list[bytes]:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                values.extend(r.value for r in records)
            return values if len(values) >= expected else []

        await eventually(fetch, timeout=60)
        # Give a wrongly visible record the chance to show up before asserting on the total.
        for records in (await consumer.getmany(timeout_ms=500)).values():
            values.extend(r.value for r in records)
        return values
    finally:
        await consumer.stop()


async def test_aborted_transaction_is_invisible_and_committed_one_is_whole(settings: Settings) -> None:
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, transactional_id=f"{settings.topic_prefix}tx"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        await producer.send(topic, b"aborted-1", key=b"k1")
        await producer.send(topic, b"aborted-2", key=b"k2")
        await producer.abort_transaction()
        async with producer.transaction():
            for i in range(5):
                await producer.send(topic, f"committed-{i}".encode(), key=b"k1")
    finally:
        await producer.stop()
    values = await read_all(settings, topic, expected=5)
    assert values == [f"committed-{i}".encode() for i in range(5)]


async def test_idempotent_producer_keeps_per_key_order(settings: Settings) -> None:
    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [await producer.send(topic, f"{i}".encode(), key=b"same-nik") for i in range(200)]
        for f in futures:
            await f
    finally:
        await producer.stop()
    values = await read_all(settings, topic, expected=200)
    assert [int(v) for v in values] == list(range(200))
