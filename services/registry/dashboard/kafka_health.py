"""Dead-letter counts and consumer lag per consumer group, read from Kafka itself (cached briefly,
so a room full of dashboards does not hammer the broker)."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.topics import CATALOGUE


class KafkaHealth:
    def __init__(
        self, bootstrap: str, prefix: str, cache_s: float = 5.0, client_options: dict[str, Any] | None = None
    ) -> None:
        self.bootstrap, self.prefix, self.cache_s = bootstrap, prefix, cache_s
        # TLS / SASL login (shared.kafka_security.kafka_client_options)
        self.options = {**(client_options or {}), "bootstrap_servers": bootstrap}
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def read(self) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < self.cache_s:
            return self._cached[1]
        try:
            value = await self._read()
        except Exception:  # noqa: BLE001 - the dashboard shows what it can while Kafka is away
            value = {"dead_letters": {}, "consumer_lag": {}, "offsets": {}}
        self._cached = (time.monotonic(), value)
        return value

    async def _read(self) -> dict[str, Any]:
        admin = AIOKafkaAdminClient(**self.options, request_timeout_ms=5000)
        consumer = AIOKafkaConsumer(**self.options, request_timeout_ms=5000)
        await admin.start()
        await consumer.start()
        try:
            topics = set(await admin.list_topics())
            wanted = [self.prefix + s.name for s in CATALOGUE] + [self.prefix + s.dlq for s in CATALOGUE]
            partitions = [
                TopicPartition(t, p)
                for t in wanted
                if t in topics
                for p in (consumer.partitions_for_topic(t) or await _partitions(consumer, t))
            ]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            begins = await consumer.beginning_offsets(partitions) if partitions else {}
            dead = {}
            for spec in CATALOGUE:
                name = self.prefix + spec.dlq
                dead[spec.dlq] = sum(ends[tp] - begins[tp] for tp in ends if tp.topic == name)
            lag: dict[str, int] = {}
            committed: dict[str, int] = {}
            for group, _ in await admin.list_consumer_groups():
                if not group.startswith(self.prefix):
                    continue
                offsets = await admin.list_consumer_group_offsets(group)
                total = sum(
                    max(0, ends.get(tp, meta.offset) - meta.offset) for tp, meta in offsets.items() if meta.offset >= 0
                )
                lag[group[len(self.prefix) :]] = total
                committed[group[len(self.prefix) :]] = sum(m.offset for m in offsets.values() if m.offset >= 0)
            produced = {s.name: sum(n for tp, n in ends.items() if tp.topic == self.prefix + s.name) for s in CATALOGUE}
            # Offsets (records in each topic, records each group has committed): the wave-progress chart.
            offsets = {"topics": produced, "groups": committed}
            return {"dead_letters": dead, "consumer_lag": lag, "offsets": offsets}
        finally:
            await consumer.stop()
            await admin.close()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
    return consumer.partitions_for_topic(topic) or set()
