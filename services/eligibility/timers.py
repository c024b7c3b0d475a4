"""Durable timers in PostgreSQL: claimed with FOR UPDATE SKIP LOCKED (safe with several replicas),
fired once in the same transaction as the event they publish (outbox), surviving restarts.

Request timers (SLA warning and breach, grace recheck) are rows of `timers`. Window expiry and
reminders have no rows of their own: sweeps over `requests.window_closes_at` (pending requests) and
`facts.next_reminder_at`, each a partial index, read what is due."""

from __future__ import annotations

import asyncio
import datetime as dt

import structlog
from sqlalchemy import func, select, update

from services.eligibility import metrics
from services.eligibility.domain.reminders import Reminder, remind
from services.eligibility.domain.rules import Facts, decided_after, expired
from services.eligibility.domain.schedule import EXPIRE, RECHECK, REMINDER, SLA_BREACH, SLA_WARNING
from services.eligibility.handlers import Clock, Effects, EligibilityHandlers
from services.eligibility.outgoing import as_request, event_id
from services.eligibility.store import (
    RequestRow,
    Timer,
    due_reminders,
    last_request_at,
    load_facts,
    outbox,
    pending_past_close,
    set_next_reminders,
)
from shared.db import any_of, transaction
from shared.enums import Outcome, SlaState
from shared.events import ReactivationRequested, WindowReminderDue
from shared.outbox import add_to_outbox, outbox_row
from shared.topics import TIMER_EVENTS

log = structlog.get_logger(__name__)
SLA_KINDS = {SLA_WARNING: SlaState.WARNING, SLA_BREACH: SlaState.BREACHED}


class TimerLoop:
    def __init__(self, handlers: EligibilityHandlers, clock: Clock, interval_s: float = 1.0, batch: int = 500) -> None:
        self.handlers, self.clock, self.interval_s, self.batch = handlers, clock, interval_s, batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="eligibility-timers")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                # Taking turns: a wave's reminders, due at the same moment, never hold back an SLA timer
                # by more than one batch.
                while True:
                    busy = await self.fire_due() == self.batch
                    busy = await self.expire_pending() == self.batch or busy
                    if not (await self.sweep_reminders() == self.batch or busy):
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep ticking; the timer rows stay due
                log.warning("timer_loop_failed", error=type(exc).__name__, detail=str(exc)[:200])
            await asyncio.sleep(self.interval_s)

    async def fire_due(self) -> int:
        """Fire every due timer (up to one batch); returns how many fired."""
        now = self.clock()
        t, r = Timer.__table__, RequestRow.__table__
        async with transaction(self.handlers.sessions) as session:
            due = (
                (
                    await session.execute(
                        select(t)
                        .where(t.c.fired_at.is_(None), t.c.due_at <= now)
                        .order_by(t.c.due_at)
                        .limit(self.batch)
                        .with_for_update(skip_locked=True)
                    )
                )
                .mappings()
                .all()
            )
            if not due:
                pending = (await session.execute(select(func.count()).where(t.c.fired_at.is_(None)))).scalar()
                metrics.TIMERS_PENDING.set(pending or 0)
                return 0
            effects = Effects()
            # Facts first: their lock orders this transaction with the handlers deciding the same people.
            known = await load_facts(session, {d["nik"] for d in due})
            now = max(now, self.clock())  # decisions are stamped after the locks (handlers.decided_after)
            requests = {}
            subjects = [d["subject"] for d in due if d["kind"] != REMINDER]  # (rows left from before 0003)
            if subjects:
                for row in (await session.execute(select(r).where(r.c.request_id.in_(subjects)))).mappings():
                    requests[str(row["request_id"])] = row
            for timer in due:
                await self._fire(session, timer, requests.get(timer["subject"]), known, now, effects)
                metrics.TIMERS_FIRED.labels(timer["kind"]).inc()
            await session.execute(update(t).where(t.c.id.in_([d["id"] for d in due])).values(fired_at=now))
            await add_to_outbox(session, outbox, effects.outbox)
        effects.count()
        self.handlers.on_commit()
        return len(due)

    async def expire_pending(self) -> int:
        """Expire the PENDING requests whose window has closed (up to one batch of people); returns
        how many people were looked at. A request still waiting for a fact expires with the window."""
        now = self.clock()
        r = RequestRow.__table__
        async with transaction(self.handlers.sessions) as session:
            niks = await pending_past_close(session, now, self.batch)
            if not niks:
                return 0
            known = await load_facts(session, niks)  # then their requests are ours to change
            now = max(now, self.clock())
            due = select(r).where(any_of(r.c.nik, niks), r.c.outcome == "PENDING", r.c.window_closes_at <= now)
            effects = Effects()
            for row in (await session.execute(due)).mappings().all():
                request = ReactivationRequested.model_validate(row["event"])
                facts = known.get(request.nik, (Facts(request.nik), None))[0]
                decision = expired(facts, as_request(request), self.handlers.policy, row["window_closes_at"])
                stamp = decided_after(now, row["decided_at"])
                await self.handlers.record(session, request, decision, stamp, effects, known)
                metrics.TIMERS_FIRED.labels(EXPIRE).inc()
            await add_to_outbox(session, outbox, effects.outbox)
        effects.count()
        self.handlers.on_commit()
        return len(niks)

    async def sweep_reminders(self) -> int:
        """Send the window reminders that are due (up to one batch of people); returns how many
        people were looked at. Each person's next reminder moves on in the same transaction as the
        outbox row, so a reminder goes out once; what it says is decided now (domain.reminders)."""
        now = self.clock()
        async with transaction(self.handlers.sessions) as session:
            due = await due_reminders(session, now, self.batch)
            if not due:
                return 0
            asked = await last_request_at(session, set(due))
            now = max(now, self.clock())
            rows, next_at = [], {}
            for nik, (facts, phone) in due.items():
                reminder, next_at[nik] = remind(facts, self.handlers.policy, now, asked.get(nik))
                if reminder is not None:
                    rows.append(self._reminder_row(facts, phone, reminder, now))
            await set_next_reminders(session, next_at)
            await add_to_outbox(session, outbox, rows)
        metrics.TIMERS_FIRED.labels(REMINDER).inc(len(rows))
        if rows:
            self.handlers.on_commit()
        return len(due)

    def _reminder_row(self, facts: Facts, phone: str | None, reminder: Reminder, now: dt.datetime) -> dict:  # type: ignore[type-arg]
        event = WindowReminderDue(
            # One per person, deactivation and threshold: a re-run of the same sweep is the same event.
            event_id=event_id("reminder", facts.nik, facts.deactivated_on, reminder.threshold),
            occurred_at=now,
            source="eligibility",
            nik=facts.nik,
            window_closes_at=reminder.window_closes_at,
            days_left=reminder.days_left,
            phone=phone,
        )
        return outbox_row(self.handlers.prefix + TIMER_EVENTS.name, event)

    async def _fire(self, session, timer, request_row, known, now, effects: Effects) -> None:  # type: ignore[no-untyped-def]
        kind = timer["kind"]
        if kind in (REMINDER, EXPIRE):
            return  # rows from before migrations 0003-0004 (which move them): the sweeps do this now
        if request_row is None or request_row["outcome"] != Outcome.PENDING.value:
            return  # decided meanwhile: the clock stopped
        request = ReactivationRequested.model_validate(request_row["event"])
        if kind in SLA_KINDS:
            effects.outbox.append(self.handlers.sla_row(request, SLA_KINDS[kind], now))
        elif kind == RECHECK:  # the grace period for a deactivation still on its way is over
            await self.handlers.reconsider(session, request_row, known, now, effects)
