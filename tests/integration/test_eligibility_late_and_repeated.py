"""Eligibility on real Kafka + PostgreSQL, with a driven clock: lateness judged at receipt, facts
arriving late and twice, reminders on a late-loaded list, the emergency SLA closing (issue 15)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from services.eligibility.app import create_app, load_policy
from services.eligibility.domain.reminders import due_at
from services.eligibility.domain.window import reactivation_window_closes_at
from services.eligibility.store import FactsRow
from shared.db import make_engine
from shared.enums import Outcome, SlaState
from shared.events import (
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    Documents,
    EmergencySlaChanged,
    HospitalLetter,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
)
from shared.settings import EligibilitySettings, Settings
from shared.sla import sla_of_decision
from shared.topics import (
    DECISIONS,
    EMERGENCY_REQUESTS,
    PARTICIPANT_EVENTS,
    REACTIVATION_REQUESTS,
    TIMER_EVENTS,
    WINDOW_REMINDERS,
)
from testkit.apps import running
from testkit.eligibility import outbox_empty
from testkit.kafka import TopicReader, produce
from testkit.polling import eventually

NOW = dt.datetime.now(dt.UTC)
DEACTIVATED_ON = (NOW - dt.timedelta(days=30)).date()
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def nik(n: int) -> str:
    return f"3674015708{930000 + n:06d}"


def closes(person: str, on: dt.date = DEACTIVATED_ON) -> dt.datetime:
    return reactivation_window_closes_at(on, person, load_policy())


def deactivated(person: str, on: dt.date = DEACTIVATED_ON, source: str = "SIKS-NG") -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=NOW, source=source, nik=person, reason="DESIL_ABOVE_5", deactivated_on=on, phone="081234567890"
    )


def eligible(person: str, on: dt.date = DEACTIVATED_ON) -> list:
    return [
        deactivated(person, on),
        DesilUpdated(occurred_at=NOW, source="DTSEN", nik=person, desil=4, effective_on=on + DAY),
        BiometricRecorded(occurred_at=NOW, source="DUKCAPIL", nik=person, recorded_on=on),
        IdSemestaAssigned(occurred_at=NOW, source="SIKS-NG", nik=person, id_semesta="IDS-1"),
    ]


def request(person: str, received_at: dt.datetime, emergency: bool = False) -> ReactivationRequested:
    extra: dict = {}
    if emergency:
        extra = {
            "sla_deadline": received_at + 24 * HOUR,
            "documents": Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1")),
            "facility_registered": True,
        }
    return ReactivationRequested(
        occurred_at=received_at,
        source="intake",
        nik=person,
        request_id=uuid.uuid4(),
        path="EMERGENCY" if emergency else "REGULAR",
        channel="HOSPITAL" if emergency else "VILLAGE",
        received_at=received_at,
        **extra,
    )


def about(r: ReactivationRequested, outcome: str | None = None):  # type: ignore[no-untyped-def]
    def match(e: object) -> bool:
        return (
            isinstance(e, ReactivationDecided)
            and e.request_id == r.request_id
            and (outcome is None or e.outcome == outcome)
        )

    return match


def once(events: list) -> list:
    """Each event once: an emergency's events may be on the topic twice with the same id (published at
    once by the lane and again by the relay before its row was dropped; consumers de-duplicate)."""
    return list({e.event_id: e for e in events}.values())


def sla_of(r: ReactivationRequested):  # type: ignore[no-untyped-def]
    return lambda e: isinstance(e, EmergencySlaChanged) and e.request_id == r.request_id


async def facts_row(settings: Settings, person: str, **expected: object) -> dict:
    """Wait until eligibility's facts row for `person` shows `expected`; return it."""
    engine = make_engine(settings)
    t = FactsRow.__table__

    async def check() -> dict | None:
        async with engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.nik == person))).mappings().first()
        return dict(row) if row is not None and all(row[k] == v for k, v in expected.items()) else None

    try:
        return await eventually(check, timeout=60)  # the first facts after a start wait for the group join
    finally:
        await engine.dispose()


def app_with(settings: Settings, clock: Clock):  # type: ignore[no-untyped-def]
    return create_app(EligibilitySettings(**settings.model_dump()), clock=clock, timer_interval_s=0.1)


