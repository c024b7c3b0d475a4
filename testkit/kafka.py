"""Kafka for tests: produce events (or raw bytes) to a topic of a test's prefix, read a topic from its start
(to its end, when every record that will come is already there), and tell when the services' consumer groups
have consumed a topic to its end (what a test waits for before it checks that a duplicate changed nothing)."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.events import Event, any_event_adapter
from shared.settings import Settings
from shared.topics import TopicSpec
from testkit.polling import eventually


async def produce(settings: Settings, spec: TopicSpec, *events: Event | bytes, key: bytes = b"k") -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for e in events:
            if isinstance(e, bytes):
                await producer.send_and_wait(settings.topic_prefix + spec.name, e, key=key)
            else:
                await producer.send_and_wait(
                    settings.topic_prefix + spec.name, e.model_dump_json().encode(), key=e.kafka_key()
                )
    finally:
        await producer.stop()


class TopicReader:
    """Reads a topic from the start, accumulating decoded events."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        self.events: list = []
        self.raw: list = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def poll(self) -> list:
        for records in (await self.consumer.getmany(timeout_ms=200)).values():
            for r in records:
                self.raw.append(r)
                try:
                    self.events.append(any_event_adapter.validate_python(json.loads(r.value)))
                except Exception:  # noqa: BLE001 - raw is kept for inspection
                    pass
        return self.events

    async def read_to_end(self, timeout: float = 60.0) -> list:  # noqa: ASYNC109
        """Everything the topic holds now (committed), read to its end offsets as they are at the call."""
        partitions = self.consumer.assignment()
        if not partitions:
            await eventually(self._assigned, timeout)
            partitions = self.consumer.assignment()
        ends = await self.consumer.end_offsets(list(partitions))

        async def at_end() -> bool:
            await self.poll()
            return all([await self.consumer.position(tp) >= end for tp, end in ends.items()])

        await eventually(at_end, timeout)
        return self.events

    async def _assigned(self) -> bool:
        await self.poll()
        return bool(self.consumer.assignment())

    async def wait_for(self, predicate, timeout: float = 60.0) -> list:  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        async def check() -> list:
            await self.poll()
            return [e for e in self.events if predicate(e)]

        return await eventually(check, timeout)


async def partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """The topic's partitions (full name), as the broker describes them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        return await _described_partitions(admin, topic)
    finally:
        await admin.close()


async def _described_partitions(admin: AIOKafkaAdminClient, topic: str) -> list[TopicPartition]:
    [described] = await admin.describe_topics([topic])
    return [TopicPartition(topic, p["partition"]) for p in described["partitions"]]


async def consumed(settings: Settings, spec: TopicSpec) -> bool:
    """Whether every consumer group of this test's prefix that reads the topic has committed up to its end
    (so every record on it, duplicates included, has been handled). For `eventually`."""
    topic = settings.topic_prefix + spec.name
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        ends = await consumer.end_offsets(await _described_partitions(admin, topic))  # the admin client it has
        readers = 0
        for group, _ in await admin.list_consumer_groups():
            if not group.startswith(settings.topic_prefix):
                continue
            committed = {tp: o.offset for tp, o in (await admin.list_consumer_group_offsets(group)).items()}
            if not any(tp.topic == topic for tp in committed):
                continue
            readers += 1
            if any(committed.get(tp, 0) < end for tp, end in ends.items() if end > 0):
                return False
        return readers > 0
    finally:
        await consumer.stop()
        await admin.close()
