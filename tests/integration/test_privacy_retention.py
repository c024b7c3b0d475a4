"""Retention (UU PDP, issue 18 item 4) on the real database: message texts and the stored copies of dead
letters older than the configured days are emptied by the notifier's sweep, counted by what they were;
messages still waiting and recent ones are kept."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert, select

from services.notifier.app import create_app as create_notifier
from services.notifier.retention import REMOVED, remove_old_texts
from services.notifier.settings import NotifierSettings
from services.notifier.store import MIGRATIONS, SCHEMA, M
from shared.db import make_sessions
from shared.settings import Settings
from testkit.apps import running
from testkit.engines import migrated_engine
from testkit.polling import eventually
from testkit.system import free_port

NOW = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)
NIK = "3674015708900001"
PHONE = "+6281234567890"


def message(state: str, age_days: float) -> dict:  # type: ignore[type-arg]
    at = NOW - dt.timedelta(days=age_days)
    return {
        "message_id": uuid.uuid4(),
        "nik": NIK,
        "kind": "deactivated",
        "urgent": False,
        "text": f"Pesan {state} {age_days}",
        "phone": PHONE,
        "channel": "WHATSAPP",
        "state": state,
        "attempts": 1,
        "send_after": at,
        "updated_at": at,
    }


def removed(what: str) -> float:
    return REMOVED.labels(what)._value.get()  # noqa: SLF001 - prometheus_client has no public read


async def test_texts_older_than_the_retention_are_emptied_and_counted_by_what_they_were(database_url: str) -> None:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        rows = {
            "old_sent": message("SENT", 91),
            "old_read": message("READ", 200),
            "old_failed": message("FAILED", 95),  # the stored copy of a dead letter
            "old_queued": message("QUEUED", 120),  # still to be sent: left alone
            "recent_sent": message("SENT", 89),
            "recent_failed": message("FAILED", 1),
        }
        async with engine.begin() as conn:
            await conn.execute(insert(M), list(rows.values()))
        sessions = make_sessions(engine)
        before = removed("message"), removed("dead_letter")

        counts = await remove_old_texts(sessions, NOW, days=90, batch=2)  # several batches

        assert counts == {"message": 2, "dead_letter": 1}
        assert (removed("message") - before[0], removed("dead_letter") - before[1]) == (2, 1)
        async with engine.connect() as conn:
            kept = {r.message_id: r for r in (await conn.execute(select(M))).all()}
        for name, row in rows.items():
            stored = kept[row["message_id"]]
            emptied = name in ("old_sent", "old_read", "old_failed")
            assert (stored.text == "" and stored.phone == "") is emptied, name
            assert stored.state == row["state"]  # the delivery history stays
        assert await remove_old_texts(sessions, NOW, days=90) == {}  # nothing twice


async def test_the_notifier_sweeps_at_start_with_the_configured_days(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_notifier(
        NotifierSettings(
            **settings.model_dump(), whatsapp_api_base=dead, twilio_api_base=dead, personal_data_retention_days=30
        ),
        clock=lambda: NOW,
    )
    async with migrated_engine(settings.database_url, MIGRATIONS, SCHEMA) as engine:
        old, young = message("SENT", 31), message("SENT", 29)
        async with engine.begin() as conn:
            await conn.execute(insert(M), [old, young])
        async with running(app):  # the sweep's first run is at start

            async def emptied() -> bool:
                async with engine.connect() as conn:
                    texts = dict((await conn.execute(select(M.c.message_id, M.c.text))).all())
                return texts[old["message_id"]] == "" and texts[young["message_id"]] != ""

            await eventually(emptied)
