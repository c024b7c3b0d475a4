"""Erasure of personal data in eligibility (UU PDP 27/2022): the phone in a person's facts and in every
request and appeal kept as received, and the marker that keeps later events' numbers out (shared.privacy;
the handlers scrub every batch after locking its people). Decisions, reasons and timers stay. Applied
exactly once like any event (the inbox, same unit of work)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility.store import ERASURES, PgUnitOfWork, UnitOfWork
from shared.events import PersonalDataErased, erasure_adapter
from shared.nik import mask_nik
from shared.topics import PRIVACY_EVENTS

log = structlog.get_logger(__name__)


class PrivacyHandlers:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession] | None, *, uow: Callable[[], UnitOfWork] | None = None
    ) -> None:
        self.uow: Callable[[], UnitOfWork] = uow or (lambda: PgUnitOfWork(sessions))  # type: ignore[arg-type]

    async def on_erasures(self, events: list[PersonalDataErased]) -> None:
        async with self.uow() as uow:
            todo = await uow.claim(events)
            if not todo:
                return
            latest: dict[str, dt.datetime] = {}
            for e in todo:  # a second erasure of a NIK moves its marker forward
                latest[e.nik] = max(e.occurred_at, latest.get(e.nik, e.occurred_at))
            # The lock every writer of a person takes, in NIK order. It creates the row of a person not seen
            # yet, which a batch's insert of that new person meets (decided again, it reads the marker):
            # eligibility needs no erasure gate (shared.privacy.erasure_gate).
            await uow.lock_people(set(latest))
            await uow.erase(latest)
        log.info("personal_data_erased", niks=[mask_nik(e.nik) for e in todo])


# What app.py subscribes with.
__all__ = ["ERASURES", "PRIVACY_EVENTS", "PrivacyHandlers", "erasure_adapter"]
