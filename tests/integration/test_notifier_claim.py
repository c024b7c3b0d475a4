"""A claim on PostgreSQL (services/notifier/sender.py `send_due`): a message to a number that opted out meanwhile is
cancelled at its claim (SKIPPED, never sent), an answer the person asked for is still sent, and every other
claimed message is marked SENDING with its attempt counted before the provider is called (the claim's written-out
statements, issue 20); each role's sender claims its own messages."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier.sender import Sender, claim_due
from services.notifier.store import MIGRATIONS, OO, SCHEMA, M
from shared.db import make_sessions
from shared.settings import Role
from testkit.engines import migrated_engine

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB: no quiet hours
STOPPED, OTHER = "+6281234567890", "+6281298765432"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


class Recording:
    """A provider that takes every message and reads its row as the provider is called."""

    channel = "WHATSAPP"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine, self.rows_at_send = engine, list[dict[str, Any]]()

    async def send(self, to: str, text: str, reference: str) -> str:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(M).where(M.c.message_id == uuid.UUID(reference)))).mappings().one()
        self.rows_at_send.append(dict(row))
        return f"wamid.{reference[:8]}"

    async def lookup(self, reference: str, to: str, text: str) -> str | None:
        return None


def queued(phone: str, kind: str, attempts: int = 0) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4(),
        "nik": "3674015708900001",
        "kind": kind,
        "urgent": False,
        "text": "teks",
        "phone": phone,
        "channel": "WHATSAPP",
        "state": "QUEUED",
        "attempts": attempts,
        "send_after": NOW - dt.timedelta(minutes=1),
        "updated_at": NOW - dt.timedelta(minutes=1),
    }


async def test_a_claim_cancels_messages_to_an_opted_out_number_and_marks_the_others_sending(
    engine: AsyncEngine,
) -> None:
    notice, answer = queued(STOPPED, "deactivated"), queued(STOPPED, "reply_status")
    other = queued(OTHER, "approved", attempts=2)
    async with engine.begin() as conn:
        await conn.execute(insert(M).values([notice, answer, other]))
        await conn.execute(insert(OO).values(phone=STOPPED, opted_out=True, changed_at=NOW))
    provider = Recording(engine)
    sender = Sender(make_sessions(engine), provider, provider, lambda: None, "t.", lambda: NOW, 100.0, 5)
    assert await sender.send_due() == 3
    async with engine.connect() as conn:
        rows = {r["message_id"]: dict(r) for r in (await conn.execute(select(M))).mappings()}
    assert rows[notice["message_id"]]["state"] == "SKIPPED"
    assert rows[notice["message_id"]]["last_error"] == "opted out (BERHENTI/STOP)"
    assert rows[notice["message_id"]]["attempts"] == 0
    assert {r["message_id"]: (r["state"], r["attempts"]) for r in provider.rows_at_send} == {
        answer["message_id"]: ("SENDING", 1),
        other["message_id"]: ("SENDING", 3),
    }
    assert all(r["updated_at"] == NOW for r in provider.rows_at_send)
    assert [rows[m["message_id"]]["state"] for m in (answer, other)] == ["SENT", "SENT"]


async def test_a_message_to_an_opted_out_number_claimed_at_night_is_cancelled_with_its_attempt_not_spent(
    engine: AsyncEngine,
) -> None:
    """Held by quiet hours and stopped by an opt-out at the same claim: cancelled once, its attempt given back once."""
    night = dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC)  # 22:00 WIB
    notice = {**queued(STOPPED, "deactivated", attempts=2), "send_after": night - dt.timedelta(minutes=1)}
    async with engine.begin() as conn:
        await conn.execute(insert(M).values([notice]))
        await conn.execute(insert(OO).values(phone=STOPPED, opted_out=True, changed_at=night))
    provider = Recording(engine)
    sender = Sender(make_sessions(engine), provider, provider, lambda: None, "t.", lambda: night, 100.0, 5)
    assert await sender.send_due() == 1
    async with engine.connect() as conn:
        row = (await conn.execute(select(M))).mappings().one()
    assert (row["state"], row["attempts"]) == ("SKIPPED", 2) and provider.rows_at_send == []


async def test_each_roles_sender_sends_only_its_own_messages_and_recovers_only_its_own(engine: AsyncEngine) -> None:
    """An urgent process sends the urgent messages, a bulk one the others (a wave's notices at the bulk
    priority), an `all` one both; reconcile takes back only its own role's messages left SENDING."""
    urgent, notice = {**queued(OTHER, "emergency_approved"), "urgent": True}, queued(OTHER, "deactivated")
    stale = NOW - dt.timedelta(minutes=10)  # left SENDING by a crash, long enough ago to be recovered
    stuck_urgent = {**queued(OTHER, "emergency_received"), "urgent": True, "state": "SENDING", "updated_at": stale}
    stuck_notice = {**queued(OTHER, "received"), "state": "SENDING", "updated_at": stale}
    async with engine.begin() as conn:
        await conn.execute(insert(M).values([urgent, notice, stuck_urgent, stuck_notice]))
    provider = Recording(engine)

    def sender(role: Role) -> Sender:
        return Sender(make_sessions(engine), provider, provider, lambda: None, "t.", lambda: NOW, 100.0, 5, role=role)

    async def states() -> dict[uuid.UUID, str]:
        async with engine.connect() as conn:
            return {r.message_id: r.state for r in await conn.execute(select(M.c.message_id, M.c.state))}

    urgent_sender, bulk_sender = sender(Role.URGENT), sender(Role.BULK)
    await urgent_sender.reconcile()  # the provider has neither: back to the queue, to be sent again
    assert (await states())[stuck_urgent["message_id"]] == "QUEUED"
    assert (await states())[stuck_notice["message_id"]] == "SENDING"
    assert await urgent_sender.send_due() == 2
    sent = {r["message_id"] for r in provider.rows_at_send}
    assert sent == {urgent["message_id"], stuck_urgent["message_id"]}
    assert (await states())[notice["message_id"]] == "QUEUED"
    await bulk_sender.reconcile()
    assert await bulk_sender.send_due() == 2
    assert {r["message_id"] for r in provider.rows_at_send} - sent == {notice["message_id"], stuck_notice["message_id"]}
    assert set((await states()).values()) == {"SENT"}


async def test_an_all_role_claim_takes_both_kinds_urgent_first(engine: AsyncEngine) -> None:
    notice, urgent = queued(OTHER, "deactivated"), {**queued(OTHER, "emergency_approved"), "urgent": True}
    urgent["send_after"] = NOW  # queued after the notice, claimed before it
    async with engine.begin() as conn:
        await conn.execute(insert(M).values([notice, urgent]))
    async with make_sessions(engine)() as session:
        claimed = await claim_due(session, NOW, 10)
    assert [r["message_id"] for r in claimed] == [urgent["message_id"], notice["message_id"]]
