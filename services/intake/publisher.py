"""Publishing with "never accepted-but-lost": every call returns only after Kafka acknowledged
(acks=all, idempotent); a batch goes in one Kafka transaction, so it is visible whole or not at all
to the (read_committed) consumers. Any failure raises BrokerUnavailable, which the API turns into 503."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.intake.events_body import encode_events
from services.intake.metrics import PUBLISHED
from shared import correlation, tracing
from shared.events import Event
from shared.kafka_security import kafka_client_options
from shared.settings import Settings

PUBLISH_TIMEOUT_S = 10.0
SEND_YIELD_EVERY = 250  # records handed to the producer between two chances for other requests


class BrokerUnavailable(Exception):
    """Kafka did not acknowledge: the client should retry (HTTP 503)."""


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._single: AIOKafkaProducer | None = None
        self._tx: AIOKafkaProducer | None = None
        self._tx_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()

    def _producer(self, transactional: bool) -> AIOKafkaProducer:
        common = {
            **kafka_client_options(self.settings),
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 2,
            "request_timeout_ms": 8000,
            "max_batch_size": 512 * 1024,
            "max_request_size": 16 * 1024 * 1024,
        }
        if transactional:
            # Unique per process: a restarted intake fences its own zombie, never another replica.
            tx_id = f"{self.settings.topic_prefix}intake-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
            return AIOKafkaProducer(transactional_id=tx_id, **common)
        return AIOKafkaProducer(**common)

    async def _ensure(self) -> tuple[AIOKafkaProducer, AIOKafkaProducer]:
        async with self._start_lock:
            if self._single is None or self._tx is None:
                single, tx = self._producer(False), self._producer(True)
                try:
                    await asyncio.wait_for(single.start(), PUBLISH_TIMEOUT_S)
                    await asyncio.wait_for(tx.start(), PUBLISH_TIMEOUT_S)
                except (KafkaError, OSError, TimeoutError) as exc:
                    await _quiet_stop(single, tx)
                    raise BrokerUnavailable(str(exc) or type(exc).__name__)
                self._single, self._tx = single, tx
            return self._single, self._tx

    async def publish(self, topic: str, events: list[Event]) -> None:
        """One event: a plain send. Several: one transaction (publish_encoded)."""
        if len(events) > 1:
            await self.publish_encoded(topic, encode_events(events))
            return
        single, _ = await self._ensure()
        [event] = events
        async with self._unavailable_on_failure():
            await asyncio.wait_for(
                single.send_and_wait(
                    self.settings.topic_prefix + topic,
                    event.model_dump_json().encode(),
                    key=event.kafka_key(),
                    headers=_headers(event),
                ),
                PUBLISH_TIMEOUT_S,
            )
        PUBLISHED.labels(topic).inc()

    async def publish_encoded(self, topic: str, records: list[tuple[bytes, bytes, bytes]]) -> None:
        """A batch as (value, key, event type) per event (events_body.encode_events, also run by the bulk
        worker), sent in one transaction with the request's correlation id and trace context."""
        _, tx = await self._ensure()
        common = _context_headers()
        with_headers = [(value, key, [("x-event-type", kind), *common]) for value, key, kind in records]
        async with self._unavailable_on_failure(), self._tx_lock:
            await asyncio.wait_for(
                self._transaction(tx, self.settings.topic_prefix + topic, with_headers), PUBLISH_TIMEOUT_S * 3
            )
        PUBLISHED.labels(topic).inc(len(records))

    @asynccontextmanager
    async def _unavailable_on_failure(self) -> AsyncIterator[None]:
        """Any Kafka failure drops the producers (the next publish reconnects) and raises BrokerUnavailable."""
        try:
            yield
        except (KafkaError, OSError, TimeoutError) as exc:
            await self.reset()
            raise BrokerUnavailable(str(exc) or type(exc).__name__)

    @staticmethod
    async def _transaction(
        tx: AIOKafkaProducer, name: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]
    ) -> None:
        async with tx.transaction():
            futures = []
            for i, (value, key, headers) in enumerate(records, 1):
                futures.append(await tx.send(name, value, key=key, headers=headers))
                if i % SEND_YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            await asyncio.gather(*futures)

    async def ping(self) -> None:
        single, _ = await self._ensure()
        await asyncio.wait_for(single.client.fetch_all_metadata(), 5)

    async def reset(self) -> None:
        """Drop the producers after a failure; the next publish reconnects."""
        async with self._start_lock:
            producers, self._single, self._tx = (self._single, self._tx), None, None
        await _quiet_stop(*producers)

    async def stop(self) -> None:
        await self.reset()


def _headers(event: Event) -> list[tuple[str, bytes]]:
    """The event's type, the request's correlation id and (tracing on) its W3C trace context."""
    return [("x-event-type", getattr(event, "type", "").encode()), *_context_headers()]


def _context_headers() -> list[tuple[str, bytes]]:
    return [*correlation.kafka_headers(correlation.current()), *tracing.kafka_headers()]


async def _quiet_stop(*producers: AIOKafkaProducer | None) -> None:
    for p in producers:
        if p is not None:
            try:
                await asyncio.wait_for(p.stop(), 5)
            except Exception:  # noqa: BLE001 - already broken
                pass