async def test_a_request_received_in_time_and_decided_after_the_close_is_not_expired(settings: Settings) -> None:
    """Processing lag: both requests reach eligibility after the window closed (the clock says so),
    but intake received them an hour before: approved, regular and emergency alike."""
    regular_person, emergency_person = nik(1), nik(2)
    clock = Clock(NOW)
    app = app_with(settings, clock)
    async with (
        running(app),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
    ):
        await produce(settings, PARTICIPANT_EVENTS, *eligible(regular_person), *eligible(emergency_person))
        await facts_row(settings, regular_person, id_semesta="IDS-1")
        await facts_row(settings, emergency_person, id_semesta="IDS-1")
        clock.now = closes(regular_person) + 2 * HOUR
        late_regular = request(regular_person, closes(regular_person) - HOUR)
        late_emergency = request(emergency_person, closes(emergency_person) - HOUR, emergency=True)
        await produce(settings, REACTIVATION_REQUESTS, late_regular)
        await produce(settings, EMERGENCY_REQUESTS, late_emergency)
        [regular_decision] = once(await decisions.wait_for(about(late_regular)))
        [emergency_decision] = once(await decisions.wait_for(about(late_emergency)))
        for d in (regular_decision, emergency_decision):
            assert (d.outcome, d.reasons) == (Outcome.APPROVED, [])
            assert d.decided_at > d.window_closes_at > d.received_at
        # Within its 24 hours: MET, which the decision carries (shared.sla.sla_of_decision).
        d = emergency_decision
        assert sla_of_decision(d.outcome, d.decided_at, d.sla_deadline) is SlaState.MET

        # Received after the close: rejected for the window, whatever the facts say.
        too_late = request(regular_person, closes(regular_person) + HOUR)
        await produce(settings, REACTIVATION_REQUESTS, too_late)
        [rejected] = once(await decisions.wait_for(about(too_late)))
        assert rejected.outcome is Outcome.REJECTED and "WINDOW_EXPIRED" in rejected.reasons


async def test_a_pending_request_whose_re_ranking_arrives_after_the_close_expires(settings: Settings) -> None:
    person = nik(3)
    clock = Clock(NOW)
    app = app_with(settings, clock)
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        facts = eligible(person)
        await produce(settings, PARTICIPANT_EVENTS, facts[0], facts[2], facts[3])  # no re-ranking yet
        await facts_row(settings, person, id_semesta="IDS-1")
        waiting = request(person, NOW)
        await produce(settings, REACTIVATION_REQUESTS, waiting)
        [pending] = once(await decisions.wait_for(about(waiting)))
        assert (pending.outcome, pending.reasons) == (Outcome.PENDING, ["DESIL_UNKNOWN"])
        clock.now = closes(person) + HOUR
        await produce(settings, PARTICIPANT_EVENTS, facts[1])  # the re-ranking, after the close
        [expired] = once(await decisions.wait_for(about(waiting, "EXPIRED")))
        assert expired.reasons[0] == "WINDOW_EXPIRED"
        await facts_row(settings, person, desil=4)
        await eventually(lambda: outbox_empty(settings))
        await decisions.poll()
        assert [e.outcome for e in once(decisions.events) if about(waiting)(e)] == ["PENDING", "EXPIRED"]


async def test_a_repeated_deactivation_after_approval_changes_nothing(settings: Settings) -> None:
    person = nik(4)
    clock = Clock(NOW)
    app = app_with(settings, clock)
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        await produce(settings, PARTICIPANT_EVENTS, *eligible(person))
        await facts_row(settings, person, id_semesta="IDS-1")
        first = request(person, NOW)
        await produce(settings, REACTIVATION_REQUESTS, first)
        [approved] = once(await decisions.wait_for(about(first)))
        assert approved.outcome is Outcome.APPROVED
        before = await facts_row(settings, person, reactivated=True)
        assert before["next_reminder_at"] is None

        # The same list again from a second source, and an older one arriving late.
        clock.now = NOW + DAY
        await produce(
            settings,
            PARTICIPANT_EVENTS,
            deactivated(person, source="BPJS"),
            deactivated(person, DEACTIVATED_ON - 40 * DAY),
            DesilUpdated(occurred_at=NOW, source="DTSEN", nik=person, desil=4, effective_on=DEACTIVATED_ON + DAY),
        )
        await facts_row(settings, person, reactivated=True)
        second = request(person, NOW + DAY)
        await produce(settings, REACTIVATION_REQUESTS, second)
        [again] = once(await decisions.wait_for(about(second)))
        after = await facts_row(settings, person)
    assert (again.outcome, again.reasons) == (Outcome.REJECTED, ["ALREADY_ACTIVE"])
    assert after == before  # window, reactivated flag and time, reminders, contact number


