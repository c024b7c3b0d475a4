"""Gathered batch consumers on real Kafka (shared.kafka `subscribe(..., gather=True)`): the broker holds a fetch
until GATHER_BYTES have landed or GATHER_WAIT_MS have passed, so records that come a few at a time (delivery
states, decisions for a read model) reach the handler in batches of several, not a transaction each. An
ungathered consumer of the same records gets each as soon as it lands (its batches are not counted: how many
it gets depends on the machine's pace). Nothing is lost or handled twice either way."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer

from shared.events import AnyEvent, NotificationUpdated, any_event_adapter
from shared.kafka import GATHER_WAIT_MS, make_broker, subscribe
from shared.settings import Settings
from shared.topics import NOTIFICATION_EVENTS
from testkit.polling import eventually

pytestmark = pytest.mark.integration

RECORDS = 20
PAUSE_S = 0.03  # between two records, each acknowledged by the broker before the next is sent


def update(i: int) -> NotificationUpdated:
    return NotificationUpdated(
        occurred_at=dt.datetime.now(dt.UTC),
        source="notifier",
        nik=f"36740157089{i + 1:05d}",
        message_id=uuid.uuid4(),
        kind="DECISION",
        channel="WHATSAPP",
        state="DELIVERED",
    )  # type: ignore[arg-type]


async def test_records_that_come_one_at_a_time_reach_a_gathering_consumer_in_few_batches(settings: Settings) -> None:
    batches: dict[bool, list[list[uuid.UUID]]] = {True: [], False: []}
    broker = make_broker(settings, "test-gather")

    def handler_for(gather: bool) -> Callable[[list[AnyEvent]], Awaitable[None]]:
        async def on_updates(events: list[AnyEvent]) -> None:
            batches[gather].append([e.event_id for e in events])

        return on_updates

    for gather in (True, False):
        subscribe(
            broker,
            NOTIFICATION_EVENTS,
            group=f"{settings.topic_prefix}test-gather-{gather}",
            adapter=any_event_adapter,
            service="test",
            prefix=settings.topic_prefix,
            batch=True,
            max_records=500,
            gather=gather,
        )(handler_for(gather))
    updates = [update(i) for i in range(RECORDS)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await broker.start()
    await producer.start()
    try:
        # Both consumers have their partitions before the first record is sent (auto_offset_reset is earliest
        # anyway: nothing is missed either way).
        async def assigned() -> bool:
            return all(s.consumer and s.consumer.assignment() for s in broker.subscribers)  # type: ignore[attr-defined]

        await eventually(assigned)
        started = time.monotonic()
        for u in updates:
            await producer.send_and_wait(settings.topic_prefix + NOTIFICATION_EVENTS.name, u.model_dump_json().encode())
            await asyncio.sleep(PAUSE_S)
        span_s = time.monotonic() - started
        expected = sorted(u.event_id for u in updates)
        for gather in (True, False):

            async def all_handled(g: bool = gather) -> bool:
                return sum(map(len, batches[g])) >= RECORDS

            await eventually(all_handled)
            assert sorted(i for b in batches[gather] for i in b) == expected  # each once
        # A fetch answers at most every GATHER_WAIT_MS while records trickle in: the records sent over span_s
        # come in about span_s / wait batches, one or two more for where the windows fall. On an idle machine
        # 20 records over 0.6-0.7 s: at most 3 batches (an ungathered consumer: 10-20).
        assert len(batches[True]) <= span_s / (GATHER_WAIT_MS / 1000) + 2, (span_s, [len(b) for b in batches[True]])
    finally:
        await producer.stop()
        await broker.stop()
