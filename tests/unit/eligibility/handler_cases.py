"""The eligibility handler cases, one base for two backends: test_handlers_uow.py runs them on the
in-memory unit of work (milliseconds), tests/integration/test_eligibility_uow_pg.py on PostgreSQL, so
the fake never drifts from the real thing. A case drives the handlers and the timer loop with a clock
it moves, and asserts the effects: decisions and timer events in the outbox, requests, people, timers."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.eligibility.domain.facts import keyed_by_effect
from services.eligibility.handlers import EligibilityHandlers
from services.eligibility.privacy import PrivacyHandlers
from services.eligibility.store import UnitOfWork
from services.eligibility.store_memory import MemoryStore, MemoryUnitOfWork
from services.eligibility.timers import TimerLoop
from shared.enums import AppealStatus, Outcome, SlaState
from shared.events import (
    AppealRequested,
    AppealUpdated,
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    Documents,
    EmergencySlaChanged,
    Event,
    HospitalLetter,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
    PersonalDataErased,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
    any_event_adapter,
)
from shared.outbox import outbox_records
from shared.sla import sla_of_decision
from shared.topics import DECISIONS, EMERGENCY_DECISIONS, TIMER_EVENTS, WINDOW_REMINDERS, TopicSpec
from testkit.policy import POLICY

NIK, OTHER, THIRD = "3674015708900001", "3674015708900002", "3674015708900003"  # Banten (WIB)
T0 = dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC)
DEACTIVATED_ON = dt.date(2026, 6, 1)  # the window closes 1 Dec 2026 23:59:59 WIB
CLOSES = dt.datetime(2026, 12, 1, 16, 59, 59, tzinfo=dt.UTC)
PHONE = "+6281234567890"


class Backend(Protocol):
    def uow(self) -> UnitOfWork: ...
    async def outbox(self) -> list[dict[str, Any]]: ...  # rows: event_id, topic, payload, records, niks
    async def unfired_timers(self) -> set[tuple[str, str]]: ...  # (kind, subject)
    async def processed(self) -> int: ...  # event ids in the inbox


@dataclass
class World:
    backend: Backend
    now: dt.datetime = T0
    woken: int = 0
    published_now: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.handlers = self.make_handlers()
        self.timers = TimerLoop(self.handlers, self.clock)
        self.privacy = PrivacyHandlers(None, uow=self.backend.uow)

    def make_handlers(self, publish_now: Callable[..., Any] | None = None) -> EligibilityHandlers:
        return EligibilityHandlers(None, POLICY, self.clock, "t.", self.wake, publish_now, uow=self.backend.uow)

    def clock(self) -> dt.datetime:
        return self.now

    def wake(self) -> None:
        self.woken += 1

    async def events(self, kind: type[Event] | None = None, topic: TopicSpec | None = None) -> list[Any]:
        """`topic`: that topic's only (a decision of the emergency path is on two: DECISIONS and its copy)."""
        rows = await self.backend.outbox()  # a batch's events of a topic are one row (store.outbox_rows)
        rows = [row for row in rows if topic is None or row["topic"] == "t." + topic.name]
        decoded = [any_event_adapter.validate_json(r.value) for row in rows for r in outbox_records(row)]
        return [e for e in decoded if kind is None or isinstance(e, kind)]

    async def decisions(
        self, request: ReactivationRequested, topic: TopicSpec = DECISIONS
    ) -> list[ReactivationDecided]:
        return [d for d in await self.events(ReactivationDecided, topic) if d.request_id == request.request_id]

    async def request(self, request_id: uuid.UUID) -> Any:
        async with self.backend.uow() as uow:
            [record] = await uow.requests([request_id])
        return record

    async def person(self, nik: str) -> Any:
        async with self.backend.uow() as uow:
            return (await uow.lock_people({nik}, create=False)).get(nik)


def deactivated(nik: str = NIK, phone: str | None = PHONE, on: dt.date = DEACTIVATED_ON) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=T0, source="SIKS-NG", nik=nik, reason="DESIL_ABOVE_5", deactivated_on=on, phone=phone
    )


def reranked(desil: int, nik: str = NIK) -> DesilUpdated:
    return DesilUpdated(occurred_at=T0, source="DTSEN", nik=nik, desil=desil, effective_on=dt.date(2026, 6, 20))


