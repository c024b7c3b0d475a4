"""A provider's delivery receipts on PostgreSQL and Kafka (services/notifier/api.py): the messages a webhook names
are read and locked by one written-out statement (by our reference, else by the provider's id), and the
announcements of the webhooks that come within sender.ANNOUNCE_WITHIN_S wake the outbox relay once
(issue 20: a relay pass per webhook was a third of a receipt's CPU)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.notifier import sender as sender_module
from services.notifier.api import _locked
from services.notifier.app import create_app
from services.notifier.signatures import whatsapp_signature
from services.notifier.store import MIGRATIONS, SCHEMA, M
from shared.db import make_sessions, transaction
from shared.events import NotificationUpdated
from shared.settings import Settings
from shared.topics import NOTIFICATION_EVENTS
from testkit.apps import serving
from testkit.clock import Clock
from testkit.engines import migrated_engine
from testkit.kafka import TopicReader
from testkit.notifier import Sim, messages_in_state, notifier_settings
from testkit.polling import eventually

NOW = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        yield engine


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


def status_webhook(provider_id: str, reference: str) -> bytes:
    status = {"id": provider_id, "status": "delivered", "recipient_id": "6281234567890"}
    value = {"messaging_product": "whatsapp", "statuses": [status | {"biz_opaque_callback_data": reference}]}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": value}]}]}).encode()


async def test_receipts_of_several_webhooks_are_announced_after_one_wake_of_the_relay(
    settings: Settings, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "ANNOUNCE_WITHIN_S", 3.0)  # the three webhooks come well within it
    ns = notifier_settings(settings, sim)
    app = create_app(ns, clock=Clock(NOW))
    ids = sorted(uuid.uuid4() for _ in range(3))
    wakes: list[None] = []
    wake_relay = app.state.sender.wake_relay

    def counted() -> None:
        wakes.append(None)
        wake_relay()

    app.state.sender.wake_relay = counted
    topic = settings.topic_prefix + NOTIFICATION_EVENTS.name
    async with serving(app, sim.notifier_port), TopicReader(settings, topic) as updates:
        async with app.state.sessions() as s, s.begin():
            await s.execute(insert(M).values([message(i, "SENT", f"wamid.{n}", n + 1) for n, i in enumerate(ids)]))
        async with httpx.AsyncClient(base_url=ns.public_base_url) as client:
            for n, message_id in enumerate(ids):
                body = status_webhook(f"wamid.{n}", str(message_id))
                signature = whatsapp_signature(ns.whatsapp_app_secret.get_secret_value(), body)
                answer = await client.post(
                    "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature}
                )
                assert answer.status_code == 200, answer.text
        assert wakes == []  # none at once
        delivered = await eventually(lambda: messages_in_state(app, "DELIVERED"))

        async def all_announced() -> list[NotificationUpdated]:  # one relay pass, read in one poll or several
            found = await updates.wait_for(lambda e: isinstance(e, NotificationUpdated) and e.state == "DELIVERED")
            return found if len(found) >= len(ids) else []

        announced = await eventually(all_announced)
        await eventually(lambda: _woken(wakes))
    assert sorted(r["message_id"] for r in delivered) == ids
    assert sorted(e.message_id for e in announced) == ids
    assert len(wakes) == 1


async def _woken(wakes: list[None]) -> bool:
    return bool(wakes)


class Accepting:
    """A provider that takes every message (its id derived from our reference)."""

    channel = "WHATSAPP"

    async def send(self, phone: str, text: str, reference: str) -> str:
        return f"wamid.{reference}"

    async def lookup(self, reference: str, phone: str, text: str) -> str | None:
        return None


async def test_a_claims_announcements_wake_the_relay_within_the_wait_not_at_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SENT announcements a claim records share the relay's next pass with the receipts that follow them
    (an emergency's two messages took up to four passes)."""
    monkeypatch.setattr(sender_module, "ANNOUNCE_WITHIN_S", 0.2)
    sessions = make_sessions(engine)
    wakes: list[None] = []
    provider: Any = Accepting()
    sender = sender_module.Sender(sessions, provider, provider, lambda: wakes.append(None), "t.", lambda: NOW, 50.0, 3)
    ids = sorted(uuid.uuid4() for _ in range(3))
    async with transaction(sessions) as session:
        await session.execute(insert(M).values([message(i, "QUEUED", None, n + 1) for n, i in enumerate(ids)]))
    assert await sender.send_due() == 3
    assert wakes == []  # recorded and committed, the relay not woken yet
    await eventually(lambda: _woken(wakes))
    async with engine.connect() as conn:
        announced = (await conn.execute(text(f"select count(*) from {SCHEMA}.outbox"))).scalar()
    assert announced == 3 and len(wakes) == 1
