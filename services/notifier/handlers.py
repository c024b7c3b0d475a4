"""Events in, intents out: each event that deserves a message becomes one QUEUED row (the intent),
committed with the processed event id, before anything is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import case, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifier import metrics
from services.notifier.domain.delivery import Action, action_for, first_channel
from services.notifier.domain.messages import message_for, send_after
from services.notifier.store import PE, C, M
from services.notifier.templates import render
from shared import correlation
from shared.db import transaction
from shared.events import AnyEvent
from shared.nik import mask_nik

log = structlog.get_logger(__name__)

Clock = Callable[[], dt.datetime]


class NotifierHandlers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, on_commit: Callable[[], None]) -> None:
        self.sessions, self.clock, self.on_commit = sessions, clock, on_commit

    async def on_events(self, events: list[AnyEvent]) -> None:
        now = self.clock()
        async with transaction(self.sessions) as session:
            claimed = await session.execute(
                insert(PE)
                .values([{"event_id": e.event_id} for e in events])
                .on_conflict_do_nothing()
                .returning(PE.c.event_id)
            )
            fresh = {row[0] for row in claimed}
            todo = [e for e in events if e.event_id in fresh]
            phones = {e.nik: p for e in todo if (p := getattr(e, "phone", None))}
            if phones:
                stmt = insert(C).values([{"nik": n, "phone": p, "opted_out": False} for n, p in phones.items()])
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["nik"],
                        # a new number may well be on WhatsApp: forget what we learnt about the old one
                        set_={
                            "phone": stmt.excluded.phone,
                            "on_whatsapp": case((C.c.phone == stmt.excluded.phone, C.c.on_whatsapp), else_=None),
                        },
                    )
                )
            contacts = (
                {
                    r["nik"]: r
                    for r in (await session.execute(select(C).where(C.c.nik.in_({e.nik for e in todo})))).mappings()
                }
                if todo
                else {}
            )
            rows: list[dict[str, Any]] = []
            for event in todo:
                message = message_for(event)
                contact = contacts.get(event.nik)
                if message is None:
                    continue
                if contact is None or not contact["phone"]:
                    # Processed, but nobody to tell: counted and logged (masked), never silent.
                    metrics.NOT_SENT.labels(message.kind, "no_phone").inc()
                    log.info("no_phone_for_message", nik=mask_nik(event.nik), kind=message.kind)
                    continue
                if contact["opted_out"]:
                    metrics.NOT_SENT.labels(message.kind, "opted_out").inc()
                rows.append(
                    {
                        "message_id": message.message_id,
                        "nik": message.nik,
                        "kind": message.kind,
                        "urgent": message.urgent,
                        "text": render(message.kind, message.nik, message.context),
                        "phone": contact["phone"],
                        "state": "SKIPPED" if action_for(contact["opted_out"]) is Action.SKIP else "QUEUED",
                        "send_after": send_after(message.nik, message.urgent, now),
                        "updated_at": now,
                        "channel": first_channel(contact["on_whatsapp"]),
                        "correlation_id": correlation.for_event(event.event_id),
                    }
                )
            if rows:
                await session.execute(insert(M).values(rows).on_conflict_do_nothing())
        if todo:
            self.on_commit()
