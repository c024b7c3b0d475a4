"""Raw ceiling: plain aiokafka produce -> consume of N messages of the wave's size, no processing.
Every other figure of `make bench` is also printed as a ratio to this one."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from pbi_cli.demo_data import generate


def sample_payload() -> bytes:
    """A deactivation event as intake publishes it (same size on the wire)."""
    person = generate(scale=0.0001, seed=1).people[0]
    return (
        f'{{"event_id":"{uuid.uuid4()}","schema_version":1,"occurred_at":"2026-11-24T08:00:00+07:00",'
        f'"source":"SIKS-NG","nik":"{person.nik}","type":"participant.deactivated",'
        f'"deactivated_on":"{person.deactivated_on}","reason":"{person.reason}","funding":"APBN",'
        f'"name":"{person.name}","phone":"+6281234567890","region":{{"province":"Banten",'
        f'"regency":"Kota Tangerang Selatan","district":"{person.district}"}}}}'
    ).encode()


async def measure(bootstrap: str, n: int, partitions: int = 12) -> dict[str, float]:
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1)])
    await admin.close()
    payload = sample_payload()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    start = time.perf_counter()
    futures = [await producer.send(topic, payload, key=str(i % 50_000).encode()) for i in range(n)]
    await asyncio.gather(*futures)
    produced_s = time.perf_counter() - start
    await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{topic}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    await consumer.start()
    seen, c_start = 0, time.perf_counter()
    while seen < n:
        batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
        seen += sum(len(v) for v in batch.values())
    consumed_s = time.perf_counter() - c_start
    await consumer.commit()
    await consumer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.delete_topics([topic])
    await admin.close()
    return {
        "produce_msgs_per_s": n / produced_s,
        "consume_msgs_per_s": n / consumed_s,
        "raw_ceiling_msgs_per_s": n / (produced_s + consumed_s),
        "message_bytes": len(payload),
    }
