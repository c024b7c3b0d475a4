"""Events in, intents out: each event that deserves a message becomes one QUEUED row (the intent),
committed with the processed event id, before anything is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import ARRAY, Uuid, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import metrics, standings
from services.notifier.domain.delivery import Action, action_for, first_channel
from services.notifier.domain.messages import message_for, send_after
from services.notifier.escalation import Escalations
from services.notifier.privacy import lock_and_scrub
from services.notifier.store import OO, PE, C, M
from services.notifier.templates import render
from shared import correlation
from shared.db import any_of, bulk_insert, transaction
from shared.events import AnyEvent
from shared.nik import mask_nik

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]


# One statement per batch, whatever its size (multi-row VALUES lists are slow to build and compile).
_CLAIM = text(
    f"insert into {PE.schema}.{PE.name} (event_id) select unnest(cast(:ids as uuid[])) "
    "on conflict do nothing returning event_id"
).bindparams(bindparam("ids", type_=ARRAY(Uuid)))
# A new number may well be on WhatsApp: forget what was learnt about the old one.
_UPSERT_CONTACT = (
    "on conflict (nik) do update set phone = excluded.phone, "
    "on_whatsapp = case when contacts.phone = excluded.phone then contacts.on_whatsapp end"
)


class NotifierHandlers:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        on_commit: Callable[[], None],
        escalations: Escalations | None = None,
    ) -> None:
        self.sessions, self.clock, self.on_commit = sessions, clock, on_commit
        self.escalations = escalations  # emergencies' WARNING/BREACHED to on-call operations (escalation.py)

    async def on_events(self, events: list[AnyEvent]) -> None:
        now = self.clock()
        async with transaction(self.sessions) as session:
            claimed = await session.execute(_CLAIM, {"ids": [e.event_id for e in events]})
            fresh = {row[0] for row in claimed}
            todo = [e for e in events if e.event_id in fresh]
            todo = await lock_and_scrub(session, todo)  # erased people's numbers stay out (privacy.py)
            phones = {e.nik: p for e in todo if (p := getattr(e, "phone", None))}
            contact_rows = [{"nik": n, "phone": p, "opted_out": False} for n, p in phones.items()]
            await bulk_insert(session, C, contact_rows, _UPSERT_CONTACT)
            contacts = (
                {
                    r["nik"]: r
                    for r in (await session.execute(select(C).where(any_of(C.c.nik, {e.nik for e in todo})))).mappings()
                }
                if todo
                else {}
            )
            await standings.apply(session, todo)  # what CEK answers (domain/standing.py)
            # BERHENTI/STOP is kept by number, also for a number no contact named when it came (inbound.py).
            stopped = await _opted_out_phones(session, {c["phone"] for c in contacts.values() if c["phone"]})
            rows: list[dict[str, Any]] = []
            no_phone: dict[str, int] = {}
            for event in todo:
                message = message_for(event)
                contact = contacts.get(event.nik)
                if message is None:
                    continue
                if contact is None or not contact["phone"]:
                    # Processed, but nobody to tell: counted and logged (masked), never silent. A landline
                    # or junk number never reaches `phone` (shared.events): it is counted apart.
                    why = "phone_unusable" if getattr(event, "phone_status", None) else "no_phone"
                    metrics.NOT_SENT.labels(message.kind, why).inc()
                    no_phone[f"{message.kind}/{why}"] = no_phone.get(f"{message.kind}/{why}", 0) + 1
                    if len(todo) == 1:  # one person's event: name them (masked); a wave gets one line
                        log.info("no_phone_for_message", nik=mask_nik(event.nik), kind=message.kind, reason=why)
                    continue
                opted_out = contact["opted_out"] or contact["phone"] in stopped
                if opted_out:
                    metrics.NOT_SENT.labels(message.kind, "opted_out").inc()
                rows.append(
                    {
                        "message_id": message.message_id,
                        "nik": message.nik,
                        "kind": message.kind,
                        "urgent": message.urgent,
                        "text": render(message.kind, message.nik, message.context),
                        "phone": contact["phone"],
                        "state": "SKIPPED" if action_for(opted_out) is Action.SKIP else "QUEUED",
                        "send_after": send_after(message.nik, message.urgent, now),
                        "updated_at": now,
                        "channel": first_channel(contact["on_whatsapp"]),
                        "correlation_id": correlation.for_event(event.event_id),
                        "attempts": 0,  # the bulk insert sets every column itself (no model defaults)
                    }
                )
            if no_phone and len(todo) > 1:
                log.info("no_phone_for_messages", by_kind=no_phone, batch=len(todo))
            # One statement per batch however many rows (SQLAlchemy's multi-VALUES insert was ~20% of a wave's CPU).
            await bulk_insert(session, M, rows, "on conflict do nothing")
            escalated = await self.escalations.queue(session, todo) if self.escalations else []
        if self.escalations:
            self.escalations.count(escalated)  # once committed: a rolled-back batch is counted when redone
        if todo:
            self.on_commit()


async def _opted_out_phones(session: AsyncSession, phones: set[str]) -> set[str]:
    if not phones:
        return set()
    return set((await session.scalars(select(OO.c.phone).where(any_of(OO.c.phone, phones), OO.c.opted_out))).all())
