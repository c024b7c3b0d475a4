"""A decision that reaches the notifier before the deactivation carrying the person's number (facts and
decisions are separate consumer groups), on real Kafka and PostgreSQL with the provider simulator: the
message waits for the number and is sent, once, when the deactivation files it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import FastAPI

from services.notifier.app import create_app
from shared.events import ParticipantDeactivated
from shared.settings import Settings
from shared.topics import DECISIONS, PARTICIPANT_EVENTS
from testkit.apps import serving
from testkit.clock import Clock
from testkit.events import decided
from testkit.kafka import consumed, produce
from testkit.log_scan import leaks
from testkit.notifier import Sim, message_rows, messages_in_state, notifier_settings
from testkit.polling import eventually

NIK = "3674015708900001"
PHONE = "+6281234567890"
DAYTIME = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB: outside quiet hours


def deactivation() -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=DAYTIME - dt.timedelta(days=1),
        source="SIKS-NG",
        nik=NIK,
        reason="DESIL_ABOVE_5",
        deactivated_on=dt.date(2026, 11, 1),
        phone="081234567890",
    )


async def test_an_approval_that_overtakes_the_deactivation_is_sent_once_its_number_is_filed(
    settings: Settings, sim: Sim, caplog: Any
) -> None:
    app = create_app(notifier_settings(settings, sim), clock=Clock(DAYTIME))
    approved = decided(NIK, uuid.uuid4(), "APPROVED", DAYTIME)
    async with serving(app, sim.notifier_port):
        await produce(settings, DECISIONS, approved)
        [waiting] = await eventually(lambda: messages_in_state(app, "WAITING"))
        assert (waiting["kind"], waiting["phone"]) == ("emergency_approved", "")

        await produce(settings, PARTICIPANT_EVENTS, deactivation())
        await eventually(lambda: _delivered(app, {"emergency_approved", "deactivated"}))
        await produce(settings, DECISIONS, approved)  # redelivered after its message went out
        await eventually(lambda: consumed(settings, DECISIONS))
        assert await app.state.sender.send_due() == 0

    rows = await message_rows(app)
    assert sorted(r["kind"] for r in rows) == ["deactivated", "emergency_approved"]
    told = next(r for r in rows if r["kind"] == "emergency_approved")
    assert told["message_id"] == waiting["message_id"] and told["phone"] == PHONE
    received = await sim.messages()
    assert len(received) == 2 and {m["to"] for m in received} == {PHONE}
    assert sum(m["text"].startswith("DARURAT") for m in received) == 1
    assert leaks(caplog.text) == []  # counts and masked NIKs only


async def _delivered(app: FastAPI, kinds: set[str]) -> bool:
    return {r["kind"] for r in await messages_in_state(app, "DELIVERED")} == kinds
