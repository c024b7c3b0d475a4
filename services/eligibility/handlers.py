"""Kafka handlers: fold facts, decide requests, keep timers; each batch is one transaction that also
records the processed event ids and the outgoing events (outbox). Redelivery changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility import metrics
from services.eligibility.domain.facts import apply_fact
from services.eligibility.domain.policy import Policy
from services.eligibility.domain.rules import Decision, Facts, Request, decide
from services.eligibility.domain.window import reactivation_window_closes_at
from services.eligibility.store import (
    RequestRow,
    Timer,
    load_facts,
    mark_reactivated,
    new_event_ids,
    save_facts,
    schedule,
    waiting_in_outbox,
)
from services.eligibility.store import outbox as OUTBOX
from shared.db import transaction
from shared.enums import Outcome, ReactivationPath, SlaState
from shared.events import (
    EmergencySlaChanged,
    ParticipantDeactivated,
    ParticipantEvent,
    ReactivationDecided,
    ReactivationRequested,
)
from shared.outbox import add_to_outbox, outbox_row
from shared.topics import DECISIONS, TIMER_EVENTS

NAMESPACE = uuid.UUID("0d7c3a52-7b0e-4f59-9a55-4f1f2b7c9e11")
Clock = Callable[[], dt.datetime]
YIELD_EVERY = 25  # requests decided between two chances for other tasks (the emergency lane) to run
FINAL = {Outcome.APPROVED.value, Outcome.REJECTED.value, Outcome.EXPIRED.value}


def event_id(*parts: object) -> uuid.UUID:
    """Deterministic ids: the same decision or timer always gets the same event id."""
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


def as_request(request: ReactivationRequested) -> Request:
    return Request(
        str(request.request_id),
        request.nik,
        request.path,
        request.received_at,
        request.documents,
        request.facility_registered,
    )


class EligibilityHandlers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: Policy,
        clock: Clock,
        prefix: str,
        on_commit: Callable[[], None],
        publish_now: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None,
    ) -> None:
        self.sessions, self.policy, self.clock, self.prefix, self.on_commit = sessions, policy, clock, prefix, on_commit
        self.publish_now = publish_now

    def decision_row(self, request: ReactivationRequested, decision: Decision, now: dt.datetime) -> dict[str, Any]:
        eid = event_id(request.request_id, decision.outcome)
        # Built from already validated values: skip re-validating (the NIK check is costly in bulk).
        event = ReactivationDecided.model_construct(
            event_id=eid,
            decision_id=eid,
            occurred_at=now,
            source="eligibility",
            nik=request.nik,
            request_id=request.request_id,
            path=request.path,
            channel=request.channel,
            outcome=decision.outcome,
            reasons=list(decision.reasons),
            follow_ups=list(decision.follow_ups),
            policy_version=decision.policy_version,
            received_at=request.received_at,
            decided_at=now,
            sla_deadline=request.sla_deadline,
            window_closes_at=decision.window_closes_at,
            phone=request.phone,
        )
        metrics.DECISIONS.labels(decision.outcome.value, request.path.value).inc()
        for reason in decision.reasons:
            metrics.REASONS.labels(decision.outcome.value, reason.value).inc()
        return outbox_row(self.prefix + DECISIONS.name, event)

    def sla_row(self, request: ReactivationRequested, state: SlaState, now: dt.datetime) -> dict[str, Any]:
        assert request.sla_deadline is not None
        letter = request.documents.hospital_letter
        event = EmergencySlaChanged.model_construct(
            event_id=event_id(request.request_id, "sla", state),
            occurred_at=now,
            source="eligibility",
            nik=request.nik,
            request_id=request.request_id,
            sla_state=state,
            sla_deadline=request.sla_deadline,
            received_at=request.received_at,
            facility_code=letter.facility_code if letter else None,
        )
        return outbox_row(self.prefix + TIMER_EVENTS.name, event)

    def _decide(self, facts: Facts, request: ReactivationRequested, now: dt.datetime) -> Decision:
        return decide(facts, as_request(request), self.policy, now)

    async def on_participant_events(self, events: list[ParticipantEvent]) -> None:
        now = self.clock()
        async with transaction(self.sessions) as session:
            fresh = await new_event_ids(session, [e.event_id for e in events])
            todo = [e for e in events if e.event_id in fresh]
            if not todo:
                return
            known = await load_facts(session, {e.nik for e in todo})
            timers: list[dict[str, Any]] = []
            for event in todo:  # in partition order: one person's facts apply in sequence
                facts, phone = known.get(event.nik, (Facts(event.nik), None))
                known[event.nik] = (apply_fact(facts, event), getattr(event, "phone", None) or phone)
                if isinstance(event, ParticipantDeactivated):
                    timers.extend(self._reminders(event))
            await save_facts(session, {e.nik: known[e.nik] for e in todo})
            await schedule(session, timers)
            await self._reevaluate_pending(session, {e.nik for e in todo}, known, now)
        self.on_commit()

    def _reminders(self, event: ParticipantDeactivated) -> list[dict[str, Any]]:
        closes = reactivation_window_closes_at(event.deactivated_on, event.nik, self.policy)
        return [
            {
                "kind": "REMINDER",
                "subject": event.nik,
                "nik": event.nik,
                "due_at": closes - dt.timedelta(days=days),
                "data": {"days_left": days, "window_closes_at": closes.isoformat()},
            }
            for days in self.policy.reminder_days_before_close
        ]

    async def _reevaluate_pending(
        self, session: AsyncSession, niks: set[str], known: dict[str, tuple[Facts, str | None]], now: dt.datetime
    ) -> None:
        t = RequestRow.__table__
        rows = (await session.execute(select(t).where(t.c.nik.in_(niks), t.c.outcome == "PENDING"))).mappings().all()
        outbox: list[dict[str, Any]] = []
        for row in rows:
            request = ReactivationRequested.model_validate(row["event"])
            decision = self._decide(known[row["nik"]][0], request, now)
            if decision.outcome is Outcome.PENDING and list(decision.reasons) == list(row["reasons"]):
                continue
            await self._record(session, request, decision, now, outbox, known)
        await add_to_outbox(session, OUTBOX, outbox)

    async def _record(
        self,
        session: AsyncSession,
        request: ReactivationRequested,
        decision: Decision,
        now: dt.datetime,
        outbox: list[dict[str, Any]],
        known: dict[str, tuple[Facts, str | None]],
    ) -> None:
        t = RequestRow.__table__
        await session.execute(
            update(t)
            .where(t.c.request_id == request.request_id)
            .values(outcome=decision.outcome.value, reasons=[r.value for r in decision.reasons], decided_at=now)
        )
        outbox.append(self.decision_row(request, decision, now))
        if decision.outcome is Outcome.APPROVED:
            facts, phone = known[request.nik]
            known[request.nik] = (replace(facts, reactivated=True), phone)
            await mark_reactivated(session, {request.nik})
            if request.path is ReactivationPath.EMERGENCY:
                outbox.append(self.sla_row(request, SlaState.MET, now))
        if decision.outcome.value in FINAL:
            tt = Timer.__table__
            await session.execute(delete(tt).where(tt.c.subject == str(request.request_id), tt.c.fired_at.is_(None)))

    async def on_emergency(self, requests: list[ReactivationRequested]) -> None:
        await self.on_requests(requests, urgent=True)

    async def on_requests(self, requests: list[ReactivationRequested], urgent: bool = False) -> None:
        """Decide new requests. `urgent` (the emergency lane): once committed, the decision is also
        published at once instead of waiting behind the bulk backlog in the outbox; the outbox row
        stays the guarantee (same event id, consumers de-duplicate). Only when no earlier event of
        the same person is still waiting in the outbox, so per-person order is kept."""
        now = self.clock()
        fast = False
        async with transaction(self.sessions) as session:
            fresh = await new_event_ids(session, [r.event_id for r in requests])
            todo = [r for r in requests if r.event_id in fresh]
            if not todo:
                return
            known = await load_facts(session, {r.nik for r in todo})
            outbox: list[dict[str, Any]] = []
            timers: list[dict[str, Any]] = []
            t = RequestRow.__table__
            existing = set(
                (
                    await session.execute(
                        select(t.c.request_id).where(t.c.request_id.in_([r.request_id for r in todo]))
                    )
                ).scalars()
            )
            rows: list[dict[str, Any]] = []
            reactivated: set[str] = set()
            for n, request in enumerate(todo, 1):
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # let the emergency lane in between: deciding is CPU work
                if request.request_id in existing:
                    continue  # the same request re-sent under a new event id: already decided
                existing.add(request.request_id)
                facts, phone = known.setdefault(request.nik, (Facts(request.nik), request.phone))
                decision = self._decide(facts, request, now)
                rows.append(
                    {
                        "request_id": request.request_id,
                        "nik": request.nik,
                        "path": request.path.value,
                        "outcome": decision.outcome.value,
                        "reasons": [r.value for r in decision.reasons],
                        "received_at": request.received_at,
                        "decided_at": now,
                        "event": request.model_dump(mode="json"),
                    }
                )
                outbox.append(self.decision_row(request, decision, now))
                timers.extend(self._request_timers(request, decision))
                if decision.outcome is Outcome.APPROVED:
                    # A second request for the same person in this batch finds them active.
                    known[request.nik] = (replace(facts, reactivated=True), phone)
                    reactivated.add(request.nik)
                if request.path is ReactivationPath.EMERGENCY and request.sla_deadline is not None:
                    if decision.outcome is Outcome.APPROVED:
                        outbox.append(self.sla_row(request, SlaState.MET, now))
                    elif decision.outcome is Outcome.PENDING:
                        outbox.append(self.sla_row(request, SlaState.OK, now))
                metrics.LATENCY.labels(request.path.value).observe(
                    max(0.0, (now - request.received_at).total_seconds())
                )
            # Set-based writes: a batch of hundreds costs a handful of round trips.
            if rows:
                await session.execute(t.insert(), rows)
            await mark_reactivated(session, reactivated)
            # Someone who asked needs no reminder that their window is closing.
            tt = Timer.__table__
            await session.execute(
                delete(tt).where(tt.c.kind == "REMINDER", tt.c.nik.in_({r.nik for r in todo}), tt.c.fired_at.is_(None))
            )
            await schedule(session, timers)
            if urgent and self.publish_now is not None and outbox:
                fast = not await waiting_in_outbox(session, {r.nik.encode() for r in todo})
            await add_to_outbox(session, OUTBOX, outbox)
        if fast and self.publish_now is not None:
            await self.publish_now(outbox)
        self.on_commit()

    def _request_timers(self, request: ReactivationRequested, decision: Decision) -> list[dict[str, Any]]:
        timers: list[dict[str, Any]] = []
        subject = str(request.request_id)
        if decision.outcome is Outcome.PENDING and decision.window_closes_at is not None:
            timers.append(
                {
                    "kind": "EXPIRE",
                    "subject": subject,
                    "nik": request.nik,
                    "due_at": decision.window_closes_at,
                    "data": {},
                }
            )
        if request.path is ReactivationPath.EMERGENCY and decision.outcome is Outcome.PENDING:
            timers.append(
                {
                    "kind": "SLA_WARNING",
                    "subject": subject,
                    "nik": request.nik,
                    "due_at": request.received_at + self.policy.emergency_warning,
                    "data": {},
                }
            )
            timers.append(
                {
                    "kind": "SLA_BREACH",
                    "subject": subject,
                    "nik": request.nik,
                    "due_at": request.received_at + self.policy.emergency_sla,
                    "data": {},
                }
            )
        return timers
