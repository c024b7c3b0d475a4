"""A provider's delivery receipts on PostgreSQL (services/notifier/api.py): the messages a webhook names are read
and locked by one written-out statement (by our reference, else by the provider's id), typed as select(M) reads
them (issue 20: the same select built per request cost about 0.5 ms of CPU more)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.api import _locked
from services.notifier.store import MIGRATIONS, SCHEMA, M
from shared.db import make_engine, make_sessions, migrate, transaction
from shared.settings import Settings

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(Settings(database_url=database_url))
    await migrate(engine, MIGRATIONS, SCHEMA)
    yield engine
    await engine.dispose()


def message(message_id: uuid.UUID, state: str, provider_id: str | None, serial: int = 1) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "nik": f"36740157089000{serial:02d}",
        "kind": "deactivated",
        "urgent": False,
        "text": "teks",
        "phone": "+6281234567890",
        "channel": "WHATSAPP",
        "state": state,
        "attempts": 1,
        "send_after": NOW,
        "updated_at": NOW,
        "provider_message_id": provider_id,
        "correlation_id": "req-1",
    }


async def test_receipts_lock_their_messages_by_our_reference_else_by_the_providers_id(engine: AsyncEngine) -> None:
    by_reference, by_provider, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(M).values(
                [
                    message(by_reference, "SENDING", None),  # a crash left it SENDING: only our reference names it
                    message(by_provider, "SENT", "wamid.b"),
                    message(other, "SENT", "wamid.c"),
                ]
            )
        )
    receipts = [
        ("wamid.a", "DELIVERED", str(by_reference)),
        ("wamid.b", "DELIVERED", None),
        ("wamid.unknown", "DELIVERED", "not-our-reference"),  # neither names a message: nothing
    ]
    async with transaction(make_sessions(engine)) as session:
        locked = await _locked(session, receipts)
        async with engine.connect() as probe:
            await probe.begin()
            with pytest.raises(DBAPIError, match="could not obtain lock"):
                await probe.execute(
                    text(f"select 1 from {SCHEMA}.messages where message_id = :id for update nowait"),
                    {"id": by_provider},
                )
            await probe.rollback()
            other_free = await probe.scalar(
                text(f"select 1 from {SCHEMA}.messages where message_id = :id for update nowait"), {"id": other}
            )
    async with engine.connect() as conn:
        wanted = select(M).where(M.c.message_id.in_([by_reference, by_provider])).order_by(M.c.message_id)
        as_the_table_reads = [dict(r) for r in (await conn.execute(wanted)).mappings()]
    assert locked == as_the_table_reads  # same rows, same order (message id), same Python types
    assert [type(v) for v in locked[0].values()] == [type(v) for v in as_the_table_reads[0].values()]
    assert other_free == 1
