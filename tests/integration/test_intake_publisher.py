"""Intake's publisher on real Kafka: a big batch arrives whole, in order, each record with the
request's correlation id; the published counter counts what Kafka acknowledged."""

from __future__ import annotations

import datetime as dt

from services.intake.api import THREAD_BATCH
from services.intake.publisher import Publisher
from shared import correlation
from shared.events import DesilUpdated
from shared.settings import Settings
from shared.topics import PARTICIPANT_EVENTS
from testkit.kafka import TopicReader


async def test_a_big_batch_keeps_order_and_the_correlation_id(settings: Settings) -> None:
    events = [
        DesilUpdated(
            occurred_at=dt.datetime.now(dt.UTC),
            source="DTSEN",
            nik="3674015708900001",  # one key: one partition, so order is observable
            desil=1 + i % 10,
            effective_on=dt.date(2025, 7, 1),
        )
        for i in range(THREAD_BATCH * 2)
    ]
    publisher = Publisher(settings)
    with correlation.bound("batch-77"):
        await publisher.publish(PARTICIPANT_EVENTS.name, events)
    await publisher.stop()

    async with TopicReader(settings, settings.topic_prefix + PARTICIPANT_EVENTS.name) as reader:
        await reader.read_to_end()
        got = reader.raw
    assert [DesilUpdated.model_validate_json(r.value).event_id for r in got] == [e.event_id for e in events]
    assert all(dict(r.headers)[correlation.HEADER] == b"batch-77" for r in got)


async def test_published_counter_counts_what_kafka_acknowledged(settings: Settings) -> None:
    from services.intake.metrics import PUBLISHED
    from services.intake.publisher import BrokerUnavailable

    def published() -> float:
        return PUBLISHED.labels(PARTICIPANT_EVENTS.name)._value.get()

    def event(i: int) -> DesilUpdated:
        nik = f"36740157089{i:05d}"
        return DesilUpdated(
            occurred_at=dt.datetime.now(dt.UTC), source="DTSEN", nik=nik, desil=3, effective_on=dt.date(2025, 7, 1)
        )

    before = published()
    publisher = Publisher(settings)
    await publisher.publish(PARTICIPANT_EVENTS.name, [event(1)])
    await publisher.publish(PARTICIPANT_EVENTS.name, [event(i) for i in range(2, 12)])
    await publisher.stop()
    assert published() == before + 11

    nowhere = Publisher(settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"}))
    try:
        await nowhere.publish(PARTICIPANT_EVENTS.name, [event(20)])
    except BrokerUnavailable:
        pass
    else:
        raise AssertionError("a broker nobody listens on acknowledged")
    await nowhere.stop()
    assert published() == before + 11


async def test_a_batch_in_record_batches_lands_where_send_would_put_each_record(settings: Settings) -> None:
    """The bulk worker's publisher (shared.messaging.BatchPublisher, transactional): larger than one record
    batch per partition, each record on its key's partition (murmur2, as a `send`), in order per NIK, with
    its headers, all committed."""
    from aiokafka.partitioner import DefaultPartitioner

    from services.intake.publisher import PUBLISH_TIMEOUT_S, TUNING
    from shared.messaging import BatchPublisher, Record

    topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
    niks = [f"3674015708{900001 + i:06d}" for i in range(40)]
    records = [
        Record(topic, f'{{"n":{i},"pad":"{"x" * 400}"}}'.encode(), niks[i % 40].encode(), [("x-event-type", b"t")])
        for i in range(3_000)  # about 1.3 MB: several 512 KiB record batches per partition
    ]
    publisher = BatchPublisher.for_settings(
        settings, transactional="intake-test", timeout_s=PUBLISH_TIMEOUT_S * 3, **TUNING
    )
    try:
        await publisher.publish(records)
    finally:
        await publisher.stop()

    async with TopicReader(settings, topic) as reader:
        await reader.read_to_end(timeout=30)
        got = reader.raw
        partitions = sorted(reader.consumer.partitions_for_topic(topic) or ())
    assert len(got) == len(records)
    partitioner = DefaultPartitioner()
    assert all(r.partition == partitioner(r.key, partitions, partitions) for r in got)
    by_nik: dict[bytes, list[bytes]] = {}
    for r in got:
        by_nik.setdefault(r.key, []).append(r.value)
    assert by_nik == {k.encode(): [r.value for r in records if r.key == k.encode()] for k in niks}
    assert all(r.headers == (("x-event-type", b"t"),) or list(r.headers) == [("x-event-type", b"t")] for r in got)
