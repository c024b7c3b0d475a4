"""Kafka handlers: each batch is one unit of work (store.py) that claims what is new, reads and locks the
rows the batch needs, hands them to the domain (domain.batch), and writes the changes it returns with the
outgoing events (outbox) in the same transaction. Redelivery changes nothing: appeals, erasures and the
facts that would undo a later one if folded again are claimed in the inbox; a deactivation, a biometric
recording or a death is keyed by its effect (folded again it changes nothing, so no inbox row); a
request's own id is its key (a request on record is never decided again)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility import metrics
from services.eligibility.appeals import read_for_appeals
from services.eligibility.domain.appeal_batch import handle_appeals
from services.eligibility.domain.batch import Batch
from services.eligibility.domain.facts import first_deliveries, keyed_by_effect
from services.eligibility.domain.policy import Policy
from services.eligibility.domain.records import Changes
from services.eligibility.store import NewPersonRace, PgUnitOfWork, UnitOfWork, apply_changes
from shared import correlation
from shared.events import AppealRequested, AppealReviewed, ParticipantEvent, ReactivationRequested
from shared.privacy import scrub

log = structlog.get_logger(__name__)
Clock = Callable[[], dt.datetime]
Work = Callable[[UnitOfWork], Awaitable[Changes | None]]
PublishNow = Callable[[list[dict[str, Any]]], Awaitable[object]]  # e.g. OutboxRelay.publish_committed
ATTEMPTS = 3  # a batch that met a new person's concurrent creation is decided again (store.NewPersonRace)


class EligibilityHandlers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        policy: Policy,
        clock: Clock,
        prefix: str,
        wake: Callable[[], None],
        publish_now: PublishNow | None = None,
        *,
        uow: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        """`uow`: where the units of work come from (default: PostgreSQL through `sessions`)."""
        self.policy, self.clock, self.prefix, self.wake, self.publish_now = policy, clock, prefix, wake, publish_now
        self.uow: Callable[[], UnitOfWork] = uow or (lambda: PgUnitOfWork(sessions))  # type: ignore[arg-type]

    async def on_participant_events(self, events: list[ParticipantEvent]) -> None:
        async def work(uow: UnitOfWork) -> Changes | None:
            todo = await _claim_facts(uow, events)
            if not todo:
                return None
            niks = {e.nik for e in todo}
            people = await uow.lock_people(niks, create=False)  # a new person's row: one insert, at the end
            todo = scrub(todo, await uow.erased_among(niks))  # erased people's numbers stay out
            batch = Batch(people, self.policy, self.clock())  # the clock read after the locks
            changed = batch.fold_facts(todo) & people.keys()  # only people on record have requests
            appeals = await uow.open_appeals_of(changed)
            pending = await uow.requests_of(changed, pending_only=True)
            appealed = await uow.requests(a.request_id for a in appeals)
            changes = batch.decide_again(changed, [*pending, *appealed], appeals)
            due = batch.reminders_due_at_once()  # a list loaded late: reminded now, in the row the fact writes
            if not due:
                return changes
            asked = await uow.last_request_at(due & people.keys()) if due & people.keys() else {}
            return batch.remind_at_once(due, asked)

        await self.run(work)

    async def on_emergency(self, requests: list[ReactivationRequested]) -> None:
        await self.on_requests(requests, urgent=True)

    async def on_requests(self, requests: list[ReactivationRequested], urgent: bool = False) -> None:
        """Decide new requests. `urgent`: once committed, the decisions are also published at once (the
        outbox rows stay the guarantee), when no earlier event of these people waits in the outbox."""
        fast = False

        async def work(uow: UnitOfWork) -> Changes:
            nonlocal fast
            niks = {r.nik for r in requests}
            people = await uow.lock_people(niks)
            on_record = await uow.on_record(r.request_id for r in requests)  # a request's id is its inbox
            todo = scrub(requests, await uow.erased_among(niks))  # a request from before an erasure: no number
            changes = Batch(people, self.policy, self.clock()).decide_requests(todo, on_record)
            fast = urgent and self.publish_now is not None and bool(changes.events)
            fast = fast and not await uow.waiting_in_outbox(niks)
            return changes

        rows = await self.run(work)
        if fast and rows and self.publish_now is not None:
            await self.publish_now(rows)

    async def on_appeals(self, events: list[AppealRequested | AppealReviewed]) -> None:
        """Appeals and operators' reviews (domain.appeal_batch), under the people's locks."""

        async def work(uow: UnitOfWork) -> Changes | None:
            todo = await uow.claim(events)
            if not todo:
                return None
            niks = {e.nik for e in todo}
            people = await uow.lock_people(niks)
            todo = scrub(todo, await uow.erased_among(niks))  # an appeal from before an erasure keeps no number
            requests, appeals, siblings = await read_for_appeals(uow, todo)
            return handle_appeals(Batch(people, self.policy, self.clock(), requests, appeals), todo, siblings)

        await self.run(work)

    async def run(self, work: Work) -> list[dict[str, Any]] | None:
        """One unit of work: `work` reads and decides, its changes are written and committed; then the
        metrics and log lines, and the relay is woken. Returns the outbox rows (None: nothing to do)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self.uow() as uow:
                    changes = await work(uow)
                    if changes is None:
                        return None
                    rows = await apply_changes(uow, changes, self.prefix)
            except NewPersonRace:
                if attempt == ATTEMPTS:
                    raise
                continue
            self._committed(changes)
            if rows:
                self.wake()
            return rows
        return None

    def _committed(self, changes: Changes) -> None:
        metrics.count_decisions(
            [(str(r.path), d, (at - r.received_at).total_seconds()) for r, d, at in changes.decisions]
        )
        for name, fields in changes.notes:
            if "cause" in fields:
                fields["correlation_id"] = correlation.for_event(fields.pop("cause"))
            log.info(name, **fields)

    @property
    def on_commit(self) -> Callable[[], None]:  # the name the timer loop and the roles know
        return self.wake


async def _claim_facts(uow: UnitOfWork, events: list[ParticipantEvent]) -> list[ParticipantEvent]:
    """The facts to fold, each once in its first place: those keyed by their effect (folded again they
    change nothing: domain.facts.keyed_by_effect) without an inbox row, the others claimed in the inbox."""
    once = first_deliveries(events)
    claimed = {e.event_id for e in await uow.claim([e for e in once if not keyed_by_effect(e)])}
    return [e for e in once if e.event_id in claimed or keyed_by_effect(e)]
