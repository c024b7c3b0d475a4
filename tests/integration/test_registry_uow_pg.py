"""The registry handler's cases (tests/unit/registry/handler_cases.py) on PostgreSQL: the same cases the
in-memory unit of work passes, against a fresh migrated database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry.handlers import RegistryHandlers
from services.registry.privacy import ERASURES
from services.registry.store import INBOX, MIGRATIONS, RQ, SCHEMA, A, H, N, P, W, outbox
from services.registry.sweep import WindowSweep
from shared.db import make_engine, make_sessions
from shared.events import DesilUpdated, IdSemestaAssigned, ParticipantStatusChanged
from shared.outbox import outbox_records
from shared.privacy import mark_erased
from shared.settings import Settings
from testkit.engines import migrated_engine
from testkit.polling import eventually
from tests.unit.registry.handler_cases import (
    DAY,
    NOTIFICATION_COLUMNS,
    PREFIX,
    REQUEST_COLUMNS,
    T0,
    HandlerCases,
    Snapshot,
    _change,
)


class PgBackend:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.now = engine, T0 + DAY
        sessions = make_sessions(engine)
        self.handlers = RegistryHandlers(sessions, PREFIX, lambda: None, clock=lambda: self.now)
        self.sweep = WindowSweep(sessions, PREFIX, clock=lambda: self.now)

    async def erase(self, nik: str, at: dt.datetime) -> None:
        async with self.engine.begin() as conn:
            await mark_erased(conn, ERASURES, [nik], at)

    async def snapshot(self) -> Snapshot:
        async with self.engine.connect() as conn:

            async def rows(q: Any) -> list[Any]:
                return list((await conn.execute(q)).mappings())

            people = await rows(select(P))
            history = await rows(select(H).order_by(H.c.id))
            anomalies = await rows(select(A))
            inbox = await rows(select(INBOX))
            published = [r.value for row in await rows(select(outbox)) for r in outbox_records(row)]
            requests = await rows(select(RQ))
            worklist = await rows(select(W))
            notifications = await rows(select(N))
        return Snapshot(
            people={r["nik"]: dict(r) for r in people},
            history=[(r["nik"], r["event_id"], r["event_type"], r["previous_status"], r["status"]) for r in history],
            anomalies=sorted((r["event_id"], r["nik"], r["kind"]) for r in anomalies),
            inbox={r["event_id"] for r in inbox},
            published=sorted(_change(ParticipantStatusChanged.model_validate_json(v)) for v in published),
            published_values=published,
            requests={r["request_id"]: {c: r[c] for c in REQUEST_COLUMNS} for r in requests},
            worklist={r["item_id"]: (r["kind"], r["state"], r["closed_by"]) for r in worklist},
            notifications={r["message_id"]: {c: r[c] for c in NOTIFICATION_COLUMNS} for r in notifications},
        )


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[PgBackend]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield PgBackend(engine)


class TestOnPostgres(HandlerCases):
    pass


async def test_the_same_events_on_two_consumers_at_once_are_applied_once(backend: PgBackend) -> None:
    """A rebalance hands a partition's records to a second consumer while the first still applies them:
    for a person not yet known (no row to lock) one transaction wins, the other applies again on its rows."""
    from tests.unit.registry.handler_cases import NIK, deactivated

    facts = [
        deactivated(reason="DECEASED"),
        DesilUpdated(occurred_at=T0, source="DTSEN", nik=NIK, desil=7, effective_on=dt.date(2026, 8, 30)),
        IdSemestaAssigned(occurred_at=T0, source="SIKS-NG", nik=NIK, id_semesta="0001234567890"),
    ]
    other = RegistryHandlers(make_sessions(backend.engine), PREFIX, lambda: None, clock=lambda: backend.now)
    for _ in range(5):
        await asyncio.gather(backend.handlers.on_events(facts), other.on_events(facts[:2]))
    s = await backend.snapshot()
    assert s.people[NIK]["id_semesta"] == "0001234567890" and s.people[NIK]["desil"] == 7
    assert [h[1] for h in s.history] == [f.event_id for f in facts] and len(s.published) == 1


async def test_a_new_deactivation_writes_two_rows_and_a_redelivered_one_none(database_url: str) -> None:
    """Rows written per wave event (pg_stat_user_tables, a fresh database): a participant and a history row,
    and per batch one outbox row with its status changes (which the relay deletes once published); no inbox
    row, and nothing at all when the whole wave comes again."""
    from tests.unit.registry.handler_cases import deactivated

    n = 2000
    wave = [deactivated(nik=f"3674015708{90001 + i:06d}") for i in range(n)]
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        handlers = RegistryHandlers(make_sessions(engine), PREFIX, lambda: None, clock=lambda: T0 + DAY)
        for _ in range(2):  # the second time: redelivered
            for i in range(0, n, 500):
                await handlers.on_events(wave[i : i + 500])
    # its connections closed: a backend reports its table counts when it ends
    stats = make_engine(Settings(database_url=database_url))

    async def written() -> dict[str, int] | None:
        async with stats.connect() as conn:
            rows = (await conn.execute(text(WRITES))).all()
        counts = {name: int(total) for name, total in rows if name != "alembic_version" and total}
        return counts if counts.get("participants", 0) >= n else None

    counts = await eventually(written)
    await stats.dispose()
    assert counts == {"participants": n, "history": n, "outbox": n // 500}, counts


WRITES = f"select relname, n_tup_ins + n_tup_upd + n_tup_del from pg_stat_user_tables where schemaname = '{SCHEMA}'"
