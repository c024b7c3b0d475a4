"""Events in, intents out: each event that deserves a message becomes one QUEUED row (the intent),
committed with the batch's other effects before anything is sent.

Exactly once at the effect: a deactivation whose message row will be written (its id derived from the
event id and kind) and an SLA change that escalates (id from request and state) are de-duplicated by that
row's key; every other event by the inbox (processed ids), in the same transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import metrics
from services.notifier.domain.intents import Intent, Plan, admitted, keyed_by_its_message, phones_given, plan
from services.notifier.domain.standing import concerns, fold_batch
from services.notifier.escalation import EscalationPlan, Escalations
from services.notifier.templates import render
from services.notifier.uow import PgUnitOfWork, Row, UnitOfWork
from shared import correlation
from shared.events import AnyEvent, Event
from shared.nik import mask_nik
from shared.privacy import scrub

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]


class NotifierHandlers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        clock: Clock,
        on_commit: Callable[[], None],
        escalations: Escalations | None = None,
        *,
        uow: Callable[[], UnitOfWork] | None = None,  # PostgreSQL through `sessions` unless given
    ) -> None:
        assert sessions is not None or uow is not None
        self.uow: Callable[[], UnitOfWork] = uow or (lambda: PgUnitOfWork(sessions))  # type: ignore[arg-type]
        self.clock, self.on_commit = clock, on_commit
        self.escalations = escalations  # emergencies' WARNING/BREACHED to on-call operations (escalation.py)

    async def on_events(self, events: list[AnyEvent]) -> None:
        now = self.clock()
        async with self.uow() as uow:
            on_file = await uow.contacts.lock({e.nik for e in events})  # first, as an erasure locks them
            fresh = scrub(events, await uow.erasures.among({e.nik for e in events}))  # erased numbers stay out
            escalating = self.escalations.plan(fresh, now) if self.escalations else EscalationPlan()
            keyed = {e.event_id for e in fresh if keyed_by_its_message(e, on_file.get(e.nik))} | set(escalating.rows)
            todo = admitted(fresh, keyed, await uow.inbox.claim([e for e in fresh if e.event_id not in keyed]))
            await uow.contacts.file_phones(phones_given(todo))
            await fold_standings(uow, todo)  # what CEK answers (domain/standing.py)
            on_file = await uow.contacts.get({e.nik for e in todo})
            stopped = await uow.opt_outs.stopped({c.phone for c in on_file.values() if c.phone})
            batch = plan(todo, on_file, stopped, now)
            await uow.messages.add([message_row(i, now) for i in batch.intents])
            escalated = await uow.messages.add_new(list(escalating.rows.values()))
        report(batch, len(todo))  # once committed: a rolled-back batch is counted when redone
        if self.escalations:
            self.escalations.count(escalated, (w for e in todo if (w := escalating.unaddressed.get(e.event_id))))
        if todo:
            self.on_commit()


async def fold_standings(uow: UnitOfWork, events: Sequence[Event]) -> None:
    """Each person's standing folded through the batch, in three statements whatever its size."""
    niks = {e.nik for e in events if concerns(e)}
    changes = fold_batch(await uow.standings.for_update(niks), events)
    raced = await uow.standings.add(changes.created)
    if raced:  # another batch created these since the lock: fold onto theirs
        theirs = fold_batch(await uow.standings.for_update(raced), [e for e in events if e.nik in raced])
        changes.updated += theirs.updated
    await uow.standings.update(changes.updated)


def message_row(intent: Intent, now: dt.datetime) -> Row:
    m = intent.message
    return {
        "message_id": m.message_id,
        "nik": m.nik,
        "kind": m.kind,
        "urgent": m.urgent,
        "text": render(m.kind, m.nik, m.context),
        "phone": intent.phone,
        "state": "SKIPPED" if intent.skipped else "QUEUED",
        "send_after": intent.send_after,
        "updated_at": now,
        "channel": intent.channel,
        "correlation_id": correlation.for_event(intent.event_id),
        "event_id": intent.event_id,
        "attempts": 0,  # the bulk insert sets every column itself (no model defaults)
    }


def report(batch: Plan, applied: int) -> None:
    """Nobody to tell is counted and logged (masked), never silent; a wave gets one line."""
    for (kind, why), n in batch.not_sent.items():
        metrics.NOT_SENT.labels(kind, why).inc(n)
    untold: dict[str, Any] = {}
    for nik, kind, why in batch.untold:
        if applied == 1:  # one person's event: name them (masked)
            log.info("no_phone_for_message", nik=mask_nik(nik), kind=kind, reason=why)
        untold[f"{kind}/{why}"] = untold.get(f"{kind}/{why}", 0) + 1
    if untold and applied > 1:
        log.info("no_phone_for_messages", by_kind=untold, batch=applied)
