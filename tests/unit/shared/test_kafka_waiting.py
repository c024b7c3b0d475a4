"""Batch consumers wait in the fetch for records (shared.kafka._wait_for_records), with no pause between empty
batches: FastStream's own batch loop sleeps batch_timeout_ms after an empty poll, and a record landing then waited."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition

from shared.events import any_event_adapter
from shared.kafka import GATHER_BYTES, GATHER_WAIT_MS, WAIT_FOR_RECORDS_MS, make_broker, subscribe
from shared.settings import Settings
from shared.topics import DECISIONS, EMERGENCY_REQUESTS


class Fetcher:
    """An AIOKafkaConsumer's getmany: each call returns the next of `answers` and records how it was asked."""

    def __init__(self, *answers: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        self.answers, self.asked = list(answers), []

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        self.asked.append((timeout_ms, max_records))
        return self.answers.pop(0)


def record(topic: str, partition: int, offset: int) -> ConsumerRecord:
    return ConsumerRecord(topic, partition, offset, 0, 0, b"k", b"{}", None, 1, 2, [])


def subscriber_of(batch: bool, spec: Any = DECISIONS, gather: bool = False) -> Any:
    broker = make_broker(Settings(), "test")

    async def handler(events: list[Any]) -> None: ...

    subscribe(
        broker, spec, group="g", adapter=any_event_adapter, service="test", batch=batch, max_records=7, gather=gather
    )(handler)
    return broker.subscribers[0]


def test_an_empty_poll_returns_at_once_after_waiting_in_the_fetch_not_in_a_sleep() -> None:
    subscriber, fetcher = subscriber_of(batch=True), Fetcher({})

    async def poll() -> tuple[ConsumerRecord, ...]:
        # FastStream's own get_msg sleeps batch_timeout_ms after an empty getmany: under a 50 ms limit it would
        # not return at all with a 200 ms batch_timeout, so this fails on it.
        subscriber.batch_timeout_ms = 5000
        return await asyncio.wait_for(subscriber.get_msg(fetcher), timeout=0.05)

    assert asyncio.run(poll()) == ()
    assert fetcher.asked == [(WAIT_FOR_RECORDS_MS, 7)]


def test_the_records_of_every_partition_fetched_come_as_one_batch_in_partition_order() -> None:
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    fetched = {a: [record("t", 0, 1), record("t", 0, 2)], b: [record("t", 1, 5)]}
    got = asyncio.run(subscriber_of(batch=True).get_msg(Fetcher(fetched)))
    assert [(r.partition, r.offset) for r in got] == [(0, 1), (0, 2), (1, 5)]


def test_a_record_by_record_subscriber_keeps_faststream_s_own_fetch() -> None:
    subscriber = subscriber_of(batch=False, spec=EMERGENCY_REQUESTS)
    assert "get_msg" not in vars(subscriber)


def test_a_gathering_subscriber_asks_the_broker_to_hold_its_fetch_and_others_do_not() -> None:
    # What its AIOKafkaConsumer is built with (FastStream passes these through); the effect on real Kafka:
    # tests/integration/test_kafka_gather.py.
    gathered = subscriber_of(batch=True, gather=True)._connection_args
    assert (gathered["fetch_min_bytes"], gathered["fetch_max_wait_ms"]) == (GATHER_BYTES, GATHER_WAIT_MS)
    assert subscriber_of(batch=True)._connection_args["fetch_min_bytes"] == 1  # the broker answers with the first


def test_a_record_by_record_subscriber_cannot_gather() -> None:
    with pytest.raises(ValueError, match="batch"):
        subscriber_of(batch=False, spec=EMERGENCY_REQUESTS, gather=True)
