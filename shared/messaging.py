"""One way to produce to Kafka: records and their headers built in one place, one producer class.

- `Record` is what goes on the wire: the topic's full name (prefix included), key, value, headers.
  `Record.of(topic, event)` is the one place an event becomes a record, `event_headers` the one place
  its headers are made: `x-event-type`, `x-correlation-id` (shared.correlation: the given id, else the
  incoming event's that caused it, else the current one) and, with tracing on, W3C `traceparent`.
  Consumers (shared.kafka.subscribe) read exactly these; the value is the event's JSON, the key its NIK.
- `Producer.publish(records)` returns once Kafka acknowledged every record (acks=all), else raises
  `PublishFailed`. `DirectPublisher` is the implementation: idempotent, or with a transactional id one
  Kafka transaction per call (visible whole or not at all to read_committed consumers).
- The two ways an event leaves a service both end in a DirectPublisher: published directly (intake's
  API, `pbi import`, `pbi dlq replay`, dead letters), or written to an outbox in the state change's
  transaction (shared.outbox.outbox_row) and published by the outbox's relay, or at once after the
  commit by `OutboxRelay.publish_committed(rows)`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, Protocol, Self

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from shared import correlation, tracing
from shared.events import Event
from shared.kafka_security import kafka_client_options
from shared.settings import Settings

EVENT_TYPE = "x-event-type"
SEND_YIELD_EVERY = 250  # records handed to the producer between two chances for other tasks to run
Headers = list[tuple[str, bytes]]  # a list: what aiokafka's record builder takes without a copy


def context_headers(*, cause: uuid.UUID | None = None, correlation_id: str | None = None) -> dict[str, str]:
    """The correlation id (given, else the cause's, else the current one) and the trace context."""
    headers = {}
    if cid := correlation_id or correlation.for_event(cause):
        headers[correlation.HEADER] = cid
    return tracing.inject(headers)


def event_headers(
    event_type: str,
    *,
    cause: uuid.UUID | None = None,
    correlation_id: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every event's headers, as text (an outbox row keeps them so); `extra` is added last."""
    headers = {EVENT_TYPE: event_type}
    if cid := correlation_id or correlation.for_event(cause):
        headers[correlation.HEADER] = cid
    tracing.inject(headers)
    if extra:
        headers.update(extra)
    return headers


def wire_headers(headers: Mapping[str, Any]) -> Headers:
    return [(k, (v if isinstance(v, str) else str(v)).encode()) for k, v in headers.items()]


class Record(NamedTuple):
    topic: str  # the full name, prefix included
    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()

    @classmethod
    def of(
        cls,
        topic: str,
        event: Event,
        *,
        cause: uuid.UUID | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Record:
        meta = event_headers(getattr(event, "type", ""), cause=cause, correlation_id=correlation_id, extra=headers)
        return cls(topic, event.model_dump_json().encode(), event.kafka_key(), wire_headers(meta))

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Record:
        """An outbox row (shared.outbox.outbox_row, or as read back from the table)."""
        return cls(row["topic"], row["payload"], row["key"], wire_headers(row["headers"] or {}))


def encoded_records(topic: str, encoded: Iterable[tuple[bytes, bytes, bytes]]) -> list[Record]:
    """Events already encoded as (value, key, event type) (intake's batches): the headers Record.of
    gives, with the current correlation id and trace context made once for all of them."""
    context = wire_headers(context_headers())
    return [Record(topic, value, key, [(EVENT_TYPE, kind), *context]) for value, key, kind in encoded]


class IdLease(Protocol):
    """Transactional ids leased to a process (shared.tx_lease.TransactionalIdLease; not imported here: the
    intake's worker process publishes without a database)."""

    async def current(self) -> str: ...


class Producer(Protocol):
    async def publish(self, records: Sequence[Record]) -> None:
        """Returns once Kafka acknowledged every record; raises PublishFailed otherwise."""


class PublishFailed(Exception):
    """Kafka did not acknowledge every record (unreachable, refused, too slow): none may be counted as
    published. After a transactional publish, none of them is visible to read_committed consumers."""


def unique_transactional_id(name: str) -> str:
    """Unique per process: a restarted process never fences another replica's producer."""
    return f"{name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class DirectPublisher:
    """An aiokafka producer with acks=all and idempotence, started on first use; after any failure it is
    dropped and the next call starts afresh. `timeout_s` bounds starting and each publish."""

    def __init__(
        self,
        client_options: Mapping[str, Any],
        *,
        transactional_id: str | IdLease | None = None,
        timeout_s: float | None = None,
        **tuning: Any,
    ) -> None:
        # TLS / SASL login from shared.kafka_security.kafka_client_options; tuning: linger_ms, batch sizes...
        self.options = {"linger_ms": 5, "request_timeout_ms": 15_000, **client_options, **tuning}
        self.options.update(acks="all", enable_idempotence=True)
        # A lease (shared.tx_lease): the id a restarted process takes over, so it aborts what its dead
        # predecessor left open at once; the producer starts again if the lease had to change it.
        self._lease = None if transactional_id is None or isinstance(transactional_id, str) else transactional_id
        if isinstance(transactional_id, str) and transactional_id:
            self.options["transactional_id"] = transactional_id
        self.transactional, self.timeout_s = bool(transactional_id), timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._started_as: str | None = None  # the leased id the producer started with
        self._start_lock, self._transaction_lock = asyncio.Lock(), asyncio.Lock()

    @classmethod
    def for_settings(cls, settings: Settings, *, transactional: str | IdLease | None = None, **kwargs: Any) -> Self:
        """`transactional`: a name (e.g. "intake") for one Kafka transaction per publish, under an id unique to
        this process; or a lease of ids (shared.tx_lease), which a process restarted after a crash takes over."""
        if isinstance(transactional, str):
            transactional = unique_transactional_id(settings.topic_prefix + transactional)
        return cls(kafka_client_options(settings), transactional_id=transactional, **kwargs)

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if not self.transactional:
            await (await self.send(records))
            return
        async with self._failing(), self._transaction_lock:  # a transactional producer runs one at a time
            if (
                self._lease is not None
                and self._producer is not None
                and await self._lease.current() != self._started_as
            ):
                await self.reset()  # the lease changed hands (its connection was lost): the id is another's now
            producer = await self._started()
            await asyncio.wait_for(self._in_transaction(producer, records), self.timeout_s)

    async def send(self, records: Sequence[Record]) -> asyncio.Future[None]:
        """Hand the records to the producer in order now; await the result for Kafka's acks (lets a caller
        prepare the next records meanwhile). Not for a transactional publisher."""
        if self.transactional:
            raise TypeError("a transactional publisher publishes each call in one transaction: use publish()")
        async with self._failing():
            futures = await self._hand_over(await self._started(), records)
        return asyncio.ensure_future(self._acknowledged(futures))

    async def start(self) -> None:
        async with self._failing():
            await self._started()

    async def ping(self) -> None:
        async with self._failing():
            producer = await self._started()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 5)

    async def reset(self) -> None:
        """Drop the producer (stopped quietly); the next call starts a new one."""
        async with self._start_lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:  # noqa: BLE001 - already broken
                pass

    stop = reset

    async def __aenter__(self) -> DirectPublisher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _started(self) -> AIOKafkaProducer:
        async with self._start_lock:
            if self._producer is None:
                options = self.options
                if self._lease is not None:
                    self._started_as = await self._lease.current()
                    options = {**options, "transactional_id": self._started_as}
                producer = AIOKafkaProducer(**options)
                try:
                    await asyncio.wait_for(producer.start(), self.timeout_s)
                except BaseException:
                    try:
                        await asyncio.wait_for(producer.stop(), 5)
                    except Exception:  # noqa: BLE001 - it never started
                        pass
                    raise
                self._producer = producer
            return self._producer

    @staticmethod
    async def _hand_over(producer: AIOKafkaProducer, records: Sequence[Record]) -> list[asyncio.Future[Any]]:
        futures = []
        for i, r in enumerate(records, 1):
            headers = r.headers if type(r.headers) is list else list(r.headers)
            futures.append(await producer.send(r.topic, r.value, key=r.key, headers=headers))
            if i % SEND_YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return futures

    async def _acknowledged(self, futures: list[asyncio.Future[Any]]) -> None:
        async with self._failing():
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout_s)

    async def _in_transaction(self, producer: AIOKafkaProducer, records: Sequence[Record]) -> None:
        async with producer.transaction():
            await asyncio.gather(*await self._hand_over(producer, records))

    @asynccontextmanager
    async def _failing(self) -> AsyncIterator[None]:
        """A Kafka failure drops the producer and raises PublishFailed (its cause kept: shared.errors)."""
        try:
            yield
        except (KafkaError, OSError, TimeoutError) as exc:
            await self.reset()
            raise PublishFailed(str(exc) or type(exc).__name__) from exc


BATCH_BYTES = 512 * 1024  # a record batch's size (the broker takes up to 1 MiB per batch by default)
YIELD_EVERY = 1000  # records put into batches between two chances for the loop's other tasks to run


class BatchPublisher(DirectPublisher):
    """A DirectPublisher that hands a call's records to Kafka as whole record batches, one per partition
    (and BATCH_BYTES), each acknowledged as one: a per-record `send` (its partitioning, its future, its
    callback) cost twice as much CPU. Partitioned by key as `send` does (murmur2 of the key, aiokafka's
    DefaultPartitioner), so a NIK's events keep their partition and their order. The outbox relays use it
    plain; with a transactional id (`for_settings(..., transactional="intake")`: intake's batches, its bulk
    worker's) each call is one Kafka transaction, visible whole or not at all, as DirectPublisher's."""

    _partitioner = DefaultPartitioner()

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self.transactional:
            await super().publish(records)  # one at a time, each in its transaction (_in_transaction)
            return
        async with self._failing():
            producer = await self._started()
            futures = await self._batches(producer, records)
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout_s)

    async def _in_transaction(self, producer: AIOKafkaProducer, records: Sequence[Record]) -> None:
        async with producer.transaction():
            await asyncio.gather(*await self._batches(producer, records))

    async def _batches(self, producer: AIOKafkaProducer, records: Sequence[Record]) -> list[asyncio.Future[Any]]:
        by_partition: dict[tuple[str, int], list[Record]] = {}
        partitions: dict[str, list[int]] = {}
        for r in records:
            if (known := partitions.get(r.topic)) is None:
                known = partitions[r.topic] = sorted(await producer.partitions_for(r.topic))
            by_partition.setdefault((r.topic, self._partitioner(r.key, known, known)), []).append(r)
        futures, appended = [], 0
        for (topic, partition), rs in by_partition.items():
            batch = producer.create_batch()
            for r in rs:
                headers = r.headers if type(r.headers) is list else list(r.headers)
                if batch.append(key=r.key, value=r.value, timestamp=None, headers=headers) is None:
                    futures.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    if batch.append(key=r.key, value=r.value, timestamp=None, headers=headers) is None:
                        raise ValueError(f"a record of {len(r.value)} bytes is larger than a batch")
                appended += 1
                if appended % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures
