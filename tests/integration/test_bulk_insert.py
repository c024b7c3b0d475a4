"""shared.db.bulk_insert on a real PostgreSQL: every column kind the services use, in one statement."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Uuid, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from shared.db import bulk_insert, make_engine, upsert_clause
from shared.settings import Settings

metadata = MetaData(schema="bulk_test")
THINGS = Table(
    "things",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("n", Integer),
    Column("tags", ARRAY(String)),
    Column("doc", JSON),
    Column("headers", JSONB),
    Column("key", LargeBinary, nullable=True),
    Column("at", DateTime(timezone=True)),
)
AT = dt.datetime(2026, 11, 25, 5, tzinfo=dt.UTC)


async def test_every_column_kind_round_trips_and_upserts(settings: Settings) -> None:
    engine = make_engine(settings)
    ids = [uuid.uuid4() for _ in range(3)]
    rows = [
        {"id": ids[0], "n": 1, "tags": ["A", "B"], "doc": {"x": 1}, "headers": {"h": "v"}, "key": b"k1", "at": AT},
        {"id": ids[1], "n": 2, "tags": [], "doc": b'{"pre": "serialized"}', "headers": {}, "key": None, "at": AT},
        {"id": ids[2], "n": 3, "tags": ["C"], "doc": [1, 2], "headers": {"a": "b"}, "key": b"\x00\xff", "at": AT},
    ]
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create schema bulk_test"))
            await conn.run_sync(metadata.create_all)
            await bulk_insert(conn, THINGS, rows)
            # Same keys again: the upsert clause replaces the other columns.
            await bulk_insert(conn, THINGS, [{**rows[0], "n": 10}], upsert_clause("id", list(rows[0])))
            found = {r.id: r for r in (await conn.execute(select(THINGS))).all()}
        assert len(found) == 3
        assert (found[ids[0]].n, found[ids[0]].tags, found[ids[0]].doc, found[ids[0]].key) == (
            10,
            ["A", "B"],
            {"x": 1},
            b"k1",
        )
        assert (found[ids[1]].tags, found[ids[1]].doc, found[ids[1]].key) == ([], {"pre": "serialized"}, None)
        assert (found[ids[2]].doc, found[ids[2]].headers, found[ids[2]].key, found[ids[2]].at) == (
            [1, 2],
            {"a": "b"},
            b"\x00\xff",
            AT,
        )
        async with engine.begin() as conn:
            await bulk_insert(conn, THINGS, [])  # nothing to do, no statement
    finally:
        await engine.dispose()
