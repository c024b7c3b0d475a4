"""The registry as make up runs it, an urgent and a bulk process: the bulk one relays the outbox, so the
status changes the urgent one commits (an emergency's approval) are published by the bulk process, in
order after the wave's, and the urgent process publishes nothing itself. An emergency's decision reaches
both processes (its copy on pbi.emergency-decisions.v1, the urgent one's; pbi.decisions.v1, the bulk one's)
and is applied once."""

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


async def test_an_emergency_decision_on_both_topics_is_applied_once_by_the_two_processes(settings: Settings) -> None:
    """Eligibility writes an emergency's decision on pbi.decisions.v1 and its copy (same event id) on
    pbi.emergency-decisions.v1: the urgent process applies one, the bulk process the other, and the second
    finds the first's history row (uow.unseen). For a person the registry has no record of, the two may race to
    create the row: the loser's batch is applied again on the committed row and finds the event too."""
    registry = RegistrySettings(**settings.model_dump())
    urgent = create_app(registry, clock=lambda: T0 + dt.timedelta(hours=2), role=Role.URGENT)
    bulk = create_app(registry, clock=lambda: T0 + dt.timedelta(hours=2), role=Role.BULK)
    known, unknown = NIK, "3674015708900002"
    approvals = [decided(nik, uuid.uuid4(), "APPROVED", T0 + H) for nik in (known, unknown)]
    async with (
        running(urgent),
        running(bulk),
        TopicReader(settings, settings.topic_prefix + STATUS_CHANGES.name) as changes,
    ):
        await produce(settings, PARTICIPANT_EVENTS, deactivation(known))
        await changes.wait_for(lambda e: isinstance(e, ParticipantStatusChanged) and e.status == "INACTIVE")
        before = duplicates()
        for approval in approvals:  # the same record on both topics, as eligibility's outbox writes them
            await produce(settings, DECISIONS, approval)
            await produce(settings, EMERGENCY_DECISIONS, approval)

        await eventually(lambda: consumed(settings, DECISIONS))  # each process has handled its topic
        await eventually(lambda: consumed(settings, EMERGENCY_DECISIONS))
        await changes.poll()
    engine = make_engine(settings)
    async with engine.connect() as conn:
        ids = [a.event_id for a in approvals]
        rows = (await conn.execute(select(HISTORY.c.nik).where(HISTORY.c.event_id.in_(ids)))).scalars().all()
        status = dict((await conn.execute(select(P.c.nik, P.c.status).where(P.c.nik.in_([known, unknown])))).all())
    await engine.dispose()
    assert sorted(rows) == sorted([known, unknown])  # one history row per decision
    assert status == {known: "ACTIVE", unknown: "ACTIVE"}
    activated = [e.nik for e in changes.events if isinstance(e, ParticipantStatusChanged) and e.status == "ACTIVE"]
    assert sorted(activated) == sorted([known, unknown])  # announced once each
    assert duplicates() - before == len(approvals)  # each second delivery skipped, whichever process had it
