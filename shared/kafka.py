"""Kafka plumbing every service uses, with safe defaults.

- Producers: acks=all, idempotence on; a 202 or a commit only follows a broker ack.
- Consumers: a named group, auto-commit off, offsets committed only after the handler's
  effect is durable (manual ack), read_committed so aborted transactions are never seen.
- Poison records (not JSON, unknown type, schema violation) go to the topic's dead-letter
  topic with the reason in headers and never stop the partition (published by shared.messaging's
  DirectPublisher, like every record the project produces).
- Handler failures: transient ones (shared.errors.is_transient: database or broker unreachable) are
  retried until they succeed, never dead-lettered, so valid data is not parked because a dependency
  blinked; other failures are retried a few times, then the batch is halved until the records that fail
  on their own stand alone: every part that succeeds is applied, those records alone are dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import types
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, count
from typing import Any, TypeVar, cast

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, Counter
from pydantic import TypeAdapter, ValidationError

from shared import correlation, tracing
from shared.asyncapi import carried, declare_publisher, describe_subscriber, models_of, subscriber_title
from shared.errors import is_transient
from shared.events import validate_as_sent
from shared.kafka_security import kafka_client_options, kafka_security
from shared.masking import mask_personal_data
from shared.messaging import DirectPublisher, Record, wire_headers
from shared.settings import Settings
from shared.topics import CATALOGUE, DLQ_RETENTION_MS, Replication, TopicSpec, replication_for

log = structlog.get_logger(__name__)
T = TypeVar("T")

HEADER_REASON = "x-dlq-reason"
HEADER_ERROR = "x-dlq-error"
HEADER_RETRIES = "x-retry-count"
HEADER_ORIGIN = "x-original-topic"
HEADER_PARTITION = "x-original-partition"
HEADER_OFFSET = "x-original-offset"
HEADER_GROUP = "x-consumer-group"
HEADER_CORRELATION = correlation.HEADER
DECODE_YIELD_EVERY = 200  # records parsed between two chances for other tasks (an emergency) to run

# How long a batch consumer waits in the fetch for records (_wait_for_records). A record that lands ends the wait
# at once, so the length costs no latency; it only sets how often an idle consumer wakes up.
WAIT_FOR_RECORDS_MS = 1000

# A gathering consumer's fetch (`subscribe(..., gather=True)`): the broker answers when GATHER_BYTES have landed
# on its partitions or GATHER_WAIT_MS have passed. For mirrors nobody waits on whose records come a few at a time
# (delivery states for the dashboard, decisions for intake's read model): at 20-50 records a second each came
# as a batch of one or two, a transaction each (registry-bulk 0.9 CPU ms a delivery state, issue 20). A wave's
# topics fill their batches anyway; they are not gathered: their last records would wait for the bytes.
GATHER_BYTES = 256 * 1024
GATHER_WAIT_MS = 500

DEAD_LETTERS = Counter(
    "pbi_kafka_dead_letters_total",
    "Records written to a dead-letter topic",
    ["topic", "service"],
)


# Each broker's Kafka login (kafka_client_options), for the producer of its subscribers' dead letters.
_CLIENT_OPTIONS: weakref.WeakKeyDictionary[KafkaBroker, dict[str, Any]] = weakref.WeakKeyDictionary()

# A consumer that has held one batch this long (handling it, then committing its offsets) is stuck, not slow: by
# then Kafka has given its partitions to another member (max.poll.interval.ms, aiokafka's default 300 s), and a
# process of one member per group reads nothing more until it restarts (`stalled_consumers`, the liveness check).
STALLED_AFTER_S = 300.0
# Per broker, what each of its consumers holds now: its name and since when (time.monotonic()).
_HOLDING: weakref.WeakKeyDictionary[KafkaBroker, dict[int, tuple[str, float]]] = weakref.WeakKeyDictionary()
_CONSUMER_IDS = count()


def stalled_consumers(broker: KafkaBroker, now: float | None = None) -> list[str]:
    """The consumers of `broker` (topic and group) that have held one batch longer than STALLED_AFTER_S."""
    now = time.monotonic() if now is None else now
    return sorted(name for name, since in _HOLDING.get(broker, {}).values() if now - since > STALLED_AFTER_S)


def make_broker(settings: Settings, client_id: str, **kwargs: Any) -> KafkaBroker:
    """The one way services build a broker: idempotent producer, acks from all replicas.

    FastStream logs every message received and processed; at a wave's tens of thousands of
    records a second that is a large share of the CPU, so those lines go at DEBUG."""
    broker = KafkaBroker(
        # Every broker of a comma-separated list (a cluster): FastStream takes one string as one address.
        [server.strip() for server in settings.kafka_bootstrap_servers.split(",")],
        client_id=client_id,
        # FastStream's consumer and publisher metrics (faststream_received_messages_total, ..._duration_seconds,
        # ..._in_process, faststream_published_messages_total...), labelled app_name=client_id, on /metrics.
        middlewares=(KafkaPrometheusMiddleware(registry=REGISTRY, app_name=client_id), *kwargs.pop("middlewares", ())),
        security=kafka_security(settings),
        # Where topics are Strimzi's, FastStream must not try to create its subscribers' topics either.
        allow_auto_create_topics=settings.kafka_manage_topics,
        log_level=kwargs.pop("log_level", logging.DEBUG),
        acks="all",
        enable_idempotence=True,
        linger_ms=kwargs.pop("linger_ms", 5),
        request_timeout_ms=kwargs.pop("request_timeout_ms", 15_000),
        **kwargs,
    )
    _CLIENT_OPTIONS[broker] = kafka_client_options(settings)
    return broker


async def ensure_topics(settings: Settings, specs: Sequence[TopicSpec] = CATALOGUE) -> list[str]:
    """Create the catalogue's topics (and their dead-letter topics) if missing; idempotent.

    Replication follows the cluster (shared.topics.replication_for): three copies and min.insync.replicas=2
    on a cluster of three brokers or more (`make up KAFKA_BROKERS=3`), one on a single broker; an explicit
    KAFKA_REPLICATION_FACTOR wins. Brokers are counted as the cluster's metadata lists them (the live ones)."""
    if not settings.kafka_manage_topics:
        return []  # the cluster's topics (Strimzi KafkaTopic): this service's Kafka user may not create any
    admin = AIOKafkaAdminClient(**kafka_client_options(settings), request_timeout_ms=15_000)
    await admin.start()
    try:
        # KAFKA_REPLICATION_FACTOR given (environment or argument): that many copies; otherwise the cluster's.
        given = "kafka_replication_factor" in settings.model_fields_set
        brokers = len((await admin.describe_cluster())["brokers"])
        replication = replication_for(brokers, settings.kafka_replication_factor if given else None)
        existing = set(await admin.list_topics())
        missing = [t for t in topics_to_create(settings, specs, replication) if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica won the race
        return [t.name for t in missing]
    finally:
        await admin.close()


def topics_to_create(settings: Settings, specs: Sequence[TopicSpec], replication: Replication) -> list[NewTopic]:
    """The catalogue's topics and dead-letter topics as the admin client creates them."""
    prefix = settings.topic_prefix
    copies = {"min.insync.replicas": str(replication.min_insync)}
    new: list[NewTopic] = []
    for spec in specs:
        partitions = settings.kafka_partitions_override or spec.partitions
        configs = {"retention.ms": str(spec.retention_ms), "cleanup.policy": spec.cleanup_policy, **copies}
        new.append(NewTopic(prefix + spec.name, partitions, replication.factor, topic_configs=configs | spec.configs))
        if spec.has_dlq:
            dlq_configs = {"retention.ms": str(DLQ_RETENTION_MS), **copies}
            new.append(NewTopic(prefix + spec.dlq, 1, replication.factor, topic_configs=dlq_configs))
    return new


def describe_validation_error(exc: ValidationError) -> str:
    """Field paths and messages, never the offending input (it may hold a whole NIK)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return mask_personal_data("schema violation: " + "; ".join(parts))


def decode_record(record: ConsumerRecord, adapter: TypeAdapter[T]) -> T:
    """Decode one record or raise PoisonRecord with a reason a person can act on."""
    if record.value is None:
        raise PoisonRecord("empty record value (tombstone) on a topic that carries events")
    try:
        # Parse and validate in one pass, straight to pydantic-core (TypeAdapter.validate_json's own
        # argument checks were 4% of decoding a wave event).
        return adapter.validator.validate_json(record.value)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise PoisonRecord(f"invalid JSON: {errors[0]['msg']}")
    # A deactivation with an odd reason or number (written by something other than intake) is a fact all the
    # same: sorted out as intake sorts what a source sends, else refused.
    try:
        return validate_as_sent(adapter.validator.validate_python, json.loads(record.value))
    except ValidationError as exc:
        raise PoisonRecord(describe_validation_error(exc))


class PoisonRecord(Exception):
    """A record that can never be processed as it is; it belongs in the dead-letter topic."""


@dataclass
class RetryPolicy:
    attempts: int = 3  # for non-transient failures, before dead-lettering
    first_delay_s: float = 0.2
    max_delay_s: float = 5.0


def dead_letter_record(record: ConsumerRecord, reason: str, error: str, retries: int, group: str) -> Record:
    """The record as it came (value, key, its own headers) for `<topic>.dlq`, the failure in x-dlq-* headers.
    record.topic already carries the prefix: the dead-letter topic is named from it exactly."""
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    headers.update(
        {
            HEADER_REASON: mask_personal_data(reason)[:1000],
            HEADER_ERROR: error,
            HEADER_RETRIES: str(retries),
            HEADER_ORIGIN: record.topic,
            HEADER_PARTITION: str(record.partition),
            HEADER_OFFSET: str(record.offset),
            HEADER_GROUP: group,
        }
    )
    return Record(f"{record.topic}.dlq", record.value or b"", record.key, wire_headers(headers))


class DeadLetters:
    """Publishes records that cannot be processed to `<topic>.dlq`, reason in the headers. Dead letters are
    rare: a producer (DirectPublisher, the broker's login) is opened for a delivery that has some, and closed."""

    def __init__(self, client_options: Mapping[str, Any], service: str, group: str) -> None:
        self.client_options, self.service, self.group = client_options, service, group
        self.count = 0

    async def send(self, failed: Sequence[tuple[ConsumerRecord, str, str, int]], prefix: str) -> None:
        """(record, reason, error, retries) each; returns once Kafka acknowledged them all."""
        if not failed:
            return
        dead = [dead_letter_record(record, reason, error, n, self.group) for record, reason, error, n in failed]
        async with DirectPublisher(self.client_options) as producer:
            await producer.publish(dead)
        for record, reason, error, _ in failed:
            self.count += 1
            DEAD_LETTERS.labels(topic=record.topic.removeprefix(prefix), service=self.service).inc()
            log.warning(
                "dead_lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=mask_personal_data(reason),
                error=error,
                group=self.group,
            )


async def _with_retries(call: Callable[[], Awaitable[None]], policy: RetryPolicy, what: str) -> BaseException | None:
    """Run `call` until it succeeds; returns the last error once non-transient attempts run out."""
    delay, failures = policy.first_delay_s, 0
    while True:
        try:
            await call()
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below
            if is_transient(exc):
                log.warning(
                    "transient_failure_retrying",
                    what=what,
                    error=type(exc).__name__,
                    detail=mask_personal_data(str(exc))[:300],
                )
            else:
                failures += 1
                if failures >= policy.attempts:
                    return exc
                log.warning(
                    "handler_failed_retrying",
                    what=what,
                    attempt=failures,
                    error=type(exc).__name__,
                    detail=mask_personal_data(str(exc))[:300],
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, policy.max_delay_s)


# aiokafka's background tasks of a consumer. Each ends only when its consumer stops; one that ended while the
# consumer runs has died, and aiokafka does not always say so. A dead metadata task (a RuntimeError on a write to a
# closed connection, aio-libs/aiokafka#1038) leaves every coordinator lookup, so every rejoin and offset commit,
# waiting for a metadata update that never comes, while the consumer polls on and reads nothing; a dead coordinator
# task makes every poll raise, and FastStream restarts the poll loop for ever. Private names: the integration test
# (tests/integration/test_consumer_tasks.py) kills one for real, so an aiokafka that renames them fails it.
_BACKGROUND_TASKS = {
    "metadata": ("_client", "_sync_task"),
    "coordination": ("_coordinator", "_coordination_task"),
    "fetch": ("_fetcher", "_fetch_task"),
}


def dead_consumers(broker: KafkaBroker) -> list[str]:
    """The running consumers of `broker` (topic and group) one of whose aiokafka background tasks has ended."""
    dead = []
    for subscriber in broker.subscribers:
        consumer = getattr(subscriber, "consumer", None)
        if consumer is None or not subscriber.running or getattr(consumer, "_closed", True):
            continue
        ended = [
            task_name
            for task_name, (owner, attribute) in _BACKGROUND_TASKS.items()
            if (task := getattr(getattr(consumer, owner, None), attribute, None)) is not None and task.done()
        ]
        if ended:
            topics = ", ".join(getattr(subscriber, "topic_names", ()))
            dead.append(f"{topics} ({getattr(consumer, '_group_id', None)}: {', '.join(ended)} task ended)")
    return sorted(dead)


async def _the_message(message: KafkaMessage) -> KafkaMessage:
    """What a handler is called with: FastStream's message, whose raw records the handler decodes (decode_record
    below). FastStream's own decoding would parse the JSON of every record of a batch once more, for nothing; and
    a handler that took the message as a context field (`msg: KafkaMessage`) had FastDepends resolve that field in
    a worker thread, a thread hop per message or batch (session 16).

    A weak proxy: FastStream caches a decoded body on its message, and the message itself there made a reference
    cycle that only the cyclic collector frees. With the services' raised collection thresholds
    (shared.runtime.tune_for_latency) every batch's records then lived on: bulk processes grew by 50-120 MB in
    `make bench` (registry-bulk 236 -> 360 MB). The handler runs while FastStream holds the message."""
    return cast(KafkaMessage, weakref.proxy(message))


def subscribe(
    broker: KafkaBroker,
    spec: TopicSpec,
    *,
    group: str,
    adapter: TypeAdapter[T],
    service: str,
    prefix: str = "",
    batch: bool = False,
    max_records: int = 500,
    retry: RetryPolicy | None = None,
    gather: bool = False,
    **subscriber_kwargs: Any,
) -> Callable[[Callable[[list[T]], Awaitable[None]]], DeadLetters]:
    """Register `handler(events: list[T])` on `spec`'s topic with the safe defaults above.

    The handler gets the decoded events of one record (batch=False) or of one fetched
    batch (batch=True), in partition order, and must be idempotent: after a crash the
    records since the last commit are delivered again.

    A batch consumer waits in the fetch until records land (_wait_for_records), then handles them at once:
    whether it reads a wave or an emergency, nothing waits for a polling pace. `gather`: the broker holds the
    fetch until GATHER_BYTES or GATHER_WAIT_MS (batch consumers that nobody waits on, see GATHER_BYTES).
    """
    policy = retry or RetryPolicy()
    if gather:
        if not batch:
            raise ValueError("gather=True is for batch consumers")
        subscriber_kwargs = {"fetch_min_bytes": GATHER_BYTES, "fetch_max_wait_ms": GATHER_WAIT_MS} | subscriber_kwargs

    if broker not in _CLIENT_OPTIONS:
        raise ValueError("subscribe() needs a broker made by make_broker: its dead letters log in as it does")

    def register(handler: Callable[[list[T]], Awaitable[None]]) -> DeadLetters:
        dead_letters = DeadLetters(_CLIENT_OPTIONS[broker], service, group)
        title = subscriber_title(broker, service, prefix + spec.name, group)
        subscriber = broker.subscriber(
            prefix + spec.name,
            decoder=_the_message,
            group_id=group,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            batch=batch,
            max_records=max_records if batch else None,
            title=title or None,
            include_in_schema=bool(title),
            description=f"{spec.description}. Key: NIK. Read by the consumer group {group}.",
            **subscriber_kwargs,
        )
        # The document (shared.asyncapi) shows what this subscriber decodes, and the dead letters it writes.
        models = carried(spec, models_of(adapter))
        describe_subscriber(subscriber, spec, models)
        if spec.has_dlq:
            dead = f"Dead letters of {prefix + spec.name}: the record, with x-dlq-* headers."
            declare_publisher(broker, service, prefix + spec.dlq, spec, models, dead)

        holding, me, name = _HOLDING.setdefault(broker, {}), next(_CONSUMER_IDS), f"{prefix + spec.name} ({group})"

        async def on_message(body: Any) -> None:
            msg: KafkaMessage = body  # what _the_message decoded: no context field to resolve
            raw = msg.raw_message
            records: tuple[ConsumerRecord, ...] = raw if isinstance(raw, tuple) else (raw,)
            holding[me] = (name, time.monotonic())
            try:
                try:
                    await _process(records, handler, adapter, dead_letters, policy, prefix)
                except BaseException:
                    # Never let a record be skipped: rewind so it is delivered again.
                    await msg.nack()
                    raise
                try:
                    await msg.ack()
                except KafkaError as exc:  # a rebalance took the partition: it will be redelivered
                    log.warning("commit_failed", error=type(exc).__name__)
            finally:
                del holding[me]

        subscriber(on_message)
        if batch:
            subscriber.get_msg = types.MethodType(_wait_for_records, subscriber)  # type: ignore[method-assign]
        return dead_letters

    return register


async def _wait_for_records(subscriber: Any, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord, ...]:
    """A batch subscriber's `get_msg`. FastStream's own asks getmany to wait batch_timeout_ms (200 ms) and, when
    nothing came, sleeps as long again: a record landing during the sleep waited for it, at every hop (the urgent
    consumers cut both to 20 ms, and their idle processes woke 25 times a second per consumer: 1.7-2.4% of a core
    each). getmany returns as soon as the fetcher has records, so waiting long in it costs no latency."""
    batches = await consumer.getmany(timeout_ms=WAIT_FOR_RECORDS_MS, max_records=subscriber.max_records)
    return tuple(chain.from_iterable(batches.values()))


async def _process(
    records: Sequence[ConsumerRecord],
    handler: Callable[[list[T]], Awaitable[None]],
    adapter: TypeAdapter[T],
    dead_letters: DeadLetters,
    policy: RetryPolicy,
    prefix: str,
) -> None:
    good: list[tuple[ConsumerRecord, T]] = []
    poison: list[tuple[ConsumerRecord, str, str, int]] = []
    for i, record in enumerate(records, 1):
        try:
            good.append((record, decode_record(record, adapter)))
        except PoisonRecord as exc:
            poison.append((record, str(exc), "PoisonRecord", 0))
        if i % DECODE_YIELD_EVERY == 0:
            await asyncio.sleep(0)
    await dead_letters.send(poison, prefix)
    if not good:
        return
    topic = good[0][0].topic.removeprefix(prefix)
    error = await _handle(good, handler, topic, policy, "batch")
    if error is None:
        return
    if len(good) == 1:
        failing = [_failure(good[0][0], error, policy.attempts)]
    else:
        # The batch keeps failing: apply what succeeds, find the records that fail on their own.
        log.warning(
            "batch_failed_isolating_records",
            topic=topic,
            records=len(good),
            error=type(error).__name__,
            detail=mask_personal_data(str(error))[:300],
        )
        failing = await _isolate(good, handler, topic, policy.attempts)
    await dead_letters.send(failing, prefix)


ONCE = RetryPolicy(attempts=1)  # a part of a failing batch: tried once (a transient failure still until it passes)


async def _isolate(
    part: Sequence[tuple[ConsumerRecord, T]], handler: Callable[[list[T]], Awaitable[None]], topic: str, tried: int
) -> list[tuple[ConsumerRecord, str, str, int]]:
    """Halve a failing part of a batch until the records that fail on their own stand alone: each half that
    succeeds is applied (one call, so a batch that failed only as a whole, too big for one statement, costs two),
    the records that fail alone are returned with their own error, in order. `tried`: how often the records of
    `part` have failed so far (the batch's attempts, then once per halving). Every part is tried once, so a
    batch whose every record fails is dead-lettered in about twice its size of handler calls, with no wait per
    record: 4,000 records each refused by PostgreSQL took 140 s on the loaded machine of 2026-11-30 (3 tries and
    0.6 s of waits per record before: about 40 min, far past the consumer's 5-minute poll interval)."""
    failing: list[tuple[ConsumerRecord, str, str, int]] = []
    mid = len(part) // 2
    for half in (part[:mid], part[mid:]):
        error = await _handle(half, handler, topic, ONCE, "part" if len(half) > 1 else "record")
        if error is None:
            continue
        if len(half) == 1:
            failing.append(_failure(half[0][0], error, tried + 1))
        else:
            failing += await _isolate(half, handler, topic, tried + 1)
    return failing


async def _handle(
    part: Sequence[tuple[ConsumerRecord, T]],
    handler: Callable[[list[T]], Awaitable[None]],
    topic: str,
    policy: RetryPolicy,
    what: str,
) -> BaseException | None:
    """The handler on `part`'s events under their correlation ids and trace context, retried as `policy` says."""
    with correlation.handling(_correlations(part)), tracing.consuming(topic, [r.headers for r, _ in part]):
        return await _with_retries(lambda: handler([e for _, e in part]), policy, what)  # a fresh list each try


def _failure(record: ConsumerRecord, error: BaseException, tried: int) -> tuple[ConsumerRecord, str, str, int]:
    name = type(error).__name__
    return record, f"{name}: {error}", name, tried


def _correlations(good: Sequence[tuple[ConsumerRecord, Any]]) -> dict[Any, str]:
    """Incoming event id -> the correlation id in its headers (its own event id when it has none)."""
    out: dict[Any, str] = {}
    for record, event in good:
        event_id = getattr(event, "event_id", None)
        if event_id is not None:
            out[event_id] = correlation.from_headers(record.headers) or str(event_id)
    return out


def broker_check(broker: KafkaBroker) -> Callable[[], Awaitable[None]]:
    """A readiness check for shared.observability.health_router: raises when Kafka does not answer."""

    async def check() -> None:
        if not await broker.ping(timeout=3):
            raise ConnectionError("Kafka broker not reachable")

    return check
