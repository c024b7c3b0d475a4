"""One batch handler for every topic the registry mirrors. A batch is one unit of work (uow.py): keep the
events not applied before, lock their people, fold them (domain.batch, pure), write the changes and the
status changes to announce (outbox) in the same transaction. A redelivered event changes nothing: no
second history row, no second announcement."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry import metrics
from services.registry.domain.batch import (
    Changes,
    Fold,
    dedup_by_effect,
    first_deliveries,
    ignored,
    keeps_contact,
    needs_region,
    region_from_nik,
)
from services.registry.uow import ConcurrentBatch, PgUnitOfWork, UnitOfWork
from shared.events import Event
from shared.privacy import scrub

__all__ = ["Clock", "RegistryHandlers", "region_from_nik", "utc_now"]
YIELD_EVERY = 250  # events folded between two chances for the loop's other consumers to run
RETRIES = 3
_first_deliveries = first_deliveries  # the name the unit tests know
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RegistryHandlers:
    """`uow`: the unit of work per batch (default: PostgreSQL through `sessions`; tests pass one in memory)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        prefix: str,
        on_commit: Callable[[], None],
        clock: Clock | None = None,
        uow: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        self.prefix, self.on_commit, self.clock = prefix, on_commit, clock or utc_now
        self.uow = uow or (lambda: PgUnitOfWork(sessions, prefix))  # type: ignore[arg-type]

    async def on_events(self, events: list[Event]) -> None:
        started = time.perf_counter()
        if all(ignored(e) for e in events):  # reminders an older eligibility put on the timer topic: no transaction
            _observe(events, 0, [], Changes(self.clock()), started)
            return
        for attempt in range(1, RETRIES + 1):
            try:
                async with self.uow() as uow:
                    kept, applied, changes = await self._apply(uow, first_deliveries(events))
                break
            except ConcurrentBatch:  # applied again on the rows the other transaction committed
                if attempt == RETRIES:
                    raise  # transient: the consumer retries it later
        # Once committed, from the attempt that committed: a rolled-back batch or attempt counts nothing.
        _observe(events, len(events) - kept, applied, changes, started)
        self.on_commit()

    async def _apply(self, uow: UnitOfWork, events: list[Event]) -> tuple[int, list[Event], Changes]:
        """(how many events were not skipped as seen, those of them this batch applies first, the changes)."""
        fresh = await uow.claim(events)  # the inbox's claims; events keyed by their effect pass on
        # Locked: the people the batch's facts and decisions change; read: those whose region other rows
        # take (a request's); a message's state needs nobody (a wave's notices locked every row again).
        people = await uow.lock_people(e.nik for e in fresh if dedup_by_effect(e))
        locked = set(people)  # the NIKs locked, before the people only read join them
        people.update(await uow.read_people({e.nik for e in fresh if needs_region(e)} - people.keys()))
        # Erased people: contact data on their events stays out (shared.privacy); read after the locks, and
        # only for the events whose contact data the fold keeps (a batch of requests looks nobody up).
        fresh = scrub(await uow.unseen(fresh), await uow.erased(e.nik for e in fresh if keeps_contact(e)))
        fold = Fold(people, self.clock())
        for i in range(0, len(fresh), YIELD_EVERY):
            fold.add(fresh[i : i + YIELD_EVERY])
            await asyncio.sleep(0)  # a wave batch is thousands of events: let the other consumers in
        await uow.save(fold.changes)
        return len(fresh), first_applications(fresh, locked, fold.changes.people), fold.changes


def first_applications(fresh: list[Event], locked: Collection[str], created: Collection[str]) -> list[Event]:
    """What `pbi_registry_events_applied_total` counts: of the batch's events not skipped as seen (`fresh`),
    those this batch is sure to apply first, so that each event counts once, whatever the retries, the
    redeliveries and the two roles that apply an emergency's decision.

    - An event keyed by its effect (deactivation, fact, decision) counts when its person was `locked` (uow.unseen
      found no row of it under the lock: no other batch can have written one) or `created` by this batch (the
      insert found no row, else ConcurrentBatch). About nobody on record, and still nobody after it (a decision
      for nobody to mirror, an unknown type for an unknown NIK), it is applied to no one and not counted: with
      no row to lock, PostgreSQL's unseen does not look it up, so each delivery and each role applies it again.
    - An SLA state or an appeal: it is in `fresh` only when this batch won its inbox claim.
    - A request or a message's state (domain.batch.APPLIED_AGAIN): applied at each delivery, and counted at
      each (no record tells a redelivery; its upsert writes nothing then, nor for a request whose decision
      came first with the same fields).
    - The registry's own status changes and the window reminders (domain.batch.IGNORED): never applied.
    """
    return [e for e in fresh if ((e.nik in locked or e.nik in created) if dedup_by_effect(e) else not ignored(e))]


def _observe(events: list[Event], skipped: int, applied: list[Event], changes: Changes, started: float) -> None:
    """`skipped`: the events of the batch found applied before (a repeat in the batch, an inbox claim lost,
    an effect already written)."""
    metrics.DUPLICATES.inc(skipped)
    for kind, n in Counter(getattr(e, "type", "") for e in applied).items():
        metrics.APPLIED.labels(kind).inc(n)
    for kind, n in Counter(a.kind for a in changes.anomalies).items():
        metrics.ANOMALIES.labels(kind).inc(n)
    metrics.BATCH.observe(len(events))
    metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
    if events:
        metrics.LAG.set(max(0.0, (utc_now() - events[-1].occurred_at).total_seconds()))
