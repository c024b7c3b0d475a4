"""Facts arrive late and twice (DOMAIN.md), on real Kafka + PostgreSQL: after a reactivation, the same
deactivation posted again (another source, a resend) or an older one changes nothing: ACTIVE stays
ACTIVE, no history row, no status change published. A genuinely newer deactivation deactivates again."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from services.registry.app import create_app
from services.registry.store import PE, H, P
from shared.db import make_engine
from shared.events import Event, ParticipantDeactivated, ParticipantStatusChanged, ReactivationDecided
from shared.settings import RegistrySettings, Settings
from shared.topics import DECISIONS, PARTICIPANT_EVENTS, STATUS_CHANGES
from testkit.apps import running
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually

NIK = "3674015708900001"
T0 = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def deactivated(on: dt.date, at: dt.datetime, source: str, reason: str = "DESIL_ABOVE_5") -> ParticipantDeactivated:
    return ParticipantDeactivated(occurred_at=at, source=source, nik=NIK, reason=reason, deactivated_on=on)  # type: ignore[arg-type]


def approved(at: dt.datetime) -> ReactivationDecided:
    rid = uuid.uuid4()
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid5(rid, "APPROVED"),
        request_id=rid,
        path="REGULAR",
        channel="VILLAGE",
        outcome="APPROVED",
        policy_version="t",
        received_at=at - dt.timedelta(hours=1),
        decided_at=at,
    )


async def _state(settings: Settings) -> tuple[dict, list[tuple[str, str]]]:  # type: ignore[type-arg]
    engine = make_engine(settings)
    async with engine.connect() as conn:
        person = dict((await conn.execute(select(P).where(P.c.nik == NIK))).mappings().one())
        history = (await conn.execute(select(H.c.event_type, H.c.status).where(H.c.nik == NIK).order_by(H.c.id))).all()
    await engine.dispose()
    return person, [(t, s) for t, s in history]


async def _seen(settings: Settings, events: list[Event]) -> bool:
    engine = make_engine(settings)
    async with engine.connect() as conn:
        found = (await conn.execute(select(PE.c.event_id).where(PE.c.event_id.in_([e.event_id for e in events])))).all()
    await engine.dispose()
    return len(found) == len(events)


async def test_a_repeated_or_older_deactivation_after_a_reactivation_changes_nothing(settings: Settings) -> None:
    first = deactivated(dt.date(2026, 8, 31), T0, "SIKS-NG")
    approval = approved(T0 + 3 * DAY)
    async with running(create_app(RegistrySettings(**settings.model_dump()))):
        await produce(settings, PARTICIPANT_EVENTS, first)
        await eventually(lambda: _seen(settings, [first]))
        await produce(settings, DECISIONS, approval)
        await eventually(lambda: _seen(settings, [approval]))
        before = await _state(settings)
        assert before[0]["status"] == "ACTIVE"

        late = [
            deactivated(dt.date(2026, 8, 31), T0 + 5 * DAY, "BPJS"),  # the same list from a second source
            deactivated(dt.date(2026, 8, 31), T0 + 6 * DAY, "SIKS-NG"),  # resent after the approval
            deactivated(dt.date(2026, 8, 31), T0 + 6 * DAY, "BPJS", reason="NO_BIOMETRIC"),  # same date, other code
            deactivated(dt.date(2026, 7, 1), T0 + 7 * DAY, "SIKS-NG"),  # an older deactivation, arriving late
        ]
        await produce(settings, PARTICIPANT_EVENTS, *late)
        await eventually(lambda: _seen(settings, late))
        after = await _state(settings)
        assert after == before  # ACTIVE, same window and reason, no history row
        assert after[1] == [("participant.deactivated", "INACTIVE"), ("reactivation.decided", "ACTIVE")]

        newer = deactivated(dt.date(2027, 3, 1), T0 + 200 * DAY, "SIKS-NG", reason="NO_BIOMETRIC")
        await produce(settings, PARTICIPANT_EVENTS, newer)
        await eventually(lambda: _seen(settings, [newer]))
        person, history = await _state(settings)
        assert person["status"] == "INACTIVE" and person["deactivated_on"] == dt.date(2027, 3, 1)
        assert person["window_closes_at"].date() == dt.date(2027, 9, 1)
        assert history[-1] == ("participant.deactivated", "INACTIVE") and len(history) == 3
    # Published in order: the late ones (applied before the newer one) published nothing.
    async with TopicReader(settings, settings.topic_prefix + STATUS_CHANGES.name) as topic:
        changes = await eventually(lambda: _three(topic))
    assert [c.status for c in changes] == ["INACTIVE", "ACTIVE", "INACTIVE"]
    assert [c.cause_event_id for c in changes] == [first.event_id, approval.event_id, newer.event_id]


async def _three(topic: TopicReader) -> list | None:  # type: ignore[type-arg]
    events = [e for e in await topic.poll() if isinstance(e, ParticipantStatusChanged)]
    return events if len(events) >= 3 else None
