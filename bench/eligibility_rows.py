"""Rows eligibility writes per event, counted by PostgreSQL (pg_stat_user_tables: n_tup_ins, n_tup_upd,
n_tup_del per table) on a fresh database: the handlers are called directly (no Kafka consumer), then the
outbox relay publishes what they wrote to Kafka (topics of the bench's own, deleted afterwards).

    PBI_ENV=local .venv/bin/python -m bench.eligibility_rows [N] [requests]     # N people, default 1,000
    PROFILE=/tmp/prof PBI_ENV=local .venv/bin/python -m bench.eligibility_rows 20000 requests

CPU ms/event is this process's (the handlers' Python); PG ms/event is the CPU of the PostgreSQL backends
serving the bench's database (their process title names it), in the same phase. Phases, each with its own
figures: 2N deactivations of new people (a wave), N of them again from another source (a repeat: new event
ids, same dates), the facts that make those N eligible (a re-ranking and a biometric recording each), N
regular requests (approved), N requests again under new event ids (a resend), N regular requests of the
other N people, who have no re-ranking yet (PENDING: the shape of `bench.run`'s decisions stage), N
emergencies for people never seen (PENDING, NOT_DEACTIVATED: timers), and the relay publishing the outbox
(per record published; its deletes are the rows). Batches of 500, as the consumers' batches are.
`requests`: only the phases that decide requests or relay them (the deactivations still run first).
`PROFILE=<dir>`: a pyinstrument profile of each phase, as text, in that directory (the frames that ran:
time awaiting PostgreSQL is the event loop's select, not the awaiting statement's). Once set up (events
made, schema migrated) it calls shared.runtime.tune_for_latency(), as every service process does once wired
(gc.freeze, higher GC thresholds): without it the figures carried the default collector's full scans, which
no service runs (session 13, 20,000 people, 3 interleaved runs each: approved requests 0.099 -> 0.092,
emergencies 0.176 -> 0.142 CPU ms per event, facts unchanged at 0.034). Runs against whatever code is checked
out, so the same command measures before and after a change."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.stage_watch import backends_cpu_s
from services.eligibility.app import load_policy
from services.eligibility.domain.records import WRITES
from services.eligibility.handlers import EligibilityHandlers
from services.eligibility.store import MIGRATIONS, SCHEMA, outbox
from shared.db import make_sessions, migrate
from shared.events import (
    BiometricRecorded,
    DesilUpdated,
    Documents,
    HospitalLetter,
    ParticipantDeactivated,
    ReactivationRequested,
)
from shared.kafka import ensure_topics
from shared.outbox import OutboxRelay
from shared.runtime import tune_for_latency
from shared.settings import Settings
from testkit.infra import create_database, drop_database, new_run_prefix
from testkit.rows import table_counts, writes

NOW = dt.datetime.now(dt.UTC)
BATCH = 500
PREFIX = new_run_prefix("rows")  # the bench's own topics
PROFILE = os.environ.get("PROFILE")
Step = Callable[[EligibilityHandlers, Any], Awaitable[int | None]]  # (handlers, engine) -> events, if not known


def nik(i: int, first: int = 3674015708) -> str:
    """A valid NIK (Banten, born 17 Aug or Sep), distinct for i < 990,000; serial numbers start at 0001."""
    return f"{first}{i // 9999:02d}{i % 9999 + 1:04d}"


def deactivation(n: str) -> ParticipantDeactivated:
    on = (NOW - dt.timedelta(days=30)).date()
    return ParticipantDeactivated(
        occurred_at=NOW, source="SIKS-NG", nik=n, reason="DESIL_ABOVE_5", deactivated_on=on, phone="+6281234567890"
    )


def request(n: str, request_id: uuid.UUID, path: str = "REGULAR") -> ReactivationRequested:
    extra: dict[str, Any] = {}
    if path == "EMERGENCY":
        letter = HospitalLetter(facility_code="3674R001", letter_no="IGD/1")
        extra = {"sla_deadline": NOW + dt.timedelta(hours=24), "documents": Documents(hospital_letter=letter)}
        extra["facility_registered"] = True
    return ReactivationRequested(
        occurred_at=NOW,
        source="intake",
        nik=n,
        request_id=request_id,
        path=path,
        channel="HOSPITAL" if path == "EMERGENCY" else "VILLAGE",
        received_at=NOW,
        **extra,
    )


async def phase(url: str, name: str, n_events: int, step: Step) -> dict[str, Any]:
    engine = create_async_engine(url)
    handlers = EligibilityHandlers(
        make_sessions(engine), load_policy(), lambda: dt.datetime.now(dt.UTC), PREFIX, lambda: None
    )
    before = await table_counts(url, SCHEMA)
    toast0 = await outbox_toast(url)
    db = make_url(url).database or ""
    profiler = _profiler()
    cpu = time.process_time()
    n_events = await step(handlers, engine) or n_events
    cpu = time.process_time() - cpu
    pg = backends_cpu_s(db)  # the engine's backends, before they exit
    if profiler is not None:
        profiler.stop()
        report = re.sub(r"[^a-z]+", "_", name).strip("_") + ".txt"
        (Path(PROFILE or ".") / report).write_text(profiler.output_text())
    await engine.dispose()  # its backends exit and flush their statistics
    written = writes(before, await table_counts(url, SCHEMA))
    toast = await outbox_toast(url)
    if toast != toast0:  # chunks of the outbox's large cells: not in pg_stat_user_tables, counted here
        written["outbox (toast chunks)"] = (toast[0] - toast0[0], 0, toast[1] - toast0[1])
    total = sum(ins + upd + dels for ins, upd, dels in written.values())
    cpu_ms, pg_ms = 1000 * cpu / n_events, 1000 * pg / n_events
    per_event = total / n_events
    return {"phase": name, "events": n_events, "per_event": per_event, "cpu_ms": cpu_ms, "pg_ms": pg_ms} | {
        "tables": written
    }


async def outbox_toast(url: str) -> tuple[int, int]:
    """Chunks inserted and deleted in the TOAST table of the outbox (where a bundle's payload goes)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text(TOAST_SQL))).one()
    finally:
        await engine.dispose()
    return int(row[0]), int(row[1])


TOAST_SQL = f"""
select n_tup_ins, n_tup_del from pg_stat_all_tables
where relid = (select reltoastrelid from pg_class where oid = '{SCHEMA}.outbox'::regclass)
"""


def _profiler() -> Any:
    if not PROFILE:
        return None
    from pyinstrument import Profiler

    Path(PROFILE).mkdir(parents=True, exist_ok=True)
    profiler = Profiler(async_mode="disabled")  # the frames that run: time awaiting PostgreSQL is the loop's select
    profiler.start()
    return profiler


async def relay_all(engine: Any, settings: Settings) -> int:
    """What the handlers wrote to the outbox, published by the service's relay (as app.py makes it) until
    the outbox is empty; returns how many records it published."""
    relay = OutboxRelay(engine, outbox, settings.kafka_bootstrap_servers, batch_size=200)
    try:
        async with engine.connect() as conn:
            while await relay.relay_once(conn):
                pass
    finally:
        await relay.producer.stop()
    return relay.published


def _again(events: list[Any]) -> list[Any]:
    """The same events under new event ids (another source's list, a resend)."""
    return [e.model_copy(update={"event_id": uuid.uuid4()}) for e in events]


async def in_batches(handler: Callable[[list[Any]], Awaitable[None]], events: list[Any]) -> None:
    for i in range(0, len(events), BATCH):
        await handler(events[i : i + BATCH])


async def main(n: int, only_requests: bool) -> None:
    settings = Settings()
    admin = settings.database_url
    name = f"pbi_rows_{uuid.uuid4().hex[:10]}"
    url = await create_database(admin, name)
    topics = Settings(topic_prefix=PREFIX)
    await ensure_topics(topics, WRITES)  # every topic its relay writes
    try:
        migrator = create_async_engine(url)
        await migrate(migrator, MIGRATIONS, SCHEMA)
        await migrator.dispose()
        people = [nik(i) for i in range(n)]
        waiting = [nik(i, 3674015710) for i in range(n)]  # deactivated, no re-ranking yet
        strangers = [nik(i, 3674015709) for i in range(n)]
        ids = [uuid.uuid4() for _ in people]
        facts = [e for p in people for e in (
            DesilUpdated(occurred_at=NOW, source="DTSEN", nik=p, desil=3, effective_on=NOW.date()),
            BiometricRecorded(occurred_at=NOW, source="DUKCAPIL", nik=p, recorded_on=NOW.date()),
        )]  # fmt: skip
        deactivations = [deactivation(p) for p in people + waiting]
        repeats = _again(deactivations[:n])
        requests = [request(p, i) for p, i in zip(people, ids, strict=True)]
        pending = [request(p, uuid.uuid4()) for p in waiting]
        emergencies = [request(p, uuid.uuid4(), "EMERGENCY") for p in strangers]
        phases: list[tuple[str, int, bool, Step]] = [
            ("deactivation (new person)", 2 * n, True, lambda h, _: in_batches(h.on_participant_events, deactivations)),
            ("deactivation repeated", n, False, lambda h, _: in_batches(h.on_participant_events, repeats)),
            ("re-ranking or biometric fact", 2 * n, True, lambda h, _: in_batches(h.on_participant_events, facts)),
            ("regular request (approved)", n, True, lambda h, _: in_batches(h.on_requests, requests)),
            ("request resent (new event id)", n, False, lambda h, _: in_batches(h.on_requests, _again(requests))),
            ("regular request (pending, no re-ranking)", n, True, lambda h, _: in_batches(h.on_requests, pending)),
            ("emergency, person unknown (pending)", n, False, lambda h, _: in_batches(h.on_emergency, emergencies)),
            ("relay (per record published)", 1, True, lambda _, engine: relay_all(engine, topics)),
        ]  # fmt: skip
        tune_for_latency()  # as eligibility's processes once wired: the phases measure what they run
        head = f"{'phase':41} {'events':>6} {'rows/event':>10} {'CPU ms/event':>12} {'PG ms/event':>11}"
        print(f"{head}  table: ins/upd/del")
        for title, count, in_requests, step in phases:
            if only_requests and not in_requests:
                continue
            r = await phase(url, title, count, step)
            tables = ", ".join(f"{t} {i}/{u}/{d}" for t, (i, u, d) in sorted(r["tables"].items()))
            cells = f"{r['events']:>6} {r['per_event']:>10.2f} {r['cpu_ms']:>12.3f} {r['pg_ms']:>11.3f}"
            print(f"{r['phase']:41} {cells}  {tables}")
    finally:
        await drop_database(admin, name)
        await delete_topics(topics)


async def delete_topics(settings: Settings) -> None:
    client = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await client.start()
    try:
        existing = set(await client.list_topics())
        await client.delete_topics([t for t in existing if t.startswith(settings.topic_prefix)])
    finally:
        await client.close()


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # counts, not logs
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, "requests" in sys.argv[2:]))
