"""Rows eligibility writes per event, counted by PostgreSQL (pg_stat_user_tables: n_tup_ins, n_tup_upd,
n_tup_del per table) on a fresh database: the handlers are called directly (no Kafka, no relay, so every
outbox row stays counted as one insert; the relay's delete comes later, one per row).

    PBI_ENV=local .venv/bin/python -m bench.eligibility_rows [N]     # N people, default 1,000

CPU ms/event is this process's (the handlers' Python); PG ms/event is the CPU of the PostgreSQL backends
serving the bench's database (their process title names it), in the same phase. Phases, each with its own
figures: N deactivations of new people (a wave), the same list again from
another source (a repeat: new event ids, same dates), the facts that make them eligible (a re-ranking and
a biometric recording each), N regular requests (approved), N requests again under new event ids (a
resend), and N emergencies for people never seen (PENDING, NOT_DEACTIVATED: timers). Batches of 500, as
the consumers' batches are. Runs against whatever code is checked out, so the same command measures
before and after a change."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.stage_watch import backends_cpu_s
from services.eligibility.app import load_policy
from services.eligibility.handlers import EligibilityHandlers
from services.eligibility.store import MIGRATIONS, SCHEMA
from shared.db import make_sessions, migrate
from shared.events import (
    BiometricRecorded,
    DesilUpdated,
    Documents,
    HospitalLetter,
    ParticipantDeactivated,
    ReactivationRequested,
)
from shared.settings import Settings
from testkit.infra import create_database, drop_database
from testkit.rows import table_counts, writes

NOW = dt.datetime.now(dt.UTC)
BATCH = 500


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


async def phase(
    url: str, name: str, n_events: int, step: Callable[[EligibilityHandlers], Awaitable[None]]
) -> dict[str, Any]:
    engine = create_async_engine(url)
    handlers = EligibilityHandlers(
        make_sessions(engine), load_policy(), lambda: dt.datetime.now(dt.UTC), "b.", lambda: None
    )
    before = await table_counts(url, SCHEMA)
    db = make_url(url).database or ""
    cpu = time.process_time()
    await step(handlers)
    cpu = time.process_time() - cpu
    pg = backends_cpu_s(db)  # the engine's backends, before they exit
    await engine.dispose()  # its backends exit and flush their statistics
    written = writes(before, await table_counts(url, SCHEMA))
    total = sum(ins + upd for ins, upd, _ in written.values())
    cpu_ms, pg_ms = 1000 * cpu / n_events, 1000 * pg / n_events
    per_event = total / n_events
    return {"phase": name, "events": n_events, "per_event": per_event, "cpu_ms": cpu_ms, "pg_ms": pg_ms} | {
        "tables": written
    }


def _again(events: list[Any]) -> list[Any]:
    """The same events under new event ids (another source's list, a resend)."""
    return [e.model_copy(update={"event_id": uuid.uuid4()}) for e in events]


async def in_batches(handler: Callable[[list[Any]], Awaitable[None]], events: list[Any]) -> None:
    for i in range(0, len(events), BATCH):
        await handler(events[i : i + BATCH])


async def main(n: int) -> None:
    admin = Settings().database_url
    name = f"pbi_rows_{uuid.uuid4().hex[:10]}"
    url = await create_database(admin, name)
    try:
        migrator = create_async_engine(url)
        await migrate(migrator, MIGRATIONS, SCHEMA)
        await migrator.dispose()
        people = [nik(i) for i in range(n)]
        strangers = [nik(i, 3674015709) for i in range(n)]
        ids = [uuid.uuid4() for _ in people]
        facts = [e for p in people for e in (
            DesilUpdated(occurred_at=NOW, source="DTSEN", nik=p, desil=3, effective_on=NOW.date()),
            BiometricRecorded(occurred_at=NOW, source="DUKCAPIL", nik=p, recorded_on=NOW.date()),
        )]  # fmt: skip
        deactivations = [deactivation(p) for p in people]
        requests = [request(p, i) for p, i in zip(people, ids, strict=True)]
        emergencies = [request(p, uuid.uuid4(), "EMERGENCY") for p in strangers]
        phases: list[tuple[str, int, Callable[[EligibilityHandlers], Awaitable[None]]]] = [
            ("deactivation (new person)", n, lambda h: in_batches(h.on_participant_events, deactivations)),
            ("deactivation repeated", n, lambda h: in_batches(h.on_participant_events, _again(deactivations))),
            ("re-ranking or biometric fact", 2 * n, lambda h: in_batches(h.on_participant_events, facts)),
            ("regular request (approved)", n, lambda h: in_batches(h.on_requests, requests)),
            ("request resent (new event id)", n, lambda h: in_batches(h.on_requests, _again(requests))),
            ("emergency, person unknown (pending)", n, lambda h: in_batches(h.on_emergency, emergencies)),
        ]
        head = f"{'phase':37} {'events':>6} {'rows/event':>10} {'CPU ms/event':>12} {'PG ms/event':>11}"
        print(f"{head}  table: ins/upd/del")
        for title, count, step in phases:
            r = await phase(url, title, count, step)
            tables = ", ".join(f"{t} {i}/{u}/{d}" for t, (i, u, d) in sorted(r["tables"].items()))
            cells = f"{r['events']:>6} {r['per_event']:>10.2f} {r['cpu_ms']:>12.3f} {r['pg_ms']:>11.3f}"
            print(f"{r['phase']:37} {cells}  {tables}")
    finally:
        await drop_database(admin, name)


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # counts, not logs
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
