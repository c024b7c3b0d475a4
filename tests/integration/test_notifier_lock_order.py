"""The sender records a claim's outcomes with its rows locked in message id order, the order a webhook's
receipts lock them in (services/notifier/api.py `_locked`): taken the other way round, the two deadlocked
beside a running demo (the webhook answered 500, the claim was left SENDING for the reconciler)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.sender import Sender
from services.notifier.store import MIGRATIONS, SCHEMA, M
from shared.db import make_sessions
from testkit.engines import migrated_engine
from testkit.polling import eventually

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


def message(message_id: uuid.UUID) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "nik": "3674015708900001",
        "kind": "deactivated",
        "urgent": False,
        "text": "teks",
        "phone": "+6281234567890",
        "channel": "WHATSAPP",
        "state": "SENDING",
        "attempts": 1,
        "send_after": NOW,
        "updated_at": NOW,
    }


def sent(message_id: uuid.UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An outcome as the sender's delivery returns it (no announcement: nothing to publish)."""
    row = {**message(message_id), "state": "SENT", "provider_message_id": f"wamid.{message_id.hex[:8]}"}
    return row, []


async def waiting_for_a_lock(engine: AsyncEngine) -> list[int]:
    # A transaction of its own each time: pg_stat_activity is read once per transaction.
    query = "select pid from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()"
    async with engine.connect() as conn:
        return list((await conn.execute(text(query))).scalars())


async def test_recording_a_claim_locks_its_messages_in_message_id_order(engine: AsyncEngine) -> None:
    first, second = sorted([uuid.uuid4(), uuid.uuid4()])
    async with engine.begin() as conn:  # the second first on the heap: a scan meets it first too
        await conn.execute(insert(M).values([message(second), message(first)]))
    no_provider: Any = None  # _record calls none
    sender = Sender(make_sessions(engine), no_provider, no_provider, lambda: None, "", lambda: NOW, 10, 3)
    lock = text(f"select 1 from {SCHEMA}.messages where message_id = :id for update")
    recording: asyncio.Task[None] | None = None
    async with engine.connect() as webhook, engine.connect() as probe:
        try:
            await webhook.begin()  # holds the first message, as a webhook's receipt would
            await webhook.execute(lock, {"id": first})
            # The claim names the second message first: recorded in that order, it would lock the second and
            # then wait for the first, while a webhook holding the first would next wait for the second.
            recording = asyncio.create_task(sender._record([sent(second), sent(first)]))
            await eventually(lambda: waiting_for_a_lock(engine))
            # While it waits for the first message, the sender holds no lock on the second.
            await probe.begin()
            locked = await probe.scalar(text(f"{lock.text} nowait"), {"id": second})
            await probe.rollback()
            assert locked == 1
            await webhook.rollback()
            await asyncio.wait_for(recording, 60)
        finally:
            if recording is not None and not recording.done():
                recording.cancel()
    async with engine.connect() as conn:
        states = {r.message_id: r.state for r in await conn.execute(select(M.c.message_id, M.c.state))}
    assert states == {first: "SENT", second: "SENT"}
