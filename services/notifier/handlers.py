"""Events in, intents out: each event that deserves a message becomes one QUEUED row (the intent),
committed with the batch's other effects before anything is sent.

Exactly once at the effect: every event that gets a message (its row's id derived from the event id and
kind; an escalating SLA change's from request and state), WAITING ones included, is de-duplicated by that
row's key; every other event (no number, facts) by the inbox (processed ids), in the same transaction.

A message for someone whose deactivation has not arrived yet (the decision overtook it: separate consumer
groups) is kept WAITING without a number; the batch that files the number queues it, the one that brings
the deactivation without a number closes it as untold (domain/intents.py `release`). A batch that filed the
number while the decision's batch was still open cannot see its WAITING row: the sender's periodic pass
(`release_numbered`, with reconcile) queues those."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import metrics
from services.notifier.domain.intents import Intent, OnFile, Plan, admitted, phones_given, plan, release
from services.notifier.domain.people import Person, deactivation_seen, file_numbers, fold_people
from services.notifier.escalation import EscalationPlan, Escalations
from services.notifier.templates import render
from services.notifier.uow import PgUnitOfWork, Row, UnitOfWork
from shared import correlation
from shared.claims import first_of_each
from shared.events import AnyEvent, Event, ParticipantDeactivated
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
            niks = {e.nik for e in events}
            held = await uow.people.lock(niks)  # first, as an erasure locks them
            erased = await uow.erasures.among(niks)
            fresh = first_of_each(scrub(events, erased))  # erased numbers stay out
            escalating = self.escalations.plan(fresh, now) if self.escalations else EscalationPlan()
            given = phones_given(fresh)
            on_file = file_numbers({nik: p.contact for nik, p in held.items()}, given)
            stopped = await uow.opt_outs.stopped({c.phone for c in on_file.values() if c.phone})
            awaiting = _awaiting(held, fresh, erased)
            batch = plan(fresh, on_file, stopped, now, awaiting)
            # Each message row is its event's claim (its id derived from the event); the inbox takes the rest.
            rows = [message_row(i, now) for i in batch.intents] + list(escalating.rows.values())
            added = await uow.messages.add(rows)
            keyed = {i.event_id for i in batch.intents} | set(escalating.rows)
            claimed = await uow.inbox.claim([e for e in fresh if e.event_id not in keyed])
            todo = admitted(fresh, {event_id for event_id, _, _ in added if event_id}, claimed)
            await save_people(uow, held, on_file, todo, given)  # contact and standing: a row per person
            deactivated = {e.nik for e in todo if isinstance(e, ParticipantDeactivated)}
            await release_waiting(uow, set(given) | deactivated, on_file, stopped, deactivated, now)
        applied = batch.applied({e.event_id for e in todo})
        report(applied, len(todo))  # once committed: a rolled-back batch is counted when redone
        if self.escalations:
            escalated = [(kind, channel) for event_id, kind, channel in added if event_id in escalating.rows]
            self.escalations.count(escalated, (w for e in todo if (w := escalating.unaddressed.get(e.event_id))))
        if todo:
            self.on_commit()


async def save_people(
    uow: UnitOfWork, held: dict[str, Person], on_file: dict[str, OnFile], todo: list[Event], given: dict[str, str]
) -> None:
    """Each person's row as the batch leaves it, in two statements whatever its size: the new people
    inserted, the changed ones updated. A new person another batch created since the lock is folded again
    onto theirs, not written over it."""
    changes = fold_people(held, on_file, todo)
    raced = await uow.people.add(changes.new)
    if raced:
        theirs = await uow.people.lock(raced)
        filed = file_numbers({n: p.contact for n, p in theirs.items()}, {n: given[n] for n in raced if n in given})
        changes.changed += fold_people(theirs, filed, [e for e in todo if e.nik in raced]).changed
    await uow.people.update(changes.changed)


def _awaiting(held: dict[str, Person], batch: Sequence[Event], erased: Mapping[str, object]) -> set[str]:
    """People whose deactivation (the event that brings the number, or says there is none) is not known yet,
    from before or in this batch: their messages wait for it. Nobody waits for an erased person's number."""
    known = {e.nik for e in batch if isinstance(e, ParticipantDeactivated)}
    return {n for e in batch if (n := e.nik) not in known and n not in erased and not deactivation_seen(held.get(n))}


async def release_waiting(
    uow: UnitOfWork,
    niks: set[str],
    on_file: dict[str, OnFile],
    stopped: set[str],
    deactivated: set[str],
    now: dt.datetime,
) -> int:
    """These people's WAITING messages queued to their number now on file, or closed when their deactivation
    came without one (`deactivated`). Returns how many went on."""
    if not niks:
        return 0
    waiting = await uow.messages.waiting(niks)
    if not waiting:
        return 0
    released, untold = release(waiting, on_file, stopped, deactivated, now)
    changed = await uow.messages.release(released)
    for (kind, why), n in untold.items():
        metrics.NOT_SENT.labels(kind, why).inc(n)
    log.info("waiting_messages_released", queued=changed - sum(untold.values()), untold=sum(untold.values()))
    return changed


async def release_numbered(uow: UnitOfWork, now: dt.datetime) -> int:
    """The sender's periodic pass: WAITING messages whose person has a number on file by now (filed by a
    batch that ran beside the one that queued them), queued to it."""
    async with uow:
        niks = await uow.messages.waiting_with_number()
        if not niks:
            return 0
        on_file = {nik: p.contact for nik, p in (await uow.people.lock(niks)).items()}
        stopped = await uow.opt_outs.stopped({c.phone for c in on_file.values() if c.phone})
        return await release_waiting(uow, niks, on_file, stopped, set(), now)


def message_row(intent: Intent, now: dt.datetime) -> Row:
    m = intent.message
    return {
        "message_id": m.message_id,
        "nik": m.nik,
        "kind": m.kind,
        "urgent": m.urgent,
        "text": render(m.kind, m.nik, m.context),
        "phone": intent.phone,
        "state": "WAITING" if intent.waiting else "SKIPPED" if intent.skipped else "QUEUED",
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
    for u in batch.untold:
        if applied == 1:  # one person's event: name them (masked)
            log.info("no_phone_for_message", nik=mask_nik(u.nik), kind=u.kind, reason=u.why)
        untold[f"{u.kind}/{u.why}"] = untold.get(f"{u.kind}/{u.why}", 0) + 1
    if untold and applied > 1:
        log.info("no_phone_for_messages", by_kind=untold, batch=applied)
    if batch.waiting:  # counts only: the people are named (masked) when their number comes or does not
        log.info("messages_waiting_for_number", messages=batch.waiting, batch=applied)
