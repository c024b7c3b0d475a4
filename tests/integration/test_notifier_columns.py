"""The notifier's bulk statements on PostgreSQL (shared/columns.py): whichever way each column
travels (one value for the batch, packed into one text, an array), every row is stored as given."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.store import MIGRATIONS, SCHEMA, M
from services.notifier.uow import PgUnitOfWork
from shared.columns import RS, US
from shared.db import make_sessions
from testkit.engines import migrated_engine

NOON = dt.datetime(2026, 11, 30, 5, tzinfo=dt.UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


def row(i: int, **changes: Any) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4(),
        "nik": f"36740157089{i:05d}",
        "kind": "pending",
        "urgent": False,
        "text": f"PBI JKN, {i}",
        "phone": f"+6281{i:08d}",
        "state": "QUEUED",
        "send_after": NOON,
        "updated_at": NOON,
        "channel": "WHATSAPP",
        "correlation_id": None,
        "event_id": uuid.uuid4(),
        "attempts": 0,
    } | changes


async def test_every_message_row_is_stored_as_given(engine: AsyncEngine) -> None:
    batches = [
        [row(1, phone="")],  # a lone empty value (a waiting message's number): sent as an array
        [row(2), row(3)],  # most columns one value for the batch
        [  # text that cannot be packed, NULLs among values, every column varying
            row(4, text=f"free{US}text", correlation_id="abc", urgent=True, state="WAITING", phone=""),
            row(5, text=RS, nik=None, send_after=NOON + dt.timedelta(hours=2), attempts=1, kind="received"),
            row(6, text="", channel="SMS", updated_at=NOON - dt.timedelta(days=1), event_id=None),
        ],
    ]
    sessions = make_sessions(engine)
    for batch in batches:
        async with PgUnitOfWork(sessions) as uow:
            added = await uow.messages.add(batch)
        assert set(added) == {(r["event_id"], r["kind"], r["channel"]) for r in batch}
    async with engine.connect() as conn:
        stored = {r["message_id"]: r for r in (await conn.execute(select(M))).mappings()}
    for given in (r for batch in batches for r in batch):
        assert {k: stored[given["message_id"]][k] for k in given} == given
    # Added again: nothing (the message ids are on record).
    async with PgUnitOfWork(sessions) as uow:
        assert await uow.messages.add(batches[2]) == []


async def test_packed_texts_come_back_from_postgresql_as_they_were(engine: AsyncEngine) -> None:
    """string_to_array takes no escapes and no quotes: whatever a text holds but the two separators."""
    texts = ["", "a,b", '"quoted"', "back\\slash", "{braces}", "NULL", "é ünï", " spaced ", "\t\n", "1"]
    batch = [row(i, text=t) for i, t in enumerate(texts, 10)]
    async with PgUnitOfWork(make_sessions(engine)) as uow:
        await uow.messages.add(batch)
    async with engine.connect() as conn:
        stored = {r.message_id: r.text for r in await conn.execute(select(M.c.message_id, M.c.text))}
    assert [stored[r["message_id"]] for r in batch] == texts
