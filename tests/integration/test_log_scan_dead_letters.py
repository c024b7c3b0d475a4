"""The personal-data scan reads every dead-letter header a run left, on the real broker."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from shared.settings import Settings
from shared.topics import CATALOGUE
from testkit import log_scan


async def test_every_dead_letter_header_of_the_prefix_is_read(settings: Settings) -> None:
    dlqs = [settings.topic_prefix + spec.dlq for spec in CATALOGUE if spec.has_dlq][:2]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(
                dlqs[i % 2], b"{}", key=str(i).encode(), headers=[("x-dlq-reason", f"reason {i}".encode())]
            )
    finally:
        await producer.stop()
    found = await log_scan.dead_letter_headers(settings.kafka_bootstrap_servers, settings.topic_prefix)
    assert sorted(h["x-dlq-reason"] for _, h in found) == [f"reason {i}" for i in range(5)]
    assert {t for t, _ in found} == set(dlqs)
