"""Transactional outbox: events are written in the same database transaction as the state
change that caused them, and a relay publishes them to Kafka afterwards.

So a rolled-back change never publishes and a committed one is never lost. A crash after
publishing but before deleting the row republishes the same event (same event_id):
consumers de-duplicate on event_id. One relay per schema is active at a time (advisory
lock), which keeps per-NIK order across replicas.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from shared import correlation, tracing
from shared.db import any_of, bulk_insert
from shared.errors import is_transient
from shared.events import Event
from shared.kafka import mask_personal_data

log = structlog.get_logger(__name__)

# How long the oldest event has waited to be published (0 when the outbox is empty), set by the relay
# holding the lock at every pass, failed ones included: the outbox alert's signal
# (deploy/monitoring/rules/pbi.yaml, PbiOutboxStuck). Replicas not relaying report 0.
OLDEST_AGE = Gauge(
    "pbi_outbox_oldest_age_seconds", "Age of the oldest event waiting in the outbox (0 when empty)", ["schema"]
)


def outbox_table(metadata: MetaData, schema: str) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default="{}"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        schema=schema,
    )


def outbox_row(
    topic: str, event: Event, headers: dict[str, str] | None = None, *, cause: uuid.UUID | None = None
) -> dict[str, Any]:
    """`cause`: the incoming event this one follows from; its correlation id goes along (shared.correlation)."""
    meta = {"x-event-type": getattr(event, "type", "")}
    if cid := correlation.for_event(cause):
        meta[correlation.HEADER] = cid
    tracing.inject(meta)
    return {
        "event_id": event.event_id,
        "topic": topic,
        "key": event.kafka_key(),
        "payload": event.model_dump_json().encode(),
        "headers": {**meta, **(headers or {})},
    }


async def add_to_outbox(session: AsyncSession | AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    await bulk_insert(session, table, rows)  # one statement per batch, however many rows


class OutboxRelay:
    """Publishes outbox rows in commit order, then deletes them. `wake()` after a commit
    makes it publish at once (low latency for emergencies); it also polls as a fallback."""

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        bootstrap_servers: str,
        *,
        batch_size: int = 1000,
        poll_interval_s: float = 0.5,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.engine, self.table, self.bootstrap_servers = engine, table, bootstrap_servers
        # TLS / SASL login (shared.kafka_security.kafka_client_options); bootstrap_servers wins over its copy.
        self.client_options = {**(client_options or {}), "bootstrap_servers": bootstrap_servers}
        self.batch_size, self.poll_interval_s = batch_size, poll_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._producer: AIOKafkaProducer | None = None
        self.published = 0
        self.last_published_at: dt.datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.table.schema}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self._drop_producer()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        # Its own plain aiokafka producer: rows are already encoded, and FastStream's publish path
        # (message object, middlewares, headers) cost twice the send itself per record.
        if self._producer is None:
            producer = AIOKafkaProducer(
                **self.client_options,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                request_timeout_ms=15_000,
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:  # noqa: BLE001 - already broken; a new one is made next time
                pass

    async def _run(self) -> None:
        lock_key = f"outbox:{self.table.schema}"
        while True:
            try:
                async with self.engine.connect() as conn:
                    # Only the replica holding this session-level lock relays; others wait.
                    got = (
                        await conn.execute(text("select pg_try_advisory_lock(hashtext(:k))"), {"k": lock_key})
                    ).scalar()
                    await conn.commit()
                    if not got:
                        OLDEST_AGE.labels(self.table.schema).set(0)
                        await asyncio.sleep(2)
                        continue
                    while True:
                        sent = await self.relay_once(conn)
                        if sent < self.batch_size:
                            await self._wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                await self._drop_producer()  # after a broker failure, start afresh
                level = log.warning if is_transient(exc) else log.error
                level(
                    "outbox_relay_failed",
                    schema=self.table.schema,
                    error=type(exc).__name__,
                    detail=mask_personal_data(str(exc))[:300],
                )
                await asyncio.sleep(1)

    async def _wait(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
        except TimeoutError:
            pass
        self._wake.clear()

    async def relay_once(self, conn: AsyncConnection) -> int:
        """Publish up to batch_size rows; returns how many. Rows go only after Kafka acked."""
        t = self.table
        rows = (await conn.execute(select(t).order_by(t.c.id).limit(self.batch_size))).all()
        await conn.commit()
        oldest = min((r.created_at for r in rows), default=None)
        age = (dt.datetime.now(dt.UTC) - oldest).total_seconds() if oldest else 0.0
        OLDEST_AGE.labels(t.schema).set(max(0.0, age))
        if not rows:
            return 0
        producer = await self._ensure_producer()
        futures = [
            await producer.send(r.topic, r.payload, key=r.key, headers=[(k, v.encode()) for k, v in r.headers.items()])
            for r in rows
        ]
        await asyncio.gather(*futures)
        await conn.execute(delete(t).where(any_of(t.c.id, [r.id for r in rows])))
        await conn.commit()
        self.published += len(rows)
        self.last_published_at = dt.datetime.now(dt.UTC)
        return len(rows)