def biometric(nik: str = NIK) -> BiometricRecorded:
    return BiometricRecorded(occurred_at=T0, source="DUKCAPIL", nik=nik, recorded_on=dt.date(2026, 6, 21))


def regular(nik: str = NIK, at: dt.datetime = T0) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=at, source="intake", nik=nik, request_id=uuid.uuid4(), path="REGULAR", channel="VILLAGE",
        received_at=at, phone=PHONE,
    )  # fmt: skip


def emergency(nik: str = NIK, at: dt.datetime = T0) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=at, source="intake", nik=nik, request_id=uuid.uuid4(), path="EMERGENCY", channel="HOSPITAL",
        received_at=at, sla_deadline=at + dt.timedelta(hours=24), facility_registered=True,
        documents=Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1")),
    )  # fmt: skip


def appeal(request: ReactivationRequested, at: dt.datetime) -> AppealRequested:
    return AppealRequested(
        occurred_at=at, source="intake", nik=request.nik, appeal_id=uuid.uuid4(), request_id=request.request_id,
        channel="VILLAGE", received_at=at,
    )  # fmt: skip


class HandlerCases:
    """Subclasses give the `backend` fixture."""

    async def test_a_request_with_every_fact_is_approved_and_the_person_reactivated(self, backend: Backend) -> None:
        w = World(backend)
        await w.handlers.on_participant_events([deactivated(), reranked(3), biometric()])
        request = regular()
        await w.handlers.on_requests([request])
        [decision] = await w.decisions(request)
        assert decision.outcome is Outcome.APPROVED
        facts, phone = await w.person(NIK)
        assert (facts.reactivated, facts.desil, phone) == (True, 3, PHONE)
        assert (await w.request(request.request_id)).outcome == "APPROVED"
        assert w.woken == 1  # one batch with events to relay: the relay woken once

    async def test_an_emergency_before_its_deactivation_waits_and_the_fact_approves_it(self, backend: Backend) -> None:
        w = World(backend)
        request = emergency()
        await w.handlers.on_emergency([request])
        [pending] = await w.decisions(request)
        assert (pending.outcome, pending.reasons) == (Outcome.PENDING, ["NOT_DEACTIVATED"])
        subject = str(request.request_id)
        assert await backend.unfired_timers() == {("RECHECK", subject)}  # decided again before the SLA's are due
        w.now = T0 + dt.timedelta(minutes=1)
        await w.handlers.on_participant_events([deactivated()])
        [_, approved] = await w.decisions(request)
        assert approved.outcome is Outcome.APPROVED
        # The clock started (OK) with the first decision; the approval carries its MET itself.
        assert [e.sla_state for e in await w.events(EmergencySlaChanged)] == [SlaState.OK]
        assert sla_of_decision(approved.outcome, approved.decided_at, approved.sla_deadline) is SlaState.MET
        assert await backend.unfired_timers() == set()  # the clock stopped: no WARNING or BREACHED follows

    async def test_an_emergency_before_its_deactivation_held_by_a_conflict_then_warns_and_breaches(
        self, backend: Backend
    ) -> None:
        """Waiting for its deactivation it has only the recheck; the deactivation lands with an open NIK
        conflict: PENDING again, and that decision sets the SLA timers, which fire at 12 and 24 hours."""
        w = World(backend)
        request = emergency()
        await w.handlers.on_emergency([request])
        w.now = T0 + dt.timedelta(minutes=1)
        await w.handlers.on_participant_events([_conflict(), deactivated()])
        assert [d.reasons for d in await w.decisions(request)] == [["NOT_DEACTIVATED"], ["NIK_CONFLICT"]]
        subject = str(request.request_id)
        assert await backend.unfired_timers() == {
            ("RECHECK", subject),
            ("SLA_WARNING", subject),
            ("SLA_BREACH", subject),
        }
        for hours, fired in ((1, 1), (12, 1), (24, 1), (25, 0)):  # the recheck finds it deactivated: no change
            w.now = T0 + dt.timedelta(hours=hours)
            assert await w.timers.fire_due() == fired
        assert [e.sla_state for e in await w.events(EmergencySlaChanged)] == [
            SlaState.OK,
            SlaState.WARNING,
            SlaState.BREACHED,
        ]
        assert [d.reasons for d in await w.decisions(request)] == [["NOT_DEACTIVATED"], ["NIK_CONFLICT"]]
        assert await backend.unfired_timers() == set()

    async def test_a_redelivered_batch_changes_nothing(self, backend: Backend) -> None:
        w = World(backend)
        facts, request = [deactivated(), reranked(3), biometric()], regular()
        for _ in range(2):
            await w.handlers.on_participant_events(facts)
            await w.handlers.on_requests([request])
        assert len(await w.events()) == 1
        # The re-ranking only: a deactivation and a biometric recording are keyed by their effect, the request
        # by its id (requests.request_id).
        assert await backend.processed() == 1

    async def test_every_fact_type_redelivered_after_what_followed_it_changes_nothing_and_publishes_nothing(
        self, backend: Backend
    ) -> None:
        """Each kind of fact comes again (a crash before the offset commit, another source's list under new
        ids), after the facts and decisions that followed it: facts, requests, timers and outbox stay."""
        w = World(backend)
        earlier = [deactivated(), reranked(7), biometric(), _conflict(), _semesta("A")]
        earlier += [deactivated(OTHER), _death(OTHER), deactivated(THIRD)]
        later = [reranked(3), NikConflictResolved(occurred_at=T0, source="DUKCAPIL", nik=NIK), _semesta("B")]
        await w.handlers.on_participant_events(earlier)
        await w.handlers.on_participant_events(later)
        approved, rejected, pending = regular(), emergency(OTHER), regular(THIRD)
        await w.handlers.on_requests([approved, pending])
        await w.handlers.on_emergency([rejected])
        outcomes = [[d.outcome for d in await w.decisions(r)] for r in (approved, rejected, pending)]
        assert outcomes == [[Outcome.APPROVED], [Outcome.REJECTED], [Outcome.PENDING]]
        # Re-rankings, conflict states and ID Semestas are claimed; deactivations, biometrics and deaths not.
        assert await backend.processed() == 6

        async def state() -> tuple[Any, ...]:
            people = [await w.person(n) for n in (NIK, OTHER, THIRD)]
            return (people, await w.events(), await backend.unfired_timers(), await backend.processed())

        before = await state()
        assert before[0][0][0].id_semesta == "B" and before[0][0][0].desil == 3 and before[0][0][0].reactivated
        w.now = CLOSES + dt.timedelta(days=1)  # the pending request's window closed meanwhile
        repeats = [e.model_copy(update={"event_id": uuid.uuid4()}) for e in earlier if keyed_by_effect(e)]
        for batch in (earlier, [*earlier, *later], repeats):
            await w.handlers.on_participant_events(batch)
        assert await state() == before
        assert await w.timers.expire_pending() == 1  # the expiry is the sweep's, not a repeated fact's

    async def test_a_request_resent_under_a_new_event_id_is_decided_once(self, backend: Backend) -> None:
        w = World(backend)
        request = regular()
        await w.handlers.on_requests([request])
        await w.handlers.on_requests([request.model_copy(update={"event_id": uuid.uuid4()})])
        assert len(await w.decisions(request)) == 1

    async def test_one_event_twice_in_a_batch_is_applied_once(self, backend: Backend) -> None:
        w = World(backend)
        fact, request = deactivated(), emergency()
        await w.handlers.on_participant_events([fact, fact])
        await w.handlers.on_emergency([request, request])
        assert [d.outcome for d in await w.decisions(request)] == [Outcome.APPROVED]

    async def test_a_failed_batch_changes_nothing_and_releases_its_claims(self, backend: Backend) -> None:
        w = World(backend)
        event = deactivated()

        async def fails(uow: UnitOfWork) -> None:
            assert await uow.claim([event]) == [event]
            await uow.lock_people({NIK})
            raise RuntimeError("the database went away")

        try:
            await w.handlers.run(fails)  # type: ignore[arg-type]
        except RuntimeError:
            pass
        assert await w.person(NIK) is None and await backend.processed() == 0
        await w.handlers.on_participant_events([event])
        assert (await w.person(NIK))[0].deactivated_on == DEACTIVATED_ON

    async def test_an_emergency_left_pending_warns_at_12_hours_and_breaches_at_24(self, backend: Backend) -> None:
        w = World(backend)
        await w.handlers.on_participant_events([deactivated(), _conflict()])  # NIK_CONFLICT holds it
        request = emergency()
        await w.handlers.on_emergency([request])
        assert [d.outcome for d in await w.decisions(request)] == [Outcome.PENDING]
        for hours, fired in ((11, 0), (12, 1), (24, 1), (25, 0)):
            w.now = T0 + dt.timedelta(hours=hours)
            assert await w.timers.fire_due() == fired
        assert [e.sla_state for e in await w.events(EmergencySlaChanged)] == [
            SlaState.OK,
            SlaState.WARNING,
            SlaState.BREACHED,
        ]
        assert await backend.unfired_timers() == set()  # fired: their rows are gone

    async def test_a_fired_timer_leaves_no_row_and_one_whose_firing_failed_fires_on_the_next_pass(
        self, backend: Backend
    ) -> None:
        """A timer's row is deleted in the transaction of its outbox row: fired, nothing of it stays; a pass
        that fails before its commit (a kill: the transaction rolls back) leaves it due, and the next pass
        fires it, once."""
        w = World(backend)
        await w.handlers.on_participant_events([deactivated(), _conflict()])  # NIK_CONFLICT holds it
        request = emergency()
        await w.handlers.on_emergency([request])
        subject = str(request.request_id)
        w.now = T0 + dt.timedelta(hours=12)
        healthy = w.handlers.uow

        def killed_before_commit() -> UnitOfWork:
            uow = healthy()

            async def dies(rows: list[dict[str, Any]]) -> None:
                raise RuntimeError("killed")

            uow.add_to_outbox = dies  # type: ignore[method-assign]
            return uow

        w.handlers.uow = killed_before_commit
        try:
            await w.timers.fire_due()
        except RuntimeError:
            pass
        w.handlers.uow = healthy
        assert await backend.unfired_timers() == {("SLA_WARNING", subject), ("SLA_BREACH", subject)}
        assert await w.timers.fire_due() == 1
        assert await backend.unfired_timers() == {("SLA_BREACH", subject)}
        assert await w.timers.fire_due() == 0
        assert [e.sla_state for e in await w.events(EmergencySlaChanged)] == [SlaState.OK, SlaState.WARNING]

    async def test_a_pending_request_expires_when_its_window_closes(self, backend: Backend) -> None:
        w = World(backend)
        await w.handlers.on_participant_events([deactivated()])
        request = regular()
        await w.handlers.on_requests([request])  # DESIL_UNKNOWN, BIOMETRIC_MISSING: waiting
        w.now = CLOSES - dt.timedelta(seconds=1)
        assert await w.timers.expire_pending() == 0
        w.now = CLOSES + dt.timedelta(seconds=1)
        assert await w.timers.expire_pending() == 1
        last = (await w.decisions(request))[-1]
        assert (last.outcome, last.reasons[0]) == (Outcome.EXPIRED, "WINDOW_EXPIRED")
        assert await w.timers.expire_pending() == 0

    async def test_a_deactivation_brings_a_reminder_30_days_and_7_days_before_the_close(self, backend: Backend) -> None:
        w = World(backend)
        await w.handlers.on_participant_events([deactivated()])
        for days_before, sent_so_far in ((31, 0), (30, 1), (29, 1), (7, 2), (6, 2)):
            w.now = CLOSES - dt.timedelta(days=days_before)
            await w.timers.sweep_reminders()
            assert len(await w.events(WindowReminderDue)) == sent_so_far, days_before
        assert [r.days_left for r in await w.events(WindowReminderDue)] == [30, 7]

    async def test_a_list_loaded_late_reminds_at_once_with_the_fact_and_after_the_close_not_at_all(
        self, backend: Backend
    ) -> None:
        """A deactivation whose first reminder is already due is reminded by the batch that folds it (the
        days really left; the next moment in the same facts row, no sweep's update after the insert); one
        loaded after its window closed sets no reminder; someone who asked in this cycle gets none."""
        w = World(backend)
        w.now = CLOSES - dt.timedelta(days=10)
        asked = regular(THIRD, at=w.now)
        await w.handlers.on_requests([asked])  # before their list (held for the grace period)
        await w.handlers.on_participant_events([deactivated(), deactivated(THIRD)])
        assert [(r.nik, r.days_left) for r in await w.events(WindowReminderDue)] == [(NIK, 10)]
        seven_days = dt.datetime(2026, 11, 24, tzinfo=zoneinfo.ZoneInfo("Asia/Jakarta"))  # 00:00 local
        assert (await w.person(NIK))[0].next_reminder_at == seven_days
        assert (await w.person(THIRD))[0].next_reminder_at is None
        await w.timers.sweep_reminders()
        assert len(await w.events(WindowReminderDue)) == 1
        w.now = CLOSES + dt.timedelta(hours=1)
        await w.handlers.on_participant_events([deactivated(OTHER)])
        assert (await w.person(OTHER))[0].next_reminder_at is None
        w.now = CLOSES - dt.timedelta(days=7)
        await w.timers.sweep_reminders()
        assert [(r.nik, r.days_left) for r in await w.events(WindowReminderDue)] == [(NIK, 10), (NIK, 7)]

    async def test_reminders_go_to_their_own_topic_and_the_timer_topic_carries_only_sla_states(
        self, backend: Backend
    ) -> None:
        """The timer topic is read by the urgent roles (an emergency's path); a wave's reminders, at once with
        their fact or swept, are the notifier's bulk work on a topic of their own."""
        w = World(backend)
        w.now = CLOSES - dt.timedelta(days=10)
        await w.handlers.on_participant_events([deactivated()])  # its first reminder at once
        await w.handlers.on_emergency([emergency(OTHER, at=w.now)])  # not deactivated: PENDING, SLA OK
        w.now = CLOSES - dt.timedelta(days=7)
        await w.timers.sweep_reminders()
        rows = await backend.outbox()
        topics = {
            (row["topic"], any_event_adapter.validate_json(r.value).type) for row in rows for r in outbox_records(row)
        }
        assert topics == {
            ("t." + DECISIONS.name, "reactivation.decided"),
            ("t." + EMERGENCY_DECISIONS.name, "reactivation.decided"),
            ("t." + TIMER_EVENTS.name, "emergency.sla_changed"),
            ("t." + WINDOW_REMINDERS.name, "participant.window_reminder_due"),
        }
        assert [r.days_left for r in await w.events(WindowReminderDue)] == [10, 7]

    async def test_an_appeal_is_opened_and_upheld_by_a_new_fact(self, backend: Backend) -> None:
        w = World(backend)
        await w.handlers.on_participant_events([deactivated(), reranked(7), biometric()])
        request = regular()
        await w.handlers.on_requests([request])
        assert [d.outcome for d in await w.decisions(request)] == [Outcome.REJECTED]
        w.now = T0 + dt.timedelta(days=1)
        await w.handlers.on_appeals([appeal(request, w.now)])
        assert [a.status for a in await w.events(AppealUpdated)] == [AppealStatus.OPEN]
        w.now = T0 + dt.timedelta(days=2)
        await w.handlers.on_participant_events([_reranked_later(3)])
        assert [a.status for a in await w.events(AppealUpdated)] == [AppealStatus.OPEN, AppealStatus.UPHELD]
        approved = (await w.decisions(request))[-1]
        assert approved.outcome is Outcome.APPROVED and approved.appeal_id is not None

    async def test_a_second_appeal_of_the_same_decision_is_refused(self, backend: Backend) -> None:
        w = World(backend)
        await w.handlers.on_participant_events([deactivated(), reranked(7), biometric()])
        request = regular()
        await w.handlers.on_requests([request])
        await w.handlers.on_appeals([appeal(request, T0), appeal(request, T0)])
        updates = await w.events(AppealUpdated)
        assert [(a.status, a.reasons) for a in updates] == [
            (AppealStatus.OPEN, ["DESIL_ABOVE_5"]),
            (AppealStatus.REFUSED, ["ALREADY_APPEALED"]),
        ]

    async def test_an_erased_number_never_comes_back_with_a_later_fact(self, backend: Backend) -> None:
        w = World(backend)
        await w.handlers.on_participant_events([deactivated()])
        request = regular()
        await w.handlers.on_requests([request])
        w.now = T0 + dt.timedelta(hours=1)
        await w.privacy.on_erasures(
            [PersonalDataErased(occurred_at=w.now, source="registry", nik=NIK, requested_by="cli")]
        )
        assert (await w.person(NIK))[1] is None
        assert (await w.request(request.request_id)).event.phone is None
        await w.handlers.on_participant_events([deactivated(on=dt.date(2026, 6, 15))])  # a newer list, with the number
        assert (await w.person(NIK))[1] is None

    async def test_an_urgent_decision_is_published_at_once_when_nothing_of_the_person_waits(
        self, backend: Backend
    ) -> None:
        w = World(backend)
        sent: list[list[dict[str, Any]]] = []

        async def publish_now(rows: list[dict[str, Any]]) -> None:
            sent.append(rows)

        handlers = w.make_handlers(publish_now)
        await handlers.on_emergency([emergency(nik=OTHER)])  # nothing of OTHER waits: at once
        await handlers.on_emergency([emergency(nik=OTHER)])  # the first one's rows still wait: the relay's turn
        assert [len(rows) for rows in sent] == [3]  # the decision, its emergency copy and the SLA state

    async def test_a_batchs_decisions_are_one_outbox_row_that_holds_back_an_urgent_decision_of_its_people(
        self, backend: Backend
    ) -> None:
        w = World(backend)
        people = (NIK, OTHER, THIRD)
        await w.handlers.on_participant_events([deactivated(n) for n in people])
        await w.handlers.on_requests([regular(n) for n in people])  # PENDING: no re-ranking, no biometric yet
        assert [(r["records"], sorted(r["niks"])) for r in await backend.outbox()] == [(3, sorted(people))]
        sent: list[list[dict[str, Any]]] = []

        async def publish_now(rows: list[dict[str, Any]]) -> None:
            sent.append(rows)

        handlers = w.make_handlers(publish_now)
        await handlers.on_emergency([emergency(nik=OTHER)])  # OTHER's PENDING still waits: the relay's turn
        assert sent == []
        await handlers.on_emergency([emergency(nik="3674015708900004")])  # nobody of the bundle: at once
        assert [[r["records"] for r in rows] for rows in sent] == [[1, 1, 1]]

    async def test_an_emergency_decision_is_also_on_the_emergency_lane_and_a_regular_one_is_not(
        self, backend: Backend
    ) -> None:
        """The urgent roles read pbi.emergency-decisions.v1: each emergency decision is there too, the same
        event (id, NIK key) as on pbi.decisions.v1, written in the same batch; a regular one only on the full
        stream. Both first decisions in one batch share no outbox row id (the outbox's event_id is unique)."""
        w = World(backend)
        await w.handlers.on_participant_events([deactivated(OTHER)])
        urgent, bulk = emergency(nik=OTHER), regular()
        await w.handlers.on_emergency([urgent])
        await w.handlers.on_requests([bulk])
        [decided] = await w.decisions(urgent)
        assert await w.decisions(urgent, EMERGENCY_DECISIONS) == [decided]
        assert len(await w.decisions(bulk)) == 1 and await w.decisions(bulk, EMERGENCY_DECISIONS) == []
        rows = await backend.outbox()
        keys = {(row["topic"], r.key) for row in rows for r in outbox_records(row) if r.key == OTHER.encode()}
        assert keys >= {("t." + DECISIONS.name, OTHER.encode()), ("t." + EMERGENCY_DECISIONS.name, OTHER.encode())}
        assert len({row["event_id"] for row in rows}) == len(rows)


def _reranked_later(desil: int) -> DesilUpdated:
    return DesilUpdated(occurred_at=T0, source="DTSEN", nik=NIK, desil=desil, effective_on=dt.date(2026, 7, 1))


def _conflict() -> NikConflictReported:
    return NikConflictReported(occurred_at=T0, source="DUKCAPIL", nik=NIK)


def _semesta(id_semesta: str) -> IdSemestaAssigned:
    return IdSemestaAssigned(occurred_at=T0, source="SIKS-NG", nik=NIK, id_semesta=id_semesta)


def _death(nik: str) -> DeathReported:
    return DeathReported(occurred_at=T0, source="DUKCAPIL", nik=nik, died_on=dt.date(2026, 6, 25))


class MemoryBackend:
    """The cases' backend on the in-memory unit of work (test_handlers_uow.py; the AsyncAPI publishers test)."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    async def outbox(self) -> list[dict[str, Any]]:
        return list(self.store.outbox)

    async def unfired_timers(self) -> set[tuple[str, str]]:
        return {(t["kind"], t["subject"]) for t in self.store.timers.values()}  # a fired one's row is gone

    async def processed(self) -> int:
        return len(self.store.processed)