async def test_a_newer_deactivation_after_a_reactivation_starts_a_new_cycle_with_its_reminders(
    settings: Settings,
) -> None:
    """A request in the earlier cycle (even an approved one) does not silence the new cycle's reminders."""
    person = nik(5)
    clock = Clock(NOW)
    app = app_with(settings, clock)
    async with (
        running(app),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
        TopicReader(settings, settings.topic_prefix + WINDOW_REMINDERS.name) as reminders,
    ):
        await produce(settings, PARTICIPANT_EVENTS, *eligible(person))
        await facts_row(settings, person, id_semesta="IDS-1")
        first = request(person, NOW)
        await produce(settings, REACTIVATION_REQUESTS, first)
        assert (await decisions.wait_for(about(first)))[0].outcome is Outcome.APPROVED
        await facts_row(settings, person, reactivated=True)

        second_on = (NOW + 40 * DAY).date()
        clock.now = NOW + 41 * DAY
        await produce(settings, PARTICIPANT_EVENTS, deactivated(person, second_on))
        row = await facts_row(settings, person, deactivated_on=second_on, reactivated=False)
        assert row["next_reminder_at"] == due_at(closes(person, second_on), 30)
        clock.now = due_at(closes(person, second_on), 30) + 9 * HOUR
        [reminder] = once(await reminders.wait_for(lambda e: isinstance(e, WindowReminderDue) and e.nik == person))
    assert (reminder.days_left, reminder.window_closes_at) == (30, closes(person, second_on))


async def test_reminders_on_a_late_loaded_list_state_the_days_left_and_never_come_after_the_close(
    settings: Settings,
) -> None:
    six_days, after_close, dead = nik(6), nik(7), nik(8)
    on_close = closes(six_days)
    clock = Clock(on_close - 6 * DAY)
    app = app_with(settings, clock)
    async with running(app), TopicReader(settings, settings.topic_prefix + WINDOW_REMINDERS.name) as reminders:
        # Loaded 6 days before its window closes: one reminder, saying 6 days.
        # (Their death is known before their deactivation lands; one reported later stops the next one.)
        died = DeathReported(occurred_at=NOW, source="DUKCAPIL", nik=dead, died_on=NOW.date())
        await produce(settings, PARTICIPANT_EVENTS, died, deactivated(dead), deactivated(six_days))
        [first] = once(await reminders.wait_for(lambda e: isinstance(e, WindowReminderDue)))
        assert (first.nik, first.days_left) == (six_days, 6)
        await facts_row(settings, six_days, next_reminder_at=None)
        await facts_row(settings, dead, deceased=True, next_reminder_at=None)

        # Loaded after its window closed: nothing, then or later.
        clock.now = on_close + HOUR
        await produce(settings, PARTICIPANT_EVENTS, deactivated(after_close))
        await facts_row(settings, after_close, next_reminder_at=None)
        clock.now = on_close + 3 * DAY
        await app.state.timers.sweep_reminders()
        await eventually(lambda: outbox_empty(settings))
        await reminders.poll()
    sent = [(e.nik, e.days_left) for e in once(reminders.events) if isinstance(e, WindowReminderDue)]
    assert sent == [(six_days, 6)]


