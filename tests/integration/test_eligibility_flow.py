"""Eligibility on real Kafka + PostgreSQL: decisions, re-evaluation, durable SLA timers, exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from sqlalchemy import func, select

from services.eligibility.app import create_app, load_policy
from services.eligibility.store import RequestRow, Timer
from shared.db import make_engine
from shared.enums import Outcome, SlaState
from shared.events import (
    BiometricRecorded,
    DesilUpdated,
    EmergencySlaChanged,
    ReactivationDecided,
)
from shared.settings import Settings
from shared.sla import sla_of_decision
from shared.topics import DECISIONS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, TIMER_EVENTS
from testkit.apps import running
from testkit.eligibility import eligibility_settings, facts_applied, outbox_empty
from testkit.events import NIK, NOW, deactivated, emergency, regular
from testkit.kafka import TopicReader, consumed, produce
from testkit.polling import eventually


def decisions_for(request_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return lambda e: isinstance(e, ReactivationDecided) and e.request_id == request_id


async def test_request_is_pending_then_approved_when_facts_arrive(settings: Settings) -> None:
    app = create_app(eligibility_settings(settings))
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        await produce(settings, PARTICIPANT_EVENTS, deactivated())
        await facts_applied(settings)
        request = regular()
        await produce(settings, REACTIVATION_REQUESTS, request)
        [pending] = await decisions.wait_for(decisions_for(request.request_id))
        assert pending.outcome is Outcome.PENDING
        assert {r.value for r in pending.reasons} == {"DESIL_UNKNOWN", "BIOMETRIC_MISSING"}

        await produce(
            settings,
            PARTICIPANT_EVENTS,
            DesilUpdated(occurred_at=NOW, source="DTSEN", nik=NIK, desil=4, effective_on=NOW.date()),
            BiometricRecorded(occurred_at=NOW, source="DUKCAPIL", nik=NIK, recorded_on=NOW.date()),
        )
        found = await decisions.wait_for(lambda e: decisions_for(request.request_id)(e) and e.outcome == "APPROVED")
        assert found[0].reasons == [] and found[0].policy_version == "2026.2"


async def test_request_for_unknown_person_waits_out_the_grace_period_then_is_rejected(settings: Settings) -> None:
    now = [NOW]
    app = create_app(eligibility_settings(settings), clock=lambda: now[0], timer_interval_s=0.1)
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        request = regular("3174015708900002")
        await produce(settings, REACTIVATION_REQUESTS, request)
        [d] = await decisions.wait_for(decisions_for(request.request_id))
        assert (d.outcome, [r.value for r in d.reasons]) == (Outcome.PENDING, ["NOT_DEACTIVATED"])
        now[0] = NOW + load_policy().unknown_person_grace
        rejected = await decisions.wait_for(lambda e: decisions_for(request.request_id)(e) and e.outcome == "REJECTED")
        assert [r.value for r in rejected[0].reasons] == ["NOT_DEACTIVATED"]
        assert rejected[0].event_id != d.event_id


async def test_emergency_that_overtakes_its_deactivation_is_approved_when_it_lands(settings: Settings) -> None:
    """The emergency lane is faster than a backlog of participant events: the request is held, not
    rejected, and the deactivation arriving afterwards approves it without anyone re-submitting."""
    app = create_app(eligibility_settings(settings))
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        # Held for the grace period, counted from receipt on the app's real clock: received now, not at NOW
        # (the session's start, more than the grace period ago in a loaded run's late tests).
        request = emergency(received_at=dt.datetime.now(dt.UTC))
        await produce(settings, EMERGENCY_REQUESTS, request)
        [held] = await decisions.wait_for(decisions_for(request.request_id))
        assert (held.outcome, [r.value for r in held.reasons]) == (Outcome.PENDING, ["NOT_DEACTIVATED"])
        await produce(settings, PARTICIPANT_EVENTS, deactivated())
        approved = await decisions.wait_for(lambda e: decisions_for(request.request_id)(e) and e.outcome == "APPROVED")
        assert approved[0].reasons == []


async def test_redelivered_request_yields_exactly_one_decision(settings: Settings) -> None:
    app = create_app(eligibility_settings(settings))
    request = regular()
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        await produce(settings, PARTICIPANT_EVENTS, deactivated())
        await facts_applied(settings)
        # The same record twice (a producer retry or a redelivery after a crash before the commit).
        await produce(settings, REACTIVATION_REQUESTS, request, request)
        await decisions.wait_for(decisions_for(request.request_id))
        # Both copies handled and whatever they led to published: then the topic holds all there will be.
        await eventually(lambda: consumed(settings, REACTIVATION_REQUESTS))
        await eventually(lambda: outbox_empty(settings))
        mine = [e for e in await decisions.read_to_end() if decisions_for(request.request_id)(e)]
        # One decision (an at-least-once relay may publish a record twice, under the same event id).
        assert len({(e.event_id, e.decision_id) for e in mine}) == 1, mine
    engine = make_engine(settings)
    async with engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(RequestRow.__table__))).scalar()
    await engine.dispose()
    assert count == 1


async def test_emergency_sla_warning_and_breach_fire_after_a_restart(settings: Settings) -> None:
    """An emergency held PENDING by an open NIK conflict: its SLA timers are rows in PostgreSQL, so a
    restarted service (here with a clock 25 hours later) still fires the warning and the breach, once."""
    from shared.events import NikConflictReported

    es = eligibility_settings(settings)
    request = emergency()
    async with running(create_app(es)), TopicReader(settings, settings.topic_prefix + TIMER_EVENTS.name) as sla:
        await produce(
            settings,
            PARTICIPANT_EVENTS,
            deactivated(),
            NikConflictReported(occurred_at=NOW, source="DUKCAPIL", nik=NIK),
        )
        await facts_applied(settings, nik_conflict_open=True)
        await produce(settings, EMERGENCY_REQUESTS, request)
        opened = await sla.wait_for(lambda e: isinstance(e, EmergencySlaChanged))
        assert opened[0].sla_state is SlaState.OK

    later = lambda: NOW + dt.timedelta(hours=25)  # noqa: E731
    async with (
        running(create_app(es, clock=later, timer_interval_s=0.2)),
        TopicReader(settings, settings.topic_prefix + TIMER_EVENTS.name) as sla,
    ):
        states = await sla.wait_for(lambda e: isinstance(e, EmergencySlaChanged) and e.sla_state != "OK")
        # Every timer due by the later clock fired and was published: then the topic holds all there will be.
        await eventually(lambda: timers_fired(settings))
        await eventually(lambda: outbox_empty(settings))
        await sla.read_to_end()
    # Each state once (a record the at-least-once relay published twice keeps its event id).
    fired = {e.event_id: e.sla_state for e in sla.events if isinstance(e, EmergencySlaChanged) and e.sla_state != "OK"}
    assert states and list(fired.values()) == [SlaState.WARNING, SlaState.BREACHED]
    assert await timers_fired(settings)


async def timers_fired(settings: Settings) -> bool:
    """No SLA timer is left unfired (a fired timer's row is deleted with its outbox row)."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            timers = Timer.__table__
            unfired = (
                await conn.execute(select(func.count()).select_from(timers).where(timers.c.kind.like("SLA%")))
            ).scalar()
    finally:
        await engine.dispose()
    return unfired == 0


async def test_emergency_for_deactivated_person_is_approved_and_sla_met(settings: Settings) -> None:
    app = create_app(eligibility_settings(settings))
    async with (
        running(app),
        TopicReader(settings, settings.topic_prefix + TIMER_EVENTS.name) as sla,
        TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions,
    ):
        await produce(settings, PARTICIPANT_EVENTS, deactivated())
        await facts_applied(settings)
        request = emergency()
        await produce(settings, EMERGENCY_REQUESTS, request)
        [d] = await decisions.wait_for(decisions_for(request.request_id))
        assert d.outcome is Outcome.APPROVED
        assert {f.value for f in d.follow_ups} >= {"DESIL_REVERIFICATION", "BIOMETRIC_RECORDING"}
        # The approval carries its SLA state (MET) itself: nothing is published apart on the timer topic.
        assert sla_of_decision(d.outcome, d.decided_at, d.sla_deadline) is SlaState.MET
        await eventually(lambda: outbox_empty(settings))
        await sla.read_to_end()
        assert [e for e in sla.events if isinstance(e, EmergencySlaChanged)] == []


async def test_a_request_and_the_persons_first_fact_at_the_same_moment_never_miss_each_other(
    settings: Settings,
) -> None:
    """Requests and facts are consumed side by side. For a person eligibility has never seen, the
    two transactions used to lock nothing and each miss the other's uncommitted work: the request
    stayed PENDING (NOT_DEACTIVATED) until its grace recheck, minutes later."""
    app = create_app(eligibility_settings(settings))
    async with running(app):
        handlers = app.state.handlers
        # Received now (not at NOW, the session's start): after the grace period a request decided before its
        # fact is rejected at once, whatever the locks did.
        now = dt.datetime.now(dt.UTC)
        niks = [f"3674015708{910001 + i:06d}" for i in range(30)]
        requests = [regular(nik).model_copy(update={"received_at": now}) for nik in niks]
        await asyncio.gather(
            *(
                step
                for r in requests
                for step in (handlers.on_requests([r]), handlers.on_participant_events([deactivated(r.nik)]))
            )
        )
        engine = make_engine(settings)
        t = RequestRow.__table__
        async with engine.connect() as conn:
            rows = (await conn.execute(select(t.c.outcome, t.c.reasons))).all()
        await engine.dispose()
    assert len(rows) == len(requests)
    assert not [r for r in rows if "NOT_DEACTIVATED" in r.reasons], rows


async def test_a_redecision_is_stamped_after_the_decision_it_replaces(settings: Settings) -> None:
    """Registry and intake keep a request's newest decision by decided_at. The facts handler used to
    read the clock, then wait for the person's lock while the emergency lane decided their request
    PENDING; its APPROVED then carried the older time and both dropped it as stale (chaos run:
    the request stayed PENDING everywhere but in eligibility)."""
    from sqlalchemy import insert, text

    from services.eligibility.store import FactsRow

    ticks = iter(range(1, 1_000_000))
    base = dt.datetime.now(dt.UTC)

    def clock() -> dt.datetime:  # every reading later than the one before
        return base + dt.timedelta(milliseconds=next(ticks))

    nik = "3674015708920001"
    app = create_app(eligibility_settings(settings), clock=clock)
    engine = make_engine(settings)
    async with running(app), TopicReader(settings, settings.topic_prefix + DECISIONS.name) as decisions:
        handlers = app.state.handlers
        request = emergency(nik=nik)
        f = FactsRow.__table__
        async with engine.begin() as conn:
            await conn.execute(insert(f).values(nik=nik))
        async with engine.begin() as lane:  # plays the emergency lane's transaction on this person
            await lane.execute(select(f).where(f.c.nik == nik).with_for_update())
            facts = asyncio.create_task(handlers.on_participant_events([deactivated(nik)]))

            async def facts_handler_waits_for_the_lock() -> bool:
                async with engine.connect() as conn:
                    waiting = await conn.execute(
                        text("select count(*) from pg_stat_activity where wait_event_type = 'Lock'")
                    )
                    return waiting.scalar() > 0

            await eventually(facts_handler_waits_for_the_lock)
            pending_at = clock()
            await lane.execute(
                insert(RequestRow.__table__).values(
                    request_id=request.request_id,
                    nik=nik,
                    path="EMERGENCY",
                    outcome="PENDING",
                    reasons=["NOT_DEACTIVATED"],
                    received_at=request.received_at,
                    decided_at=pending_at,
                    event=request.model_dump(mode="json"),
                )
            )
        await facts
        [approved] = await decisions.wait_for(decisions_for(request.request_id))
    await engine.dispose()
    assert approved.outcome is Outcome.APPROVED
    assert approved.decided_at > pending_at and approved.occurred_at > pending_at
