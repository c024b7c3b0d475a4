"""Registry bulk speed: N deactivation events produced straight to the topic with aiokafka, then the
registry (its real app, lifespan and batch consumers) started; measured from the start until all N
processed ids are committed in PostgreSQL. Prints events/s (target >= 5,000/s on a 2-core machine).

Then, once the outbox relay has published every status change (the outbox is empty), what the work cost
per event, figures that hold on a busy machine (unlike events/s): the registry's CPU ms (this process,
producing excluded), its PostgreSQL backends' CPU ms (the processes serving the bench's database), and
the rows written (inserted + updated + deleted, pg_stat_user_tables, testkit.rows) per table.

`decisions` after N: the same figures per decision, then per message. Once the wave is applied the
registry stops; for each of the N people a regular request and eligibility's decision on it (PENDING for
want of a re-ranking and a biometric recording, as nearly all of `bench.run`'s decisions are) are produced
to their topics, and the registry started again is measured until it has applied them all and relayed its
status changes; then the same for the SENT and DELIVERED of one message per person (the notifier's
updates, which `bench.run` sees few of while quiet hours hold the messages).

    PBI_ENV=local .venv/bin/python -m bench.registry [N] [decisions]   (default 100,000; BENCH_N also read)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.stage_watch import backends_cpu_s
from services.registry.app import create_app
from services.registry.store import PE, H, P
from shared.db import make_engine
from shared.events import NotificationUpdated, ParticipantDeactivated, ReactivationDecided, ReactivationRequested
from shared.kafka import ensure_topics
from shared.settings import RegistrySettings
from shared.topics import DECISIONS, NOTIFICATION_EVENTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, all_topic_names
from testkit.infra import new_run_prefix
from testkit.polling import eventually
from testkit.rows import table_counts, writes


def nik(i: int) -> str:
    """The i-th distinct valid NIK of Tangerang Selatan (district 367401): day/month/year/serial vary."""
    serial, rest = i % 9999 + 1, i // 9999
    day, rest = rest % 28 + 1, rest // 28
    month, year = rest % 12 + 1, (rest // 12) % 100
    return f"367401{day:02d}{month:02d}{year:02d}{serial:04d}"


AT = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
Items = list[tuple[bytes, bytes]]


def payloads(n: int) -> Items:
    at = AT
    out = []
    for i in range(n):
        e = ParticipantDeactivated(
            occurred_at=at,
            source="SIKS-NG",
            nik=nik(i),
            reason="DESIL_ABOVE_5" if i % 3 else "NO_BIOMETRIC" if i % 2 else "DECEASED",
            deactivated_on=dt.date(2026, 11, 1),
            phone="081234567890",
        )
        out.append((e.model_dump_json().encode(), e.kafka_key()))
    return out


def decision_payloads(n: int) -> tuple[dict[str, Items], Items]:
    """Per topic, each person's request and its PENDING decision (waiting for a re-ranking and a biometric
    recording, as nearly all of `bench.run`'s are); then the SENT and DELIVERED of each one's message."""
    out: dict[str, Items] = {REACTIVATION_REQUESTS.name: [], DECISIONS.name: []}
    messages: Items = []
    received, decided = AT + dt.timedelta(hours=1), AT + dt.timedelta(hours=1, seconds=1)
    for i in range(n):
        rid, who = uuid.uuid4(), nik(i)
        request = ReactivationRequested(
            occurred_at=received,
            source="intake",
            nik=who,
            request_id=rid,
            path="REGULAR",  # type: ignore[arg-type]
            channel="VILLAGE",  # type: ignore[arg-type]
            received_at=received,
        )
        decision = ReactivationDecided(
            occurred_at=decided,
            source="eligibility",
            nik=who,
            decision_id=uuid.uuid5(rid, "PENDING"),
            request_id=rid,
            path="REGULAR",  # type: ignore[arg-type]
            channel="VILLAGE",  # type: ignore[arg-type]
            outcome="PENDING",  # type: ignore[arg-type]
            reasons=["DESIL_UNKNOWN", "BIOMETRIC_MISSING"],  # type: ignore[list-item]
            policy_version="bench",
            received_at=received,
            decided_at=decided,
        )
        for topic, e in ((REACTIVATION_REQUESTS.name, request), (DECISIONS.name, decision)):
            out[topic].append((e.model_dump_json().encode(), e.kafka_key()))
        message = uuid.uuid5(rid, "message")
        for k, state in enumerate(("SENT", "DELIVERED")):
            update = NotificationUpdated(
                event_id=uuid.uuid5(message, state),
                occurred_at=decided + dt.timedelta(seconds=1 + k),
                source="notifier",
                nik=who,
                message_id=message,
                kind="pending",
                channel="WHATSAPP",  # type: ignore[arg-type]
                state=state,  # type: ignore[arg-type]
            )
            messages.append((update.model_dump_json().encode(), update.kafka_key()))
    return out, messages


async def produce(settings: RegistrySettings, items: Items, topic_name: str = PARTICIPANT_EVENTS.name) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        topic = settings.topic_prefix + topic_name
        futures = [await producer.send(topic, value, key=key) for value, key in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def outbox_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return not (await conn.execute(text("select exists (select from registry.outbox)"))).scalar()


async def run(n: int, decisions: bool = False) -> dict[str, float]:
    base = RegistrySettings(log_level="WARNING", log_json=False)
    db = f"pbi_bench_registry_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(base.database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'create database "{db}"'))
    url = make_url(base.database_url).set(database=db).render_as_string(hide_password=False)
    settings = RegistrySettings(
        database_url=url, topic_prefix=new_run_prefix("benchreg"), log_level="WARNING", log_json=False
    )
    try:
        await ensure_topics(settings)
        items = payloads(n)
        produce_s = await produce(settings, items)
        print(f"produced {n:,} events in {produce_s:.1f}s ({n / produce_s:,.0f}/s)")
        engine = make_engine(settings)
        result = await measure(settings, db, engine, n, "deactivation", lambda: committed(engine, n))
        async with engine.connect() as conn:
            people = (await conn.execute(select(func.count()).select_from(P))).scalar()
            history = (await conn.execute(select(func.count()).select_from(H))).scalar()
        assert people == n and history == n, (people, history)
        print(
            f"registry: {n:,} deactivations topic -> committed rows in {result['seconds']:.1f}s = "
            f"{result['events_per_s']:,.0f} events/s (target >= 5,000/s); peak RSS {result['peak_rss_mb']:,.0f} MB"
        )
        if decisions:
            per_topic, messages = decision_payloads(n)
            for topic, topic_items in per_topic.items():
                await produce(settings, topic_items, topic)
            applied = _metric_sum("pbi_registry_events_applied_total") + 2 * n
            result = await measure(settings, db, engine, n, "decision", lambda: decisions_applied(engine, n, applied))
            print(f"registry: {n:,} requests and their decisions applied in {result['seconds']:.1f}s")
            await produce(settings, messages, NOTIFICATION_EVENTS.name)
            applied = _metric_sum("pbi_registry_events_applied_total") + 2 * n
            states = await measure(settings, db, engine, n, "message", lambda: messages_applied(engine, n, applied))
            print(f"registry: {2 * n:,} message states ({n:,} messages) applied in {states['seconds']:.1f}s")
        await engine.dispose()
        return result
    finally:
        await delete_topics(settings)
        async with admin.connect() as conn:
            await conn.execute(text(f'drop database if exists "{db}" with (force)'))
        await admin.dispose()


async def measure(
    settings: RegistrySettings, db: str, engine: AsyncEngine, n: int, what: str, done: Callable[[], Awaitable[bool]]
) -> dict[str, float]:
    """The registry started, until `done()` and an empty outbox, then stopped: its CPU and rows per `what`."""
    before = await table_counts(settings.database_url, "registry")
    batches0 = _metric_sum("pbi_registry_batch_seconds_count")
    handler0 = _metric_sum("pbi_registry_batch_seconds_sum")
    app = create_app(settings)
    started, cpu_started = time.perf_counter(), time.process_time()
    async with app.router.lifespan_context(app):
        while not await done():
            await asyncio.sleep(0.25)
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"the {what}s were not all applied after 600 s")
        elapsed = time.perf_counter() - started
        await eventually(lambda: outbox_empty(engine), timeout=600, interval=0.25)  # the relay's share too
        cpu_ms = (time.process_time() - cpu_started) * 1000 / n
        pg_ms = backends_cpu_s(db) * 1000 / n
    await engine.dispose()  # its backend flushes its statistics
    written = writes(before, await table_counts(settings.database_url, "registry"))
    rows = sum(map(sum, written.values())) / n
    detail = ", ".join(f"{t} {'/'.join(f'{c / n:.2f}' for c in w)}" for t, w in sorted(written.items()))
    print(f"  CPU per {what}: registry {cpu_ms:.3f} ms, its PostgreSQL backends {pg_ms:.3f} ms")
    print(f"  rows written per {what}: {rows:.2f} (per table inserted/updated/deleted: {detail})")
    handler_s = _metric_sum("pbi_registry_batch_seconds_sum") - handler0
    batches = _metric_sum("pbi_registry_batch_seconds_count") - batches0
    print(f"  {batches:,.0f} batches, {handler_s:.1f}s inside the batch transaction (the rest: fetch and decode)")
    return {
        "events": n,
        "seconds": elapsed,
        "events_per_s": n / elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_ms_per_event": cpu_ms,
        "postgres_cpu_ms_per_event": pg_ms,
        "rows_per_event": rows,
    }


async def committed(engine: AsyncEngine, n: int) -> bool:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(PE))).scalar() or 0) >= n


async def messages_applied(engine: AsyncEngine, n: int, applied: float) -> bool:
    """Every message state applied (the counter), and every message's row delivered."""
    if _metric_sum("pbi_registry_events_applied_total") < applied:
        return False
    async with engine.connect() as conn:
        query = text("select count(*) from registry.notifications where delivered_at is not null")
        return int((await conn.execute(query)).scalar() or 0) >= n


async def decisions_applied(engine: AsyncEngine, n: int, applied: float) -> bool:
    """Every event of the decisions phase applied (the counter), and every request decided."""
    if _metric_sum("pbi_registry_events_applied_total") < applied:
        return False
    async with engine.connect() as conn:
        decided = await conn.execute(text("select count(*) from registry.requests where decided_at is not null"))
        return int(decided.scalar() or 0) >= n


async def delete_topics(settings: RegistrySettings) -> None:
    """The bench's topics go away with it (12 partitions each: left behind they pile up in the broker)."""
    client = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await client.start()
    try:
        await client.delete_topics(all_topic_names(settings.topic_prefix))
    except KafkaError as exc:
        print(f"could not delete the bench topics: {exc!r}")
    finally:
        await client.close()


def _metric_sum(name: str) -> float:
    return sum(sample.value for metric in REGISTRY.collect() for sample in metric.samples if sample.name == name)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("BENCH_N", "100000"))
    asyncio.run(run(count, decisions="decisions" in sys.argv[2:]))