async def test_an_emergency_rejected_after_being_held_closes_its_sla_and_no_breach_follows(
    settings: Settings,
) -> None:
    """Held PENDING by an open NIK conflict (never approved while open), then the person is reported
    dead: REJECTED, SLA CLOSED, and a clock 25 hours later fires no WARNING or BREACHED."""
    person = nik(9)
    clock = Clock(NOW)
    app = app_with(settings, clock)
    async with (
        running(app),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
        TopicReader(settings, settings.topic_prefix + TIMER_EVENTS.name) as sla,
    ):
        await produce(
            settings,
            PARTICIPANT_EVENTS,
            *eligible(person),
            NikConflictReported(occurred_at=NOW, source="DUKCAPIL", nik=person),
        )
        await facts_row(settings, person, nik_conflict_open=True)
        held = request(person, NOW, emergency=True)
        await produce(settings, EMERGENCY_REQUESTS, held)
        [pending] = once(await decisions.wait_for(about(held)))
        assert (pending.outcome, pending.reasons) == (Outcome.PENDING, ["NIK_CONFLICT"])
        await produce(
            settings,
            PARTICIPANT_EVENTS,
            DeathReported(occurred_at=NOW, source="DUKCAPIL", nik=person, died_on=NOW.date()),
        )
        [rejected] = once(await decisions.wait_for(about(held, "REJECTED")))
        assert set(rejected.reasons) == {"DECEASED", "NIK_CONFLICT"}
        assert sla_of_decision(rejected.outcome, rejected.decided_at, rejected.sla_deadline) is SlaState.CLOSED
        clock.now = NOW + 25 * HOUR
        await app.state.timers.fire_due()
        await eventually(lambda: outbox_empty(settings))
        await sla.poll()
    # The clock started with the first decision; the rejection deleted its timers: no WARNING, no BREACHED.
    assert [e.sla_state for e in once(sla.events) if sla_of(held)(e)] == [SlaState.OK]


async def test_an_emergency_held_by_a_conflict_is_approved_with_its_follow_ups_once_resolved(
    settings: Settings,
) -> None:
    person = nik(10)
    app = app_with(settings, Clock(NOW))
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        await produce(
            settings,
            PARTICIPANT_EVENTS,
            deactivated(person),
            DesilUpdated(occurred_at=NOW, source="DTSEN", nik=person, desil=7, effective_on=DEACTIVATED_ON),
            NikConflictReported(occurred_at=NOW, source="DUKCAPIL", nik=person),
        )
        await facts_row(settings, person, nik_conflict_open=True)
        held = request(person, NOW, emergency=True)
        await produce(settings, EMERGENCY_REQUESTS, held)
        [pending] = once(await decisions.wait_for(about(held)))
        assert (pending.outcome, pending.reasons) == (Outcome.PENDING, ["NIK_CONFLICT"])
        await produce(settings, PARTICIPANT_EVENTS, NikConflictResolved(occurred_at=NOW, source="DUKCAPIL", nik=person))
        [approved] = once(await decisions.wait_for(about(held, "APPROVED")))
    # The only ranking is the one that caused the deactivation: the desil must be verified again.
    assert [f.value for f in approved.follow_ups] == ["DESIL_REVERIFICATION", "BIOMETRIC_RECORDING", "SIKS_NG_ENTRY"]


async def test_a_pending_request_expires_at_the_close_after_a_restart_without_a_timer_row(settings: Settings) -> None:
    """The expiry's queue is the requests table itself (partial index on window_closes_at of the
    PENDING ones): nothing per request in `timers`, and a restarted service still expires it."""
    from services.eligibility.store import Timer

    person = nik(11)
    waiting = request(person, NOW)
    async with (
        running(app_with(settings, Clock(NOW))),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
    ):
        await produce(settings, PARTICIPANT_EVENTS, deactivated(person))
        await facts_row(settings, person)
        await produce(settings, REACTIVATION_REQUESTS, waiting)
        [pending] = once(await decisions.wait_for(about(waiting)))
        assert pending.outcome is Outcome.PENDING
    engine = make_engine(settings)
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Timer.__table__))).scalar() == 0
    await engine.dispose()

    async with (
        running(app_with(settings, Clock(closes(person) + dt.timedelta(seconds=1)))),
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
    ):
        [expired] = once(await decisions.wait_for(about(waiting, "EXPIRED")))
    assert expired.reasons == ["WINDOW_EXPIRED", "DESIL_UNKNOWN", "BIOMETRIC_MISSING"]
    assert expired.window_closes_at == closes(person)
