"""Registry bulk speed: N deactivation events produced straight to the topic with aiokafka, then the
registry (its real app, lifespan and batch consumers) started; measured from the start until all N
processed ids are committed in PostgreSQL. Prints events/s (target >= 5,000/s on a 2-core machine).

Then, once the outbox relay has published every status change (the outbox is empty), what the work cost
per event, figures that hold on a busy machine (unlike events/s): the registry's CPU ms (this process,
producing excluded), its PostgreSQL backends' CPU ms (the processes serving the bench's database), and
the rows written (inserted + updated + deleted, pg_stat_user_tables, testkit.rows) per table.

    PBI_ENV=local .venv/bin/python -m bench.registry [N]        (default 100,000; BENCH_N also read)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import sys
import time
import uuid

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
from shared.events import ParticipantDeactivated
from shared.kafka import ensure_topics
from shared.settings import RegistrySettings
from shared.topics import PARTICIPANT_EVENTS, all_topic_names
from testkit.polling import eventually
from testkit.rows import table_counts, writes


def nik(i: int) -> str:
    """The i-th distinct valid NIK of Tangerang Selatan (district 367401): day/month/year/serial vary."""
    serial, rest = i % 9999 + 1, i // 9999
    day, rest = rest % 28 + 1, rest // 28
    month, year = rest % 12 + 1, (rest // 12) % 100
    return f"367401{day:02d}{month:02d}{year:02d}{serial:04d}"


def payloads(n: int) -> list[tuple[bytes, bytes]]:
    at = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
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


async def produce(settings: RegistrySettings, items: list[tuple[bytes, bytes]]) -> float:
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
        topic = settings.topic_prefix + PARTICIPANT_EVENTS.name
        futures = [await producer.send(topic, value, key=key) for value, key in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def committed(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(PE))).scalar() or 0)


async def outbox_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return not (await conn.execute(text("select exists (select from registry.outbox)"))).scalar()


async def run(n: int) -> dict[str, float]:
    base = RegistrySettings(log_level="WARNING", log_json=False)
    db = f"pbi_bench_registry_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(base.database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'create database "{db}"'))
    url = make_url(base.database_url).set(database=db).render_as_string(hide_password=False)
    settings = RegistrySettings(
        database_url=url, topic_prefix=f"benchreg{uuid.uuid4().hex[:6]}.", log_level="WARNING", log_json=False
    )
    try:
        await ensure_topics(settings)
        items = payloads(n)
        produce_s = await produce(settings, items)
        print(f"produced {n:,} events in {produce_s:.1f}s ({n / produce_s:,.0f}/s)")
        app = create_app(settings)
        engine = make_engine(settings)
        before = await table_counts(url, "registry")
        started, cpu_started = time.perf_counter(), time.process_time()
        async with app.router.lifespan_context(app):
            done = 0
            while done < n:
                await asyncio.sleep(0.25)
                done = await committed(engine)
                if time.perf_counter() - started > 600:
                    raise TimeoutError(f"only {done:,} of {n:,} committed after 600 s")
            elapsed = time.perf_counter() - started
            await eventually(lambda: outbox_empty(engine), timeout=600, interval=0.25)  # the relay's share too
            cpu_ms = (time.process_time() - cpu_started) * 1000 / n
            pg_ms = backends_cpu_s(db) * 1000 / n
        async with engine.connect() as conn:
            people = (await conn.execute(select(func.count()).select_from(P))).scalar()
            history = (await conn.execute(select(func.count()).select_from(H))).scalar()
        await engine.dispose()
        assert people == n and history == n, (people, history)
        written = writes(before, await table_counts(url, "registry"))
        rows = sum(map(sum, written.values())) / n
        detail = ", ".join(f"{t} {'/'.join(f'{c / n:.2f}' for c in w)}" for t, w in sorted(written.items()))
        print(f"  CPU per event: registry {cpu_ms:.3f} ms, its PostgreSQL backends {pg_ms:.3f} ms")
        print(f"  rows written per event: {rows:.2f} (per table inserted/updated/deleted: {detail})")
        handler_s = _metric_sum("pbi_registry_batch_seconds_sum")
        batches = _metric_sum("pbi_registry_batch_seconds_count")
        print(f"  {batches:,.0f} batches, {handler_s:.1f}s inside the batch transaction (the rest: fetch and decode)")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {
            "events": n,
            "seconds": elapsed,
            "events_per_s": n / elapsed,
            "peak_rss_mb": rss_mb,
            "cpu_ms_per_event": cpu_ms,
            "postgres_cpu_ms_per_event": pg_ms,
            "rows_per_event": rows,
        }
        print(
            f"registry: {n:,} deactivations topic -> committed rows in {elapsed:.1f}s = "
            f"{n / elapsed:,.0f} events/s (target >= 5,000/s); peak RSS {rss_mb:,.0f} MB"
        )
        return result
    finally:
        await delete_topics(settings)
        async with admin.connect() as conn:
            await conn.execute(text(f'drop database if exists "{db}" with (force)'))
        await admin.dispose()


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
    asyncio.run(run(count))
