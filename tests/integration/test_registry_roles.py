"""The registry as make up runs it, an urgent and a bulk process: the bulk one relays the outbox, so the
status changes the urgent one commits (an emergency's approval) are published by the bulk process, in
order after the wave's, and the urgent process publishes nothing itself. An emergency's decision is on both
topics (its copy on pbi.emergency-decisions.v1, the urgent one's; pbi.decisions.v1, the bulk one's): the
urgent process applies it, once, and the bulk process leaves it alone (shared.emergency_lane)."""

from __future__ import annotations

import datetime as dt
import uuid

from prometheus_client import REGISTRY
from sqlalchemy import select

from services.registry.app import create_app
from services.registry.store import H as HISTORY
from services.registry.store import P
from shared.db import make_engine
from shared.events import ParticipantDeactivated, ParticipantStatusChanged
from shared.settings import RegistrySettings, Role, Settings
from shared.topics import DECISIONS, EMERGENCY_DECISIONS, PARTICIPANT_EVENTS, STATUS_CHANGES
from testkit.apps import running
from testkit.events import NIK, T0, H, decided
from testkit.kafka import TopicReader, consumed, produce
from testkit.polling import eventually


async def test_the_bulk_process_relays_the_status_changes_the_urgent_process_commits(settings: Settings) -> None:
    registry = RegistrySettings(**settings.model_dump())
    urgent = create_app(registry, clock=lambda: T0 + dt.timedelta(hours=2), role=Role.URGENT)
    bulk = create_app(registry, clock=lambda: T0 + dt.timedelta(hours=2), role=Role.BULK)
    deactivated = ParticipantDeactivated(
        occurred_at=T0, source="SIKS-NG", nik=NIK, reason="DESIL_ABOVE_5", deactivated_on=dt.date(2026, 11, 1)
    )  # type: ignore[arg-type]
    async with (
        running(urgent),
        running(bulk),
        TopicReader(settings, settings.topic_prefix + STATUS_CHANGES.name) as changes,
    ):
        await produce(settings, PARTICIPANT_EVENTS, deactivated, key=NIK.encode())
        await changes.wait_for(lambda e: isinstance(e, ParticipantStatusChanged) and e.status == "INACTIVE")
        # The emergency's copy: the urgent process's topic (the bulk one reads pbi.decisions.v1, not fed here).
        await produce(settings, EMERGENCY_DECISIONS, decided(NIK, uuid.uuid4(), "APPROVED", T0 + H))
        await changes.wait_for(lambda e: isinstance(e, ParticipantStatusChanged) and e.status == "ACTIVE")

        async def relayed_by_bulk() -> bool:  # counted once the rows are deleted, after Kafka has them
            return bulk.state.relay.published == 2

        await eventually(relayed_by_bulk)
    assert [(e.previous_status, e.status) for e in changes.events] == [(None, "INACTIVE"), ("INACTIVE", "ACTIVE")]
    assert urgent.state.relay.published == 0


def deactivation(nik: str) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=T0, source="SIKS-NG", nik=nik, reason="DESIL_ABOVE_5", deactivated_on=dt.date(2026, 11, 1)
    )  # type: ignore[arg-type]


def duplicates() -> float:
    return REGISTRY.get_sample_value("pbi_registry_duplicate_events_total") or 0.0


async def test_an_emergency_decision_on_both_topics_is_applied_once_by_the_urgent_process(settings: Settings) -> None:
    """Eligibility writes an emergency's decision on pbi.decisions.v1 and its copy (same event id) on
    pbi.emergency-decisions.v1: the urgent process applies its copy; the bulk process acknowledges the other
    without touching the person's row (it used to apply it too, and when it took the row first the emergency
    waited behind a lower-priority process's transaction). A regular decision on pbi.decisions.v1 is the bulk
    process's as before."""
    registry = RegistrySettings(**settings.model_dump())
    urgent = create_app(registry, clock=lambda: T0 + dt.timedelta(hours=2), role=Role.URGENT)
    bulk = create_app(registry, clock=lambda: T0 + dt.timedelta(hours=2), role=Role.BULK)
    known, unknown, regular = NIK, "3674015708900002", "3674015708900003"
    approvals = [decided(nik, uuid.uuid4(), "APPROVED", T0 + H) for nik in (known, unknown)]
    pending = decided(regular, uuid.uuid4(), "PENDING", T0 + H, reasons=("BIOMETRIC_MISSING",), path="REGULAR")
    async with (
        running(urgent),
        running(bulk),
        TopicReader(settings, settings.topic_prefix + STATUS_CHANGES.name) as changes,
    ):
        for nik in (known, regular):
            await produce(settings, PARTICIPANT_EVENTS, deactivation(nik))
        await changes.wait_for(lambda e: isinstance(e, ParticipantStatusChanged) and e.nik == regular)
        before = duplicates()
        for approval in approvals:  # the same record on both topics, as eligibility's outbox writes them
            await produce(settings, DECISIONS, approval)
            await produce(settings, EMERGENCY_DECISIONS, approval)
        await produce(settings, DECISIONS, pending)

        await eventually(lambda: consumed(settings, DECISIONS))  # each process has handled its topic
        await eventually(lambda: consumed(settings, EMERGENCY_DECISIONS))
        # The status changes are relayed by the bulk process after the commits: wait for the three, then
        # read all the topic holds (a second announcement would be there too).
        expected = {(known, "ACTIVE"), (unknown, "ACTIVE"), (regular, "REACTIVATION_PENDING")}

        async def all_announced() -> bool:
            await changes.poll()
            return expected <= {(e.nik, e.status) for e in changes.events if isinstance(e, ParticipantStatusChanged)}

        await eventually(all_announced)
        await changes.read_to_end()
    engine = make_engine(settings)
    async with engine.connect() as conn:
        ids = [d.event_id for d in (*approvals, pending)]
        rows = (await conn.execute(select(HISTORY.c.nik).where(HISTORY.c.event_id.in_(ids)))).scalars().all()
        people = [known, unknown, regular]
        status = dict((await conn.execute(select(P.c.nik, P.c.status).where(P.c.nik.in_(people)))).all())
    await engine.dispose()
    assert sorted(rows) == sorted(people)  # one history row per decision
    assert status == {known: "ACTIVE", unknown: "ACTIVE", regular: "REACTIVATION_PENDING"}
    activated = [e.nik for e in changes.events if isinstance(e, ParticipantStatusChanged) and e.status == "ACTIVE"]
    assert sorted(activated) == sorted([known, unknown])  # announced once each
    assert duplicates() == before  # no second delivery reached a handler: the bulk process left the copies alone
