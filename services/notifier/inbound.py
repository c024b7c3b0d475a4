"""Citizens' commands from the signed webhooks: each inbound message acted on once, keyed by the
provider's message id (WhatsApp wamid, Twilio MessageSid), in one transaction with what it causes.

- BERHENTI/STOP: the number is opted out at once (also a number no contact names yet), its QUEUED
  messages are cancelled (SKIPPED); nothing is answered (the person asked for silence).
- MULAI: messages again for the number; a confirmation is answered.
- CEK: the number on file for a NIK gets that person's status (masked NIK, window, what is missing);
  any other number the general answer. BANDING <reference> from the number on file travels on to
  eligibility as AppealRequested (outbox); anything else gets the help text.
Answers are urgent (a person is waiting: quiet hours do not hold them), rate-limited per number and
queued as ordinary messages, so the sender delivers them exactly once like any other.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier import metrics, standings
from services.notifier.appeals import appeal_events
from services.notifier.domain import answers
from services.notifier.domain.commands import Command, Kind, parse
from services.notifier.domain.delivery import REPLY
from services.notifier.domain.standing import Standing, names_request
from services.notifier.store import IN, OO, C, M, outbox
from shared.db import bulk_insert, transaction
from shared.outbox import add_to_outbox, outbox_row
from shared.phone import mask_phone
from shared.topics import APPEALS, TopicSpec

log = structlog.get_logger(__name__)
NAMESPACE = uuid.UUID("5d0f2c7a-8e41-4b6a-9c3d-7a1e0b9f4c25")
MAX_PEOPLE = 5  # one number on file for several NIKs (a family's phone): one answer each, at most this many


@dataclass(frozen=True)
class Inbound:
    inbound_id: str | None  # the provider's message id; None: cannot be de-duplicated, so never answered
    phone: str  # E.164
    text: str
    channel: str  # WHATSAPP or SMS: the answer goes back the way the message came
    at: dt.datetime | None = None  # the provider's timestamp (orders STOP and MULAI)


class Commands:
    topics: tuple[TopicSpec, ...] = (APPEALS,)  # what it writes (BANDING's appeals, outbox); app.py declares it

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], dt.datetime],
        on_commit: Callable[[], None],
        replies_per_window: int,
        window_s: int,
        prefix: str,
    ) -> None:
        self.sessions, self.clock, self.on_commit, self.prefix = sessions, clock, on_commit, prefix
        # In memory, per replica: a number's answers are bounded by replicas x this.
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.limit = RateLimitItemPerSecond(replies_per_window, window_s)

    async def handle(self, items: list[Inbound]) -> None:
        now, queued = self.clock(), False
        async with transaction(self.sessions) as session:
            for item in items:
                queued = await self._one(session, item, now) or queued
        if queued:
            self.on_commit()

    async def _one(self, session: AsyncSession, item: Inbound, now: dt.datetime) -> bool:
        command = parse(item.text)
        if item.inbound_id is not None and not await self._first_time(session, item, command, now):
            metrics.INBOUND.labels(command.kind.value, "duplicate").inc()
            return False
        if command.kind is Kind.STOP:  # acted on, never answered, never rate-limited
            await self._consent(session, item, opted_out=True, now=now)
            metrics.INBOUND.labels(command.kind.value, "opted_out").inc()
            return False
        if command.kind is Kind.START:
            await self._consent(session, item, opted_out=False, now=now)
        if item.inbound_id is None:  # nothing to key an answer on: it could not be sent exactly once
            metrics.INBOUND.labels(command.kind.value, "no_id").inc()
            return False
        if not await self.limiter.hit(self.limit, item.phone):
            await self._outcome(session, item, "RATE_LIMITED")
            log.info("inbound_rate_limited", phone=mask_phone(item.phone), command=command.kind.value)
            metrics.INBOUND.labels(command.kind.value, "rate_limited").inc()
            return False
        rows = await self._answers(session, item, command, now)
        await bulk_insert(session, M, rows, "on conflict do nothing")
        metrics.INBOUND.labels(command.kind.value, "answered").inc()
        return True

    async def _first_time(self, session: AsyncSession, item: Inbound, command: Command, now: dt.datetime) -> bool:
        row: dict[str, Any] = {"inbound_id": item.inbound_id, "channel": item.channel, "phone": item.phone}
        row |= {"command": command.kind.value, "outcome": "ANSWERED", "received_at": item.at or now}
        claimed = await session.scalar(insert(IN).values(**row).on_conflict_do_nothing().returning(IN.c.inbound_id))
        return claimed is not None

    async def _outcome(self, session: AsyncSession, item: Inbound, outcome: str) -> None:
        if item.inbound_id is not None:
            await session.execute(update(IN).where(IN.c.inbound_id == item.inbound_id).values(outcome=outcome))

    async def _consent(self, session: AsyncSession, item: Inbound, *, opted_out: bool, now: dt.datetime) -> None:
        """Opt out or back in, by number. Ordered by the provider's timestamp: a late STOP never undoes a
        newer MULAI (nor the reverse)."""
        at = item.at or now
        stmt = insert(OO).values(phone=item.phone, opted_out=opted_out, changed_at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[OO.c.phone],
            set_={"opted_out": opted_out, "changed_at": at},
            where=OO.c.changed_at <= at,
        )
        if await session.scalar(stmt.returning(OO.c.phone)) is None:
            return  # a newer word from this number is already in force
        await session.execute(update(C).where(C.c.phone == item.phone).values(opted_out=opted_out))
        await self._outcome(session, item, "OPTED_OUT" if opted_out else "RESUMED")
        if not opted_out:
            log.info("opted_in", phone=mask_phone(item.phone))
            return
        cancelled = await session.execute(
            update(M)
            .where(M.c.phone == item.phone, M.c.state == "QUEUED")
            .values(state="SKIPPED", last_error="opted out (BERHENTI/STOP)", updated_at=now)
            .returning(M.c.message_id)
        )
        count = len(cancelled.all())
        metrics.OPT_OUTS.inc()
        metrics.CANCELLED.inc(count)
        log.info("opted_out", phone=mask_phone(item.phone), cancelled=count)

    async def _answers(
        self, session: AsyncSession, item: Inbound, command: Command, now: dt.datetime
    ) -> list[dict[str, Any]]:
        answers_: list[tuple[str | None, str, str]] = []  # (nik, kind, text)
        if command.kind is Kind.START:
            answers_.append((None, "resumed", answers.RESUMED))
        elif command.kind is Kind.UNKNOWN:
            answers_.append((None, "help", answers.HELP))
        else:
            niks = await self._niks_on_file(session, item.phone)
            if not niks:
                answers_.append((None, "general", answers.GENERAL))
            elif command.kind is Kind.CHECK:
                known = await standings.load(session, niks)
                for nik in niks:
                    text = answers.status_answer(known.get(nik) or Standing(nik), now)
                    answers_.append((nik, "status", text))
            else:
                named = await self._named_by(session, niks, command.reference)
                events, text = appeal_events(item.inbound_id or "", item.phone, command.reference, named, now)
                await add_to_outbox(session, outbox, [outbox_row(self.prefix + self.topics[0].name, e) for e in events])
                answers_.append((niks[0] if len(niks) == 1 else None, "appeal", text))
        return [self._message(item, i, nik, kind, text, now) for i, (nik, kind, text) in enumerate(answers_)]

    async def _named_by(self, session: AsyncSession, niks: list[str], reference: str | None) -> list[str]:
        """The NIKs on file whose request the reference names; all of them when none does (eligibility then
        refuses the appeal as an unknown request, and the person is told)."""
        if reference is None or len(niks) == 1:
            return niks
        known = await standings.load(session, niks)
        return [n for n in niks if n in known and names_request(known[n], reference)] or niks

    async def _niks_on_file(self, session: AsyncSession, phone: str) -> list[str]:
        query = select(C.c.nik).where(C.c.phone == phone).order_by(C.c.nik).limit(MAX_PEOPLE)
        return list((await session.scalars(query)).all())

    def _message(
        self, item: Inbound, i: int, nik: str | None, kind: str, text: str, now: dt.datetime
    ) -> dict[str, Any]:
        return {
            "message_id": uuid.uuid5(NAMESPACE, f"{item.inbound_id}:{i}"),
            "nik": nik,
            "kind": REPLY + kind,
            "urgent": True,  # a person is waiting for it: quiet hours do not hold it
            "text": text,
            "phone": item.phone,
            "state": "QUEUED",
            "send_after": now,
            "updated_at": now,
            "channel": item.channel,
            "correlation_id": None,
            "attempts": 0,
        }
