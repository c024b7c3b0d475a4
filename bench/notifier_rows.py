"""Rows the notifier writes per consumed event, counted by PostgreSQL (pg_stat_user_tables: n_tup_ins,
n_tup_upd, n_tup_del per table) on a fresh database, with the CPU it took: the handler's (this process,
`time.process_time`) and its PostgreSQL backends' (bench.stage_watch.backends_cpu_s), per event. The handler is
called directly (no Kafka, no sender).

    PBI_ENV=local .venv/bin/python -m bench.notifier_rows [N]     # N people, default 2,000
    PROFILE=wave PBI_ENV=local .venv/bin/python -m bench.notifier_rows 5000   # pyinstrument of one phase

Phases, in batches of 500 as the consumer's batches are: the wave (testkit.wave: N deactivations shaped like
the Tangerang Selatan list, about 86% with a mobile number), the same batches redelivered (a crash before the
offset commit), then what bench.run's decisions stage brings the notifier: a regular request per person, its
PENDING decision (biometric missing), and those decisions redelivered. Runs against whatever code is checked
out, so the same command measures before and after a change. Once set up (events made, schema migrated) it
calls shared.runtime.tune_for_latency(), as every service process does once wired (gc.freeze, higher GC
thresholds): without it the figures carried the default collector's full scans, which no service runs
(session 13, median of five interleaved runs: requests 0.092 -> 0.068, decisions 0.104 -> 0.079 CPU ms per
event; docs/performance.md). Issue 20: 4.71 rows per deactivation before the unit of work (a processed id for
every event, a blank standing then its update), 2.86 after, 2.00 with one row per person (session 8,
docs/performance.md); 0 for the redelivery either way.

    PBI_ENV=local .venv/bin/python -m bench.notifier_rows send [N]   # CPU per message sent, default 300

The sender's cost instead: the provider simulator and a notifier urgent process (`pbi run`, as `make up`
starts them) on a fresh database, N WhatsApp messages queued at once, CPU of each process (psutil) until
every one is DELIVERED (the simulator's signed receipt applied), at the default 20/s (urgent rows: quiet hours
do not hold them, whatever the time of the run). Issue 20: simulator
26.9 -> 2.1, notifier 12.3 -> 6.4 CPU ms per message."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psutil
import structlog
from pyinstrument import Profiler
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from bench.stage_watch import backends_cpu_s
from services.notifier.handlers import NotifierHandlers
from services.notifier.store import MIGRATIONS, SCHEMA, M
from shared.db import make_engine, make_sessions, migrate
from shared.enums import Channel, DecisionReason, FollowUp, Outcome, ReactivationPath
from shared.events import Event, ParticipantDeactivated, ReactivationDecided, ReactivationRequested, any_event_adapter
from shared.runtime import tune_for_latency
from shared.settings import Settings
from testkit.events import regular
from testkit.infra import create_database, drop_database, new_run_prefix
from testkit.rows import table_counts, writes
from testkit.system import ROOT, RunningSystem, free_port
from testkit.wave import wave_events

NOON = dt.datetime(2026, 11, 30, 5, tzinfo=dt.UTC)  # 12:00 WIB: no quiet hours
BATCH = 500


async def phase(url: str, name: str, n: int, step: Callable[[NotifierHandlers], Awaitable[None]]) -> dict[str, Any]:
    engine = make_engine(Settings(database_url=url))
    before = await table_counts(url, SCHEMA)
    handlers = NotifierHandlers(make_sessions(engine), lambda: NOON, lambda: None)
    profiler = Profiler(interval=0.0005) if os.environ.get("PROFILE") == name else None
    cpu = time.process_time()
    if profiler:
        profiler.start()
    await step(handlers)
    if profiler:
        profiler.stop()
    cpu = time.process_time() - cpu
    pg = backends_cpu_s(make_url(url).database or "")  # the engine's backends, before they exit
    await engine.dispose()  # its backends exit and flush their statistics
    written = writes(before, await table_counts(url, SCHEMA))
    if profiler:
        print(profiler.output_text(unicode=False, color=False, show_all=False))
    total = sum(sum(d) for d in written.values())
    return {"phase": name, "per_event": total / n, "cpu_ms": 1000 * cpu / n, "pg_ms": 1000 * pg / n} | {
        "tables": written
    }


def decision(req: ReactivationRequested) -> ReactivationDecided:
    """Eligibility's answer as the bench's decisions mostly are: PENDING, the biometric to record."""
    return ReactivationDecided(
        occurred_at=NOON,
        source="eligibility",
        nik=req.nik,
        decision_id=uuid.uuid5(req.request_id, "PENDING"),
        request_id=req.request_id,
        path=ReactivationPath.REGULAR,
        channel=Channel.VILLAGE,
        outcome=Outcome.PENDING,
        reasons=[DecisionReason.BIOMETRIC_MISSING],
        follow_ups=[FollowUp.BIOMETRIC_RECORDING],
        policy_version="bench",
        received_at=req.received_at,
        decided_at=NOON,
    )


async def main(n: int) -> None:
    admin = Settings().database_url
    name = f"pbi_rows_{uuid.uuid4().hex[:10]}"
    url = await create_database(admin, name)
    try:
        migrator = make_engine(Settings(database_url=url))
        await migrate(migrator, MIGRATIONS, SCHEMA)
        await migrator.dispose()
        wave: list[ParticipantDeactivated] = [
            any_event_adapter.validate_python(e | {"event_id": str(uuid.uuid4())}) for e in wave_events(n, 7)
        ]
        requests = [regular(e.nik).model_copy(update={"occurred_at": NOON, "received_at": NOON}) for e in wave]
        decisions = [decision(r) for r in requests]

        def deliver(events: Sequence[Event]) -> Callable[[NotifierHandlers], Awaitable[None]]:
            async def step(handlers: NotifierHandlers) -> None:
                for i in range(0, len(events), BATCH):
                    await handlers.on_events(list(events[i : i + BATCH]))  # type: ignore[arg-type]

            return step

        with_phone = sum(1 for e in wave if e.phone)
        print(f"notifier, {n:,} wave deactivations ({with_phone / n:.0%} with a mobile number), batches of {BATCH}")
        print("  then a regular request and its PENDING decision for each (as bench.run's decisions stage)")
        phases = [
            ("wave", wave),
            ("redelivered", wave),
            ("requests", requests),
            ("decisions", decisions),
            ("decisions again", decisions),
        ]
        tune_for_latency()  # as the notifier's processes once wired: the phases measure what they run
        for label, events in phases:
            result = await phase(url, label, n, deliver(events))
            tables = ", ".join(f"{t} {'/'.join(map(str, d))}" for t, d in result["tables"].items()) or "none"
            print(
                f"  {label:16} {result['per_event']:.2f} rows, {result['cpu_ms']:.3f} CPU ms, "
                f"PostgreSQL {result['pg_ms']:.3f} ms per event  (ins/upd/del: {tables})"
            )
    finally:
        await drop_database(admin, name)


async def send(n: int) -> None:
    admin = Settings().database_url
    name = f"pbi_send_{uuid.uuid4().hex[:10]}"
    url = await create_database(admin, name)
    ports = {"simulator": free_port(), "notifier": free_port()}
    ports["notifier-urgent"] = ports["notifier"]
    base, notifier = f"http://127.0.0.1:{ports['simulator']}", f"http://127.0.0.1:{ports['notifier']}"
    env = {
        **os.environ,
        **{"DATABASE_URL": url, "TOPIC_PREFIX": new_run_prefix("send"), "PBI_ENV": "local", "LOG_JSON": "true"},
        **{"WHATSAPP_API_BASE": base, "TWILIO_API_BASE": base, "SIMULATOR_WEBHOOK_BASE": notifier},
        "PUBLIC_BASE_URL": notifier,
    }
    system, engine = RunningSystem(env, ports, ROOT / ".run" / "notifier-send"), make_engine(Settings(database_url=url))
    system.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        system.start("simulator")
        system.start("notifier-urgent")
        procs = {name: psutil.Process(p.pid) for name, p in system.processes.items()}
        now = dt.datetime.now(dt.UTC)
        rows = [
            {"message_id": uuid.uuid4(), "nik": e["nik"], "kind": "approved", "urgent": True, "text": "PBI JKN"}
            | {"phone": f"+62812{i:08d}", "channel": "WHATSAPP", "state": "QUEUED", "send_after": now}
            | {"updated_at": now, "attempts": 0}
            for i, e in enumerate(wave_events(n, 7))
        ]
        before, started = {k: sum(p.cpu_times()[:2]) for k, p in procs.items()}, time.monotonic()
        async with engine.begin() as conn:
            await conn.execute(insert(M), rows)
        while True:  # polling the effect: every receipt applied
            async with engine.connect() as conn:
                done = await conn.scalar(select(func.count()).select_from(M).where(M.c.state == "DELIVERED"))
            if done >= n:
                break
            await asyncio.sleep(0.5)
        seconds = time.monotonic() - started
        print(f"notifier sender, {n:,} WhatsApp messages sent and delivered in {seconds:.1f} s")
        for process, p in procs.items():  # not `name`: that is the database dropped below
            used = sum(p.cpu_times()[:2]) - before[process]
            print(f"  {process:16} {used:.2f} CPU s, {1000 * used / n:.2f} CPU ms per message")
    finally:
        system.stop()
        await engine.dispose()
        await drop_database(admin, name)


if __name__ == "__main__":
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if sys.argv[1:2] == ["send"]:
        asyncio.run(send(int(sys.argv[2]) if len(sys.argv) > 2 else 300))
    else:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
