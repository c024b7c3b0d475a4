"""Publishing with "never accepted-but-lost": every call returns only after Kafka acknowledged
(acks=all, idempotent); a batch goes in one Kafka transaction, so it is visible whole or not at all
to the (read_committed) consumers. Any failure raises BrokerUnavailable, which the API turns into 503.
Records, headers and producers are shared.messaging's."""

from __future__ import annotations

from typing import Any

from services.intake.events_body import encode_events
from services.intake.metrics import PUBLISHED
from shared.events import Event
from shared.messaging import BatchPublisher, DirectPublisher, IdLease, PublishFailed, Record, encoded_records
from shared.settings import Settings
from shared.topics import APPEALS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, TopicSpec

PUBLISH_TIMEOUT_S = 10.0
TUNING: dict[str, Any] = {
    "linger_ms": 2,
    "request_timeout_ms": 8000,
    "max_batch_size": 512 * 1024,
    "max_request_size": 16 * 1024 * 1024,
}

# Every topic intake writes (its API's events, requests and appeals; a big batch's participant events by the
# bulk worker, to the address `Publisher.address` gives): app.py declares these for the AsyncAPI document.
TOPICS: tuple[TopicSpec, ...] = (PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, EMERGENCY_REQUESTS, APPEALS)

BrokerUnavailable = PublishFailed  # Kafka did not acknowledge: the client should retry (HTTP 503)


class PublishOutcomeUnknown(PublishFailed):
    """The record was handed to Kafka but its acknowledgement did not come (a timeout, a broker lost
    meanwhile): Kafka may have committed it. Still a 503 (nothing is promised), but what was recorded
    for the request is kept, for the decision that may follow (api._accept_request)."""


class Publisher:
    """A lone event is a plain idempotent send; several go in one transaction (intake's own producer)."""

    topics = TOPICS

    def __init__(self, settings: Settings, transactional_ids: IdLease | None = None) -> None:
        """`transactional_ids`: the HTTP process's lease (shared.tx_lease), so that its successor after a crash
        aborts the transaction it left open at once; without one, an id of this process's own."""
        self.settings = settings
        self._single = DirectPublisher.for_settings(settings, timeout_s=PUBLISH_TIMEOUT_S, **TUNING)
        self._batch = BatchPublisher.for_settings(
            settings, transactional=transactional_ids or "intake", timeout_s=PUBLISH_TIMEOUT_S * 3, **TUNING
        )
        self._addresses = {spec.name: settings.topic_prefix + spec.name for spec in self.topics}

    def address(self, topic: str) -> str:
        """The prefixed topic of one of `topics`; any other is a bug (the AsyncAPI document would not say it)."""
        try:
            return self._addresses[topic]
        except KeyError:
            raise ValueError(f"intake writes no topic {topic!r}: add it to publisher.TOPICS") from None

    async def publish(self, topic: str, events: list[Event]) -> None:
        """One event: a plain send. Several: one transaction (publish_encoded)."""
        if len(events) > 1:
            await self.publish_encoded(topic, encode_events(events))
            return
        [event] = events
        acknowledged = await self._single.send([Record.of(self.address(topic), event)])
        try:  # refused before this line: Kafka never saw it; after: it may have it
            await acknowledged
        except PublishFailed as exc:
            raise PublishOutcomeUnknown(str(exc)) from exc
        PUBLISHED.labels(topic).inc()

    async def publish_encoded(self, topic: str, records: list[tuple[bytes, bytes, bytes]]) -> None:
        """A small batch as (value, key, event type) per event (events_body.encode_events), sent in one
        transaction with the request's correlation id and trace context. A big batch is published by the
        bulk worker process with its own producer (services.intake.bulk_worker)."""
        await self._batch.publish(encoded_records(self.address(topic), records))
        PUBLISHED.labels(topic).inc(len(records))

    async def ping(self) -> None:
        await self._single.ping()

    async def start_transactions(self) -> None:
        """The batch producer started now: with a leased id, whatever a crashed predecessor left open under it is
        aborted at once (not when Kafka's transaction timeout ends it, a minute later)."""
        await self._batch.start()

    async def reset(self) -> None:
        """Drop the producers after a failure; the next publish reconnects."""
        await self._single.reset()
        await self._batch.reset()

    async def stop(self) -> None:
        await self.reset()
