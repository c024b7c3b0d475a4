"""Erasure of personal data in the notifier (UU PDP 27/2022): the phone on file, the texts and numbers of
every message to the person, and the marker that keeps them out of whatever arrives later (shared.privacy).

What stays: the contact row without a number (a BERHENTI/STOP keeps holding for the NIK), and each
message's kind, state and times (the delivery history, as the registry's status history stays).
The announcement comes from the registry on the privacy topic; it is applied exactly once like any event
(shared.inbox: processed ids in the same transaction), and applying it again would change nothing anyway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import structlog
from faststream.kafka import KafkaBroker
from sqlalchemy import MetaData, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notifier.retention import RetentionSweep
from services.notifier.store import IN, INBOX, OO, SCHEMA, C, M
from shared.db import any_of, transaction
from shared.events import PersonalDataErased, erasure_adapter
from shared.inbox import claim_events
from shared.kafka import subscribe
from shared.nik import mask_nik
from shared.privacy import erasure_gate, erasures_table, mark_erased
from shared.settings import NotifierSettings
from shared.topics import PRIVACY_EVENTS

log = structlog.get_logger(__name__)
Clock = Callable[[], dt.datetime]

ERASURES = erasures_table(MetaData(), SCHEMA)
ERASED = "personal data erased"  # last_error of a message that was still waiting when its person was erased
NOT_SENT_YET = ("QUEUED", "SENDING", "WAITING")  # WAITING: for a number (handlers.py)


async def erase(session: AsyncSession, erasures: Sequence[PersonalDataErased]) -> int:
    """Remove these people's contact data and message texts; returns how many messages were emptied."""
    await erasure_gate(session, SCHEMA, exclusive=True)  # after every batch that read no marker (shared.privacy)
    niks = sorted({e.nik for e in erasures})
    phones = set(
        (
            await session.execute(select(C.c.phone).where(any_of(C.c.nik, niks)).order_by(C.c.nik).with_for_update())
        ).scalars()
    )
    phones |= set((await session.execute(select(M.c.phone).distinct().where(any_of(M.c.nik, niks)))).scalars())
    for e in erasures:
        await mark_erased(session, ERASURES, [e.nik], e.occurred_at)
    await session.execute(update(C).where(any_of(C.c.nik, niks)).values(phone=None, on_whatsapp=None))
    forget = await _numbers_nobody_else_has(session, phones - {None, ""}, niks)
    if forget:
        await _forget_numbers(session, niks, forget)
    ours = any_of(M.c.nik, niks)
    if forget:  # general answers to the number (no NIK) go with it
        ours = ours | (M.c.nik.is_(None) & any_of(M.c.phone, forget))
    waiting = M.c.state.in_(NOT_SENT_YET)
    emptied = await session.execute(
        update(M)
        .where(ours, (M.c.text != "") | (M.c.phone != ""))
        .values(
            text="",
            phone="",
            state=case((waiting, "SKIPPED"), else_=M.c.state),  # nobody to send it to any more
            last_error=case((waiting, ERASED), else_=M.c.last_error),
        )
        .returning(M.c.message_id)
    )
    return len(emptied.all())


async def _numbers_nobody_else_has(session: AsyncSession, phones: set[str], niks: list[str]) -> set[str]:
    """A family's phone on file for another person stays theirs (with its opt-out and inbound record)."""
    if not phones:
        return set()
    others = select(C.c.phone).where(any_of(C.c.phone, phones), ~any_of(C.c.nik, niks))
    return phones - set((await session.execute(others)).scalars())


async def _forget_numbers(session: AsyncSession, niks: list[str], phones: set[str]) -> None:
    """The number wherever it stands alone: its opt-out (kept as the person's, on their contact row, which
    has no number any more) and the inbound messages it sent (kept, without it: each is acted on once)."""
    opted_out = await session.scalar(select(func.bool_or(OO.c.opted_out)).where(any_of(OO.c.phone, phones)))
    if opted_out:
        await session.execute(update(C).where(any_of(C.c.nik, niks)).values(opted_out=True))
    await session.execute(delete(OO).where(any_of(OO.c.phone, phones)))
    await session.execute(update(IN).where(any_of(IN.c.phone, phones)).values(phone=""))


class PrivacyHandlers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def on_erasures(self, events: list[PersonalDataErased]) -> None:
        async with transaction(self.sessions) as session:
            todo = await claim_events(session, INBOX, events)
            if not todo:
                return
            emptied = await erase(session, todo)
        log.info("personal_data_erased", niks=[mask_nik(e.nik) for e in todo], messages_emptied=emptied)


def install(
    broker: KafkaBroker, sessions: async_sessionmaker[AsyncSession], settings: NotifierSettings, clock: Clock
) -> RetentionSweep:
    """Subscribes the erasure announcements (own consumer group) and returns the retention sweep to start."""
    subscribe(
        broker,
        PRIVACY_EVENTS,
        group=f"{settings.topic_prefix}notifier-{PRIVACY_EVENTS.name}",
        adapter=erasure_adapter,
        service="notifier",
        prefix=settings.topic_prefix,
        batch=True,
        max_records=100,
    )(PrivacyHandlers(sessions).on_erasures)
    return RetentionSweep(sessions, clock, settings.personal_data_retention_days, settings.retention_sweep_interval_s)
