"""Kafka for tests: produce events (or raw bytes) to a topic of a test's prefix, read a topic from its start."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

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

    async def wait_for(self, predicate, timeout: float = 20.0) -> list:  # type: ignore[no-untyped-def]  # noqa: ASYNC109
        async def check() -> list:
            await self.poll()
            return [e for e in self.events if predicate(e)]

        return await eventually(check, timeout)
