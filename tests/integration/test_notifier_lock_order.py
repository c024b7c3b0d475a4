"""The sender records a claim's outcomes with its rows locked in message id order, the order a webhook's
receipts lock them in (services/notifier/api.py `_locked`): taken the other way round, the two deadlocked
beside a running demo (the webhook answered 500, the claim was left SENDING for the reconciler)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.sender import Sender
from services.notifier.store import MIGRATIONS, SCHEMA, M
from shared.db import make_sessions
from testkit.engines import migrated_engine
from testkit.locks import free_while_waiting

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


async def test_recording_a_claim_locks_its_messages_in_message_id_order(engine: AsyncEngine) -> None:
    first, second = sorted([uuid.uuid4(), uuid.uuid4()])
    async with engine.begin() as conn:  # the second first on the heap: a scan meets it first too
        await conn.execute(insert(M).values([message(second), message(first)]))
    no_provider: Any = None  # _record calls none
    sender = Sender(make_sessions(engine), no_provider, no_provider, lambda: None, "", lambda: NOW, 10, 3)
    # The claim names the second message first: recorded in that order, it would lock the second and then wait
    # for the first, while a webhook holding the first (as its receipt would) would next wait for the second.
    recording = sender._record([sent(second), sent(first)])
    # While it waits for the first message, the sender holds no lock on the second.
    assert await free_while_waiting(engine, M.fullname, "message_id", held=first, free=second, batch=recording)
    async with engine.connect() as conn:
        states = {r.message_id: r.state for r in await conn.execute(select(M.c.message_id, M.c.state))}
    assert states == {first: "SENT", second: "SENT"}
