"""Issue 21's escalation, the whole way on real Kafka + PostgreSQL + HTTP: an emergency held by an open
NIK conflict is on the worklist at once (EMERGENCY_HELD); eligibility restarts, and when its clock
reaches 12 hours the region's on-call contact gets the warning through the provider simulator, at 24
hours the breach, once each; the breach is an SLA_BREACHED worklist item too."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from services.eligibility.app import create_app as create_eligibility
from services.notifier.app import create_app as create_notifier
from services.registry.app import create_app as create_registry
from services.registry.store import W
from shared.db import make_engine
from shared.events import NikConflictReported
from shared.settings import RegistrySettings, Settings
from shared.topics import EMERGENCY_REQUESTS, PARTICIPANT_EVENTS
from testkit.apps import running, serving
from testkit.clock import Clock
from testkit.eligibility import eligibility_settings, facts_applied
from testkit.events import NIK, NOW, deactivated, emergency
from testkit.kafka import produce
from testkit.notifier import Sim, notifier_settings
from testkit.polling import eventually

ON_CALL = "+6281100000001"
H = dt.timedelta(hours=1)


async def items(settings: Settings, request_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(W).where(W.c.request_id == request_id))).mappings().all()
    finally:
        await engine.dispose()
    return {r["kind"]: dict(r) for r in rows}


async def told(sim: Sim, n: int) -> list[str]:
    texts = [m["text"] for m in await sim.messages() if m["to"] == ON_CALL]
    assert len(texts) <= n, texts  # never a second message for the same state
    return texts if len(texts) == n else []


async def test_a_held_emergency_is_on_the_worklist_at_once_and_escalated_at_12_and_24_hours(
    settings: Settings, sim: Sim
) -> None:
    clock = Clock(NOW)
    request = emergency(NIK, received_at=NOW)
    notifier = create_notifier(notifier_settings(settings, sim, escalation_contacts={"36.74": ON_CALL}), clock=clock)
    registry = create_registry(RegistrySettings(**settings.model_dump()))
    async with serving(notifier, sim.notifier_port), running(registry):
        async with running(create_eligibility(eligibility_settings(settings), clock=clock, timer_interval_s=0.1)):
            await produce(
                settings,
                PARTICIPANT_EVENTS,
                deactivated(),
                NikConflictReported(occurred_at=NOW, source="DUKCAPIL", nik=NIK),
            )
            await facts_applied(settings, nik_conflict_open=True)
            await produce(settings, EMERGENCY_REQUESTS, request)
            held = await eventually(lambda: items(settings, request.request_id), timeout=60)
            assert list(held) == ["EMERGENCY_HELD"] and held["EMERGENCY_HELD"]["state"] == "OPEN"
            assert held["EMERGENCY_HELD"]["due_at"] == request.sla_deadline
        assert await told(sim, 0) == []  # nothing to escalate yet

        # Eligibility restarts; its timers are rows in its database, so the clock alone moves them.
        clock.now = NOW + 12 * H + dt.timedelta(seconds=1)
        async with running(create_eligibility(eligibility_settings(settings), clock=clock, timer_interval_s=0.1)):
            [warning] = await eventually(lambda: told(sim, 1), timeout=60)
            assert "12 jam" in warning and "3674********0001" in warning and NIK not in warning
            clock.now = NOW + 24 * H + dt.timedelta(seconds=1)
            texts = await eventually(lambda: told(sim, 2), timeout=60)
            breached = await eventually(lambda: _with(settings, request.request_id, "SLA_BREACHED"), timeout=60)
    assert sum("TERLEWATI" in t for t in texts) == 1
    assert breached["SLA_BREACHED"]["state"] == "OPEN" and breached["EMERGENCY_HELD"]["state"] == "OPEN"
    assert await told(sim, 2) == texts  # and nothing more came


async def _with(settings: Settings, request_id: uuid.UUID, kind: str) -> dict[str, dict[str, Any]]:
    found = await items(settings, request_id)
    return found if kind in found else {}
