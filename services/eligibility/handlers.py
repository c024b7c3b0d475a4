"""Kafka handlers: fold facts, decide requests, keep timers; each batch is one transaction that also
records the processed event ids and the outgoing events (outbox). Redelivery changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility import metrics
from services.eligibility.appeals import Appeals
from services.eligibility.domain.facts import fold, reactivate
from services.eligibility.domain.policy import Policy
from services.eligibility.domain.rules import Decision, Facts, decide, decided_after, redecide
from services.eligibility.domain.schedule import request_timers, sla_state
from services.eligibility.outgoing import as_request, decision_event, sla_event
from services.eligibility.privacy import scrub_erased
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
from shared import correlation
from shared.db import any_of, bulk_insert, transaction
from shared.enums import Outcome, ReactivationPath, SlaState
from shared.events import AppealRequested, AppealReviewed, ParticipantEvent, ReactivationRequested
from shared.nik import mask_nik
from shared.outbox import add_to_outbox, outbox_row
from shared.topics import DECISIONS, TIMER_EVENTS

log = structlog.get_logger(__name__)
Clock = Callable[[], dt.datetime]
Known = dict[str, tuple[Facts, str | None]]  # NIK -> (facts, phone)
YIELD_EVERY = 25  # requests decided between two chances for other tasks to run
FINAL = {Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED}


@dataclass
class Effects:
    """What one transaction publishes; the decision metrics are counted once it has committed."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    decided: list[tuple[ReactivationRequested, Decision, dt.datetime]] = field(default_factory=list)

    def count(self) -> None:
        metrics.count_decisions(
            [(r.path.value, d, (now - r.received_at).total_seconds()) for r, d, now in self.decided]
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
        self.appeals = Appeals(self)

    def add_decision(
        self,
        effects: Effects,
        request: ReactivationRequested,
        decision: Decision,
        now: dt.datetime,
        appeal_id: uuid.UUID | None = None,
    ) -> None:
        event = decision_event(request, decision, now, appeal_id)
        effects.outbox.append(outbox_row(self.prefix + DECISIONS.name, event, cause=request.event_id))
        effects.decided.append((request, decision, now))
        if request.path is ReactivationPath.EMERGENCY:  # rare and urgent: each one is worth a log line
            log.info(
                "emergency_decided",
                request_id=str(request.request_id),
                nik=mask_nik(request.nik),
                outcome=decision.outcome.value,
                reasons=[r.value for r in decision.reasons],
                correlation_id=correlation.for_event(request.event_id),
            )

    def sla_row(self, request: ReactivationRequested, state: SlaState, now: dt.datetime) -> dict[str, Any]:
        return outbox_row(self.prefix + TIMER_EVENTS.name, sla_event(request, state, now), cause=request.event_id)

    def add_sla(
        self, effects: Effects, request: ReactivationRequested, decision: Decision, now: dt.datetime, first: bool
    ) -> None:
        if request.path is ReactivationPath.EMERGENCY and request.sla_deadline is not None:
            state = sla_state(decision, first)
            if state is not None:
                effects.outbox.append(self.sla_row(request, state, now))

    def decide(self, facts: Facts, request: ReactivationRequested, now: dt.datetime) -> Decision:
        """The first decision: lateness judged at receipt (request.received_at, intake's stamp)."""
        return decide(facts, as_request(request), self.policy, now)

    def timers_for(self, request: ReactivationRequested, decision: Decision) -> list[dict[str, Any]]:
        return request_timers(as_request(request), decision, self.policy)

    async def on_participant_events(self, events: list[ParticipantEvent]) -> None:
        effects = Effects()
        async with transaction(self.sessions) as session:
            fresh = await new_event_ids(session, [e.event_id for e in events])
            todo = [e for e in events if e.event_id in fresh]
            if not todo:
                return
            known = await load_facts(session, {e.nik for e in todo})
            todo = await scrub_erased(session, todo)  # erased people's numbers stay out (privacy.py)
            now = self.clock()  # read after the locks: see decided_after
            for event in todo:  # in partition order: one person's facts apply in sequence
                facts, phone = known.get(event.nik, (Facts(event.nik), None))
                known[event.nik] = fold(facts, phone, event, self.policy)
            await save_facts(session, {e.nik: known[e.nik] for e in todo})
            await self._reevaluate_pending(session, {e.nik for e in todo}, known, now, effects)
            await self.appeals.reevaluate(session, {e.nik for e in todo}, known, now, effects)
            await add_to_outbox(session, OUTBOX, effects.outbox)
        effects.count()
        self.on_commit()

    async def _reevaluate_pending(
        self, session: AsyncSession, niks: set[str], known: Known, now: dt.datetime, effects: Effects
    ) -> None:
        """New facts decide the PENDING requests of these people, without anyone re-submitting."""
        t = RequestRow.__table__
        pending = select(t).where(any_of(t.c.nik, niks), t.c.outcome == "PENDING")
        rows = (await session.execute(pending)).mappings().all()
        for row in rows:
            await self.reconsider(session, row, known, now, effects)

    async def reconsider(
        self, session: AsyncSession, row: Any, known: Known, now: dt.datetime, effects: Effects
    ) -> None:
        """Decide a PENDING request again (after its window closed it expires with it: redecide);
        record it only when something changed."""
        request = ReactivationRequested.model_validate(row["event"])
        facts = known.get(request.nik, (Facts(request.nik), None))[0]
        decision = redecide(facts, as_request(request), self.policy, now)
        if decision.outcome is Outcome.PENDING and [r.value for r in decision.reasons] == list(row["reasons"]):
            return
        await self.record(session, request, decision, decided_after(now, row["decided_at"]), effects, known)

    async def record(
        self,
        session: AsyncSession,
        request: ReactivationRequested,
        decision: Decision,
        now: dt.datetime,
        effects: Effects,
        known: Known,
        appeal_id: uuid.UUID | None = None,
    ) -> None:
        """A new decision for a request already on record (re-evaluation, timer, upheld appeal)."""
        t = RequestRow.__table__
        await session.execute(
            update(t)
            .where(t.c.request_id == request.request_id)
            .values(
                outcome=decision.outcome.value,
                reasons=[r.value for r in decision.reasons],
                decided_at=now,
                window_closes_at=decision.window_closes_at,
            )
        )
        self.add_decision(effects, request, decision, now, appeal_id)
        self.add_sla(effects, request, decision, now, first=False)
        if decision.outcome is Outcome.APPROVED:
            facts, phone = known.get(request.nik, (Facts(request.nik), None))
            known[request.nik] = (reactivate(facts, now), phone)
            await mark_reactivated(session, {request.nik}, now)
        tt = Timer.__table__
        if decision.outcome in FINAL:  # the clock stops: no WARNING/BREACHED after MET or CLOSED
            await session.execute(delete(tt).where(tt.c.subject == str(request.request_id), tt.c.fired_at.is_(None)))
        else:  # still PENDING, for other reasons: timers it now needs (existing ones are kept)
            await schedule(session, self.timers_for(request, decision))

    async def on_appeals(self, events: list[AppealRequested | AppealReviewed]) -> None:
        """Appeals and operators' reviews (services.eligibility.appeals), under the people's locks."""
        effects = Effects()
        async with transaction(self.sessions) as session:
            fresh = await new_event_ids(session, [e.event_id for e in events])
            todo = [e for e in events if e.event_id in fresh]
            if not todo:
                return
            known = await load_facts(session, {e.nik for e in todo})
            todo = await scrub_erased(session, todo)  # an appeal from before an erasure keeps no number
            now = self.clock()  # read after the locks: see decided_after
            for event in todo:
                await self.appeals.handle(session, event, known, now, effects)
            await add_to_outbox(session, OUTBOX, effects.outbox)
        effects.count()
        self.on_commit()

    async def on_emergency(self, requests: list[ReactivationRequested]) -> None:
        await self.on_requests(requests, urgent=True)

    async def on_requests(self, requests: list[ReactivationRequested], urgent: bool = False) -> None:
        """Decide new requests. `urgent` (the emergency lane): once committed, the decision is also
        published at once instead of waiting behind the bulk backlog in the outbox; the outbox row
        stays the guarantee (same event id, consumers de-duplicate). Only when no earlier event of
        the same person is still waiting in the outbox, so per-person order is kept."""
        fast = False
        effects = Effects()
        async with transaction(self.sessions) as session:
            fresh = await new_event_ids(session, [r.event_id for r in requests])
            todo = [r for r in requests if r.event_id in fresh]
            if not todo:
                return
            known = await load_facts(session, {r.nik for r in todo})
            todo = await scrub_erased(session, todo)  # a request from before an erasure keeps no number
            now = self.clock()  # read after the locks: see decided_after
            t = RequestRow.__table__
            existing = set(
                (
                    await session.execute(
                        select(t.c.request_id).where(any_of(t.c.request_id, [r.request_id for r in todo]))
                    )
                ).scalars()
            )
            rows: list[dict[str, Any]] = []
            timers: list[dict[str, Any]] = []
            approved: set[str] = set()
            for n, request in enumerate(todo, 1):
                if n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # deciding is CPU work: let the relay and lag sampler in
                if request.request_id in existing:
                    continue  # the same request re-sent under a new event id: already decided
                existing.add(request.request_id)
                facts, phone = known.setdefault(request.nik, (Facts(request.nik), None))
                phone = phone or request.phone
                decision = self.decide(facts, request, now)
                rows.append(
                    {
                        "request_id": request.request_id,
                        "nik": request.nik,
                        "path": request.path.value,
                        "outcome": decision.outcome.value,
                        "reasons": [r.value for r in decision.reasons],
                        "received_at": request.received_at,
                        "decided_at": now,
                        "window_closes_at": decision.window_closes_at,
                        "event": request.model_dump_json().encode(),
                    }
                )
                self.add_decision(effects, request, decision, now)
                self.add_sla(effects, request, decision, now, first=True)
                timers.extend(self.timers_for(request, decision))
                if decision.outcome is Outcome.APPROVED:
                    # A second request for the same person in this batch finds them active.
                    known[request.nik] = (reactivate(facts, now), phone)
                    approved.add(request.nik)
            # Set-based writes: a batch of hundreds costs a handful of round trips. (Someone who asked
            # gets no reminder: the sweep finds their request, domain.reminders.remind.)
            await bulk_insert(session, t, rows)
            await mark_reactivated(session, approved, now)
            await schedule(session, timers)
            if urgent and self.publish_now is not None and effects.outbox:
                fast = not await waiting_in_outbox(session, {r.nik.encode() for r in todo})
            await add_to_outbox(session, OUTBOX, effects.outbox)
        effects.count()
        if fast and self.publish_now is not None:
            await self.publish_now(effects.outbox)
        self.on_commit()
