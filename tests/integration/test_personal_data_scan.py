"""The erasure tests' scan finds personal data in text rows and inside binary outbox bundles (framed with
lengths that hold NUL bytes, which PostgreSQL cannot read as UTF-8 text)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from shared.db import make_engine
from shared.outbox import outbox_bundle
from shared.settings import Settings
from testkit.personal_data import rows_holding

pytestmark = pytest.mark.integration


async def test_needles_are_found_in_rows_and_in_bundles_and_nothing_else(database_url: str) -> None:
    bundle = outbox_bundle(
        "t", [(b"3674015708900001", '{"name":"Siti Ñurhaliza"}'.encode(), {})], event_id=uuid.uuid4()
    )
    assert b"\x00" in bundle["payload"]
    engine = make_engine(Settings(database_url=database_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create schema scan"))
            await conn.execute(text("create table scan.people (name text)"))
            await conn.execute(text("create table scan.outbox (payload bytea)"))
            await conn.execute(text("insert into scan.people values ('Budi'), ('Ani')"))
            await conn.execute(text("insert into scan.outbox values (:p)"), {"p": bundle["payload"]})
        async with engine.connect() as conn:
            found = await rows_holding(conn, ["scan"], ["Budi", "Siti Ñurhaliza", "nobody"])
            assert [f.split(":")[0] for f in found] == ["scan.outbox", "scan.people"]
            assert await rows_holding(conn, ["scan"], ["Joko"]) == []
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("drop schema scan cascade"))
        await engine.dispose()
