"""Rows the notifier writes per wave deactivation, counted by PostgreSQL (pg_stat_user_tables: n_tup_ins,
n_tup_upd, n_tup_del per table) on a fresh database: the handler is called directly (no Kafka, no sender).

    PBI_ENV=local .venv/bin/python -m bench.notifier_rows [N]     # N people, default 2,000

Two phases: the wave (testkit.wave: N deactivations shaped like the Tangerang Selatan list, about 86% with a
mobile number) in batches of 500 as the consumer's batches are, then the same batches redelivered (a crash
before the offset commit). Runs against whatever code is checked out, so the same command measures before
and after a change. Issue 20: 4.71 rows per deactivation before the unit of work (a processed id for every
event, a blank standing then its update), 2.86 after; 0 for the redelivery either way."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from services.notifier.handlers import NotifierHandlers
from services.notifier.store import MIGRATIONS, SCHEMA
from shared.db import make_engine, make_sessions, migrate
from shared.events import ParticipantDeactivated, any_event_adapter
from shared.settings import Settings
from testkit.infra import create_database, drop_database
from testkit.rows import table_counts, writes
from testkit.wave import wave_events

NOON = dt.datetime(2026, 11, 30, 5, tzinfo=dt.UTC)  # 12:00 WIB: no quiet hours
BATCH = 500


async def phase(url: str, name: str, n: int, step: Callable[[NotifierHandlers], Awaitable[None]]) -> dict[str, Any]:
    engine = make_engine(Settings(database_url=url))
    before = await table_counts(url, SCHEMA)
    await step(NotifierHandlers(make_sessions(engine), lambda: NOON, lambda: None))
    await engine.dispose()  # its backends exit and flush their statistics
    written = writes(before, await table_counts(url, SCHEMA))
    return {"phase": name, "per_event": sum(sum(d) for d in written.values()) / n, "tables": written}


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

        async def deliver(handlers: NotifierHandlers) -> None:
            for i in range(0, n, BATCH):
                await handlers.on_events(wave[i : i + BATCH])  # type: ignore[arg-type]

        with_phone = sum(1 for e in wave if e.phone)
        print(f"notifier, {n:,} wave deactivations ({with_phone / n:.0%} with a mobile number), batches of {BATCH}")
        for label in ("wave", "redelivered"):
            result = await phase(url, label, n, deliver)
            tables = ", ".join(f"{t} {'/'.join(map(str, d))}" for t, d in result["tables"].items()) or "none"
            print(f"  {label:12} {result['per_event']:.2f} rows per event  (ins/upd/del: {tables})")
    finally:
        await drop_database(admin, name)


if __name__ == "__main__":
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
