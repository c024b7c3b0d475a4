"""The registry as make up runs it, an urgent and a bulk process: the bulk one relays the outbox, so the
status changes the urgent one commits (an emergency's approval) are published by the bulk process, in
order after the wave's, and the urgent process publishes nothing itself."""

from __future__ import annotations

import datetime as dt
import uuid

from services.registry.app import create_app
from shared.events import ParticipantDeactivated, ParticipantStatusChanged
from shared.settings import RegistrySettings, Role, Settings
from shared.topics import DECISIONS, PARTICIPANT_EVENTS, STATUS_CHANGES
from testkit.apps import running
from testkit.events import NIK, T0, H, decided
from testkit.kafka import TopicReader, produce
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
        await produce(settings, DECISIONS, decided(NIK, uuid.uuid4(), "APPROVED", T0 + H), key=NIK.encode())
        await changes.wait_for(lambda e: isinstance(e, ParticipantStatusChanged) and e.status == "ACTIVE")

        async def relayed_by_bulk() -> bool:  # counted once the rows are deleted, after Kafka has them
            return bulk.state.relay.published == 2

        await eventually(relayed_by_bulk)
    assert [(e.previous_status, e.status) for e in changes.events] == [(None, "INACTIVE"), ("INACTIVE", "ACTIVE")]
    assert urgent.state.relay.published == 0
