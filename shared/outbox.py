"""Transactional outbox: events are written in the same database transaction as the state
change that caused them, and a relay publishes them to Kafka afterwards.

So a rolled-back change never publishes and a committed one is never lost. A crash after
publishing but before deleting the row republishes the same event (same event_id):
consumers de-duplicate on event_id. One relay per schema is active at a time (advisory
lock), which keeps per-NIK order across replicas. Rows carry the headers shared.messaging
builds, and the relay publishes through shared.messaging.BatchPublisher (a DirectPublisher that hands
Kafka whole record batches), like every producer of the project.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import struct
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from prometheus_client import Gauge
from pydantic_core import to_json
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    TextClause,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from shared.db import autocommit, bulk_insert
from shared.errors import is_transient
from shared.events import Event
from shared.masking import mask_personal_data
from shared.messaging import BATCH_BYTES, BatchPublisher, PublishFailed, Record, event_headers, wire_headers
from shared.runtime import stop_if_cancelled

log = structlog.get_logger(__name__)

# How long the oldest event has waited to be published (0 when the outbox is empty), set by the relay
# holding the lock at every pass, failed ones included: the outbox alert's signal
# (deploy/monitoring/rules/pbi.yaml, PbiOutboxStuck). Replicas not relaying report 0.
OLDEST_AGE = Gauge(
    "pbi_outbox_oldest_age_seconds", "Age of the oldest event waiting in the outbox (0 when empty)", ["schema"]
)


def outbox_table(metadata: MetaData, schema: str, *, bundles: bool = False) -> Table:
    """`bundles`: the table also takes bundle rows (`outbox_bundle`: a batch's events in one row), marked
    by their `records` count (NULL on a row of one event)."""
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
        *([Column("records", Integer, nullable=True)] if bundles else []),
        schema=schema,
    )


def outbox_row(
    topic: str,
    event: Event,
    headers: dict[str, str] | None = None,
    *,
    cause: uuid.UUID | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """`cause`: the incoming event this one follows from; its correlation id goes along (shared.correlation).
    The headers are shared.messaging's, kept as text; `headers` adds some."""
    meta = event_headers(getattr(event, "type", ""), cause=cause, correlation_id=correlation_id, extra=headers)
    return {
        "event_id": event.event_id,
        "topic": topic,
        "key": event.kafka_key(),
        "payload": event.model_dump_json().encode(),
        "headers": meta,
    }


_FRAME = struct.Struct(">III")  # each record of a bundle: key, value and headers lengths, then the three
_NO_KEY = 0xFFFFFFFF


def outbox_bundle(
    topic: str, records: Sequence[tuple[bytes | None, bytes, Mapping[str, str]]], *, event_id: uuid.UUID
) -> dict[str, Any]:
    """One outbox row for many events of one topic (key, encoded event, headers as `event_headers` makes
    them), published in order as as many records: a wave's batch of status changes costs one row to insert
    and one to delete instead of one each. `event_id`: the bundle's own, e.g. its first event's id (an event
    is in one row only). The relay (and `publish_committed`) publish a bundle whole or not at all."""
    frames = bytearray()
    for key, value, headers in records:
        meta = to_json(headers)
        frames += _FRAME.pack(_NO_KEY if key is None else len(key), len(value), len(meta))
        frames += (key or b"") + value + meta
    return {
        "event_id": event_id,
        "topic": topic,
        "key": None,
        "payload": bytes(frames),
        "headers": {},
        "records": len(records),
    }


def outbox_records(row: Mapping[Any, Any]) -> list[Record]:
    """The records an outbox row stands for: its one event, or a bundle's."""
    if row.get("records") is None:
        return [Record.from_row(row)]
    topic, payload, out, at = row["topic"], row["payload"], [], 0
    view = memoryview(payload)
    while at < len(payload):
        key_len, value_len, meta_len = _FRAME.unpack_from(payload, at)
        at += _FRAME.size
        key = None if key_len == _NO_KEY else bytes(view[at : (at := at + key_len)])
        value = bytes(view[at : (at := at + value_len)])
        meta = json.loads(view[at : (at := at + meta_len)].tobytes())
        out.append(Record(topic, value, key, wire_headers(meta)))
    return out


async def add_to_outbox(
    session: AsyncSession | AsyncConnection, table: Table, rows: list[dict[str, Any]], *, skip_waiting: bool = False
) -> None:
    """One statement per batch, however many rows. `skip_waiting`: an event whose row still waits in the
    outbox is not added again (two paths that may announce the same state, e.g. the notifier's)."""
    await bulk_insert(session, table, rows, "on conflict (event_id) do nothing" if skip_waiting else "")


def _relay_statements(t: Table) -> tuple[TextualSelect, TextClause, TextClause]:
    """A relay pass's read and delete, written out once per relay: built per pass (a window over the rows, an
    `any_of` literal) they cost SQLAlchemy's cache key and literal processing at every pass, and every service
    relays a few passes per emergency (issue 20). The read: the oldest rows, up to `:limit` events, bundles
    counting as their events (at least one row); the deletes: by row id (a pass), by event id (publish_committed)."""
    name, columns = f"{t.schema}.{t.name}", ", ".join(c.name for c in t.c)
    if "records" in t.c:
        ahead = (
            f"select id, sum(coalesce(records, 1)) over (order by id) - coalesce(records, 1) as before "
            f"from {name} order by id limit :limit"
        )
        read = (
            f"select {columns} from {name} where id in (select id from ({ahead}) a where before < :limit) order by id"
        )
    else:
        read = f"select {columns} from {name} order by id limit :limit"
    return (
        text(read).columns(*t.c),
        text(f"delete from {name} where id = any(cast(:ids as bigint[]))"),
        text(f"delete from {name} where event_id = any(cast(:ids as uuid[]))"),
    )


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
        # Rows are already encoded: a plain producer, not FastStream's publish path (message object,
        # middlewares, headers), which cost twice the send itself per record; whole record batches per
        # partition (BatchPublisher), not one send per record.
        options = {**(client_options or {}), "bootstrap_servers": bootstrap_servers}
        self.producer = BatchPublisher(options, max_batch_size=BATCH_BYTES)
        self.batch_size, self.poll_interval_s = batch_size, poll_interval_s
        self._next, self._delete_rows, self._delete_events = _relay_statements(table)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cleanups: set[asyncio.Task[None]] = set()
        self.published = 0
        self.last_published_at: dt.datetime | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.table.schema}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            # The relay's end, whatever it is; a cancellation of the caller itself still reaches the caller.
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._cleanups, return_exceptions=True)  # publish_committed's deletes finish
        await self.producer.stop()

    async def publish_committed(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Publish rows already committed to this outbox at once, without waiting for the relay's turn,
        then delete them in the background (the caller need not wait for that; stop() does). `rows` are
        the dicts `outbox_row` built and the caller committed: eligibility's emergency decisions, the
        erasure announcement of `pbi privacy erase`. Works whether or not this relay was started (another
        process may hold the lock). True once Kafka acknowledged them all; on any failure they stay in the
        outbox for the relay. The outbox row stays the guarantee: whichever publishes a row first, the
        same event id reaches the topic, and consumers de-duplicate."""
        if not rows:
            return True
        try:
            await self.producer.publish([r for row in rows for r in outbox_records(row)])
        except PublishFailed as exc:
            log.warning("publish_committed_failed", schema=self.table.schema, error=str(exc)[:200])
            self.wake()
            return False
        self.published += sum(row.get("records") or 1 for row in rows)
        task = asyncio.create_task(self._delete([row["event_id"] for row in rows]))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        return True

    async def _delete(self, event_ids: list[uuid.UUID]) -> None:
        try:
            async with autocommit(self.engine) as conn:
                await conn.execute(self._delete_events, {"ids": event_ids})
        except Exception as exc:  # noqa: BLE001 - the relay publishes them again; consumers de-duplicate
            log.warning("publish_committed_cleanup_failed", schema=self.table.schema, error=type(exc).__name__)

    async def _run(self) -> None:
        lock_key = f"outbox:{self.table.schema}"
        while True:
            try:
                async with autocommit(self.engine) as conn:  # each read and delete a statement of its own
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
            except Exception as exc:  # noqa: BLE001 - a failed publish already dropped the producer
                stop_if_cancelled(exc)  # stop() asked, and aiokafka made the cancellation an error: stop all the same
                level = log.warning if is_transient(exc) else log.error
                level(
                    "outbox_relay_failed",
                    schema=self.table.schema,
                    error=type(exc).__name__,
                    detail=mask_personal_data(str(exc))[:300],
                )
                await asyncio.sleep(1)

    async def _wait(self) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that arrives as the
        # wake-up does (a wake() during stop()), and the relay then ran on while stop() waited for it forever.
        try:
            async with asyncio.timeout(self.poll_interval_s):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    async def relay_once(self, conn: AsyncConnection) -> int:
        """Publish up to batch_size events (whole rows); returns how many. Rows go only after Kafka acked. The
        commits end the read and the delete on a connection with transactions (the relay's own has none)."""
        t = self.table
        rows = (await conn.execute(self._next, {"limit": self.batch_size})).mappings().all()
        await conn.commit()
        oldest = min((r["created_at"] for r in rows), default=None)
        age = (dt.datetime.now(dt.UTC) - oldest).total_seconds() if oldest else 0.0
        OLDEST_AGE.labels(t.schema).set(max(0.0, age))
        if not rows:
            return 0
        records = [r for row in rows for r in outbox_records(row)]
        await self.producer.publish(records)
        await conn.execute(self._delete_rows, {"ids": [r["id"] for r in rows]})
        await conn.commit()
        self.published += len(records)
        self.last_published_at = dt.datetime.now(dt.UTC)
        return len(records)
