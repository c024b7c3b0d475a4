"""`pbi dlq replay` against a real broker: parked records go back to their topic exactly once."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from pbi_cli.dlq import replay, stats
from shared.settings import Settings
from shared.topics import DECISIONS

pytestmark = pytest.mark.integration


async def _park(settings: Settings, n: int) -> list[bytes]:
    topic = settings.topic_prefix + DECISIONS.name
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    values = []
    try:
        for i in range(n):
            value = f'{{"event_id": "{uuid.uuid4()}", "n": {i}}}'.encode()
            headers = [
                ("x-dlq-reason", b"schema violation for 3674011203900001"),
                ("x-dlq-error", b"PoisonRecord"),
                ("x-original-topic", topic.encode()),
                ("x-correlation-id", f"corr-{i}".encode()),
            ]
            await producer.send_and_wait(topic + ".dlq", value, key=b"3674011203900001", headers=headers)
            values.append(value)
    finally:
        await producer.stop()
    return values


async def _read_all(settings: Settings, topic: str) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka_partitions_override or 1)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in tps])

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [(r.key, r.value, dict(r.headers)) for r in records]
        return out
    finally:
        await consumer.stop()


async def test_replay_republishes_each_parked_record_once_to_its_original_topic(settings: Settings) -> None:
    values = await _park(settings, 3)
    topic = settings.topic_prefix + DECISIONS.name

    dry = await replay(settings, DECISIONS.name, dry_run=True)
    assert (dry.replayed, await _read_all(settings, topic)) == (3, [])

    first = await replay(settings, DECISIONS.name)
    assert first.replayed == 3 and first.by_topic == {topic: 3}
    assert list(first.reasons.values()) == [3] and "3674********0001" in next(iter(first.reasons))

    landed = await _read_all(settings, topic)
    assert sorted(v for _, v, _ in landed) == sorted(values)
    assert {k for k, _, _ in landed} == {b"3674011203900001"}
    for _, _, headers in landed:
        assert "x-dlq-reason" not in headers and headers["x-correlation-id"].startswith(b"corr-")

    second = await replay(settings, DECISIONS.name)
    assert second.replayed == 0
    assert len(await _read_all(settings, topic)) == 3
    (decisions_dlq,) = [s for s in await stats(settings) if s.topic.endswith(DECISIONS.dlq)]
    assert (decisions_dlq.total, decisions_dlq.pending) == (3, 0)


async def test_records_parked_after_a_replay_are_replayed_by_the_next_one(settings: Settings) -> None:
    await _park(settings, 1)
    assert (await replay(settings, DECISIONS.name)).replayed == 1
    await _park(settings, 2)
    assert (await replay(settings, DECISIONS.dlq)).replayed == 2
    assert len(await _read_all(settings, settings.topic_prefix + DECISIONS.name)) == 3
