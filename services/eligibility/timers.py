"""Durable timers in PostgreSQL: claimed with FOR UPDATE SKIP LOCKED (safe with several replicas), fired
once in the same transaction as the event they publish (outbox), surviving restarts.

Request timers (SLA warning and breach, grace recheck) are rows of `timers`, deleted when they fire (or when
their request's final decision stops its clock): the table holds only what is still to fire. Window expiry and reminders
have no rows of their own: sweeps over `requests.window_closes_at` (pending requests) and
`facts.next_reminder_at`, each a partial index, read what is due. Each pass is one unit of work through
the handlers (EligibilityHandlers.run); what it decides is domain.batch's."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import structlog

from services.eligibility import metrics
from services.eligibility.domain.batch import SLA_KINDS, Batch
from services.eligibility.domain.records import Changes, TimerRecord
from services.eligibility.domain.schedule import EXPIRE, RECHECK, REMINDER
from services.eligibility.handlers import Clock, EligibilityHandlers
from services.eligibility.store import UnitOfWork

log = structlog.get_logger(__name__)
FIRING = {RECHECK, *SLA_KINDS}  # (REMINDER and EXPIRE rows from before 0003-0004 are deleted, unread)


class TimerLoop:
    def __init__(self, handlers: EligibilityHandlers, clock: Clock, interval_s: float = 1.0, batch: int = 500) -> None:
        self.handlers, self.clock, self.interval_s, self.batch = handlers, clock, interval_s, batch
        self.policy = handlers.policy
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
        fired: list[TimerRecord] = []

        async def work(uow: UnitOfWork) -> Changes | None:
            now = self.clock()
            due = await uow.due_timers(now, self.batch)
            if not due:
                metrics.TIMERS_PENDING.set(await uow.timers_pending())
                return None
            # Facts first: their lock orders this transaction with the handlers deciding the same people.
            people = await uow.lock_people({t.nik for t in due})
            requests = await uow.requests(uuid.UUID(t.subject) for t in due if t.kind in FIRING)
            now = max(now, self.clock())  # decisions are stamped after the locks (rules.decided_after)
            await uow.timers_fired([t.id for t in due])  # their rows go with this transaction's outbox row
            fired[:] = due
            return Batch(people, self.policy, now, requests).fire(due)

        await self.handlers.run(work)
        for kind, n in Counter(t.kind for t in fired).items():
            metrics.TIMERS_FIRED.labels(kind).inc(n)
        return len(fired)

    async def expire_pending(self) -> int:
        """Expire the PENDING requests whose window has closed (up to one batch of people); returns how
        many people were looked at. A request still waiting for a fact expires with the window."""
        looked: set[str] = set()
        expired = 0

        async def work(uow: UnitOfWork) -> Changes | None:
            nonlocal expired
            now = self.clock()
            looked.update(await uow.pending_past_close(now, self.batch))
            if not looked:
                return None
            people = await uow.lock_people(looked)  # then their requests are ours to change
            pending = await uow.requests_of(looked, pending_only=True)
            changes = Batch(people, self.policy, max(now, self.clock()), pending).expire()
            expired = len(changes.decided)
            return changes

        await self.handlers.run(work)
        metrics.TIMERS_FIRED.labels(EXPIRE).inc(expired)
        return len(looked)

    async def sweep_reminders(self) -> int:
        """Send the window reminders that are due (up to one batch of people); returns how many people
        were looked at. Each person's next reminder moves on in the same transaction as the outbox row,
        so a reminder goes out once; what it says is decided now (domain.reminders)."""
        looked = sent = 0

        async def work(uow: UnitOfWork) -> Changes | None:
            nonlocal looked, sent
            now = self.clock()
            due = await uow.due_reminders(now, self.batch)
            looked = len(due)
            if not due:
                return None
            asked = await uow.last_request_at(set(due))
            changes = Batch(due, self.policy, max(now, self.clock())).reminders(asked)
            sent = len(changes.events)
            return changes

        await self.handlers.run(work)
        metrics.TIMERS_FIRED.labels(REMINDER).inc(sent)
        return looked
