"""The registry's bulk statements on PostgreSQL (shared/columns.py): rows come back as given whichever
way each column travelled: one value, text packed, times packed as microseconds since the epoch (exact, any
zone, before 1970, NULL among them), or arrays (a text holding the separator)."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.registry.store import MIGRATIONS, RQ, SCHEMA
from services.registry.uow import insert_rows
from shared.columns import ARRAY_, MICROS, ONE, PACKED, US, columns
from shared.db import make_sessions
from testkit.engines import migrated_engine

T0 = dt.datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=dt.UTC)
WIT = zoneinfo.ZoneInfo("Asia/Jayapura")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


def row(i: int, **kw: object) -> dict[str, object]:
    return {
        "request_id": uuid.uuid4(),
        "nik": f"36740157089{i:05d}",
        "path": "REGULAR",
        "channel": "VILLAGE",
        "facility_code": None,
        "province": "Banten",
        "regency": "Tangerang Selatan",
        "district": f"District {i}",
        "status": "PENDING",
        "reasons": ["BIOMETRIC_MISSING"] if i % 2 else [],
        "received_at": T0 + dt.timedelta(microseconds=i),
        "decided_at": (T0 + dt.timedelta(days=i, microseconds=999_999)).astimezone(WIT) if i % 3 else None,
        "sla_deadline": dt.datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC) if i == 1 else None,
        "sla_state": None,
        **kw,
    }


async def stored(engine: AsyncEngine, rows: list[dict[str, object]]) -> dict[uuid.UUID, dict[str, object]]:
    async with make_sessions(engine)() as session, session.begin():
        await insert_rows(session, RQ, rows)
    async with engine.connect() as conn:
        ids = [r["request_id"] for r in rows]
        return {
            r["request_id"]: dict(r)
            for r in (await conn.execute(select(RQ).where(RQ.c.request_id.in_(ids)))).mappings()
        }


async def test_rows_come_back_as_given_whichever_way_each_column_went(engine: AsyncEngine) -> None:
    rows = [row(i) for i in range(1, 6)]
    batch = columns(RQ, {name: [r[name] for r in rows] for name in rows[0]})
    modes = dict(zip(batch.names, batch.modes, strict=True))
    assert (modes["received_at"], modes["decided_at"], modes["sla_deadline"]) == (MICROS, MICROS, MICROS)
    assert (modes["district"], modes["path"], modes["sla_state"], modes["reasons"]) == (PACKED, ONE, ONE, ARRAY_)
    assert await stored(engine, rows) == {r["request_id"]: r for r in rows}


async def test_a_separator_in_a_text_sends_the_column_as_an_array(engine: AsyncEngine) -> None:
    rows = [row(7, district=f"a{US}b"), row(8)]
    batch = columns(RQ, {name: [r[name] for r in rows] for name in rows[0]})
    assert dict(zip(batch.names, batch.modes, strict=True))["district"] == ARRAY_
    assert await stored(engine, rows) == {r["request_id"]: r for r in rows}
