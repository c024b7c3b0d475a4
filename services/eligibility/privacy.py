"""Erasure of personal data in eligibility (UU PDP 27/2022): the phone in a person's facts and in every
request and appeal kept as received, and the marker that keeps later events' numbers out (shared.privacy).
Decisions, reasons and timers stay. Applied exactly once like any event (processed ids, same transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import structlog
from sqlalchemy import MetaData, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.eligibility.store import SCHEMA, FactsRow, load_facts, new_event_ids
from shared.db import any_of, transaction
from shared.events import Event, PersonalDataErased, erasure_adapter
from shared.nik import mask_nik
from shared.privacy import CONTACT_FIELDS, erased_among, erasures_table, mark_erased, scrub
from shared.topics import PRIVACY_EVENTS

log = structlog.get_logger(__name__)
E = TypeVar("E", bound=Event)

ERASURES = erasures_table(MetaData(), SCHEMA)
# requests.event and appeals.event are what was received (JSON): their contact fields removed, the rest
# kept to decide on (an appeal's grounds are the basis of its decision and stay).
_FORGET_CONTACT = [
    text(
        f"update {SCHEMA}.{table} set event = (event::jsonb - cast(:fields as text[]))::json "
        "where nik = any(cast(:niks as text[])) and (event::jsonb) ?| cast(:fields as text[])"
    )
    for table in ("requests", "appeals")
]


async def scrub_erased(session: AsyncSession, events: Sequence[E]) -> list[E]:
    """The batch without the contact data its erased NIKs may not bring back. Called after load_facts has
    locked the people's facts (the lock an erasure takes too), so an erasure committed meanwhile is seen."""
    return scrub(events, await erased_among(session, ERASURES, {e.nik for e in events}))


async def erase(session: AsyncSession, erasures: Sequence[PersonalDataErased]) -> None:
    niks = {e.nik for e in erasures}
    await load_facts(session, niks)  # the facts lock every writer of a person takes, in NIK order
    for e in erasures:
        await mark_erased(session, ERASURES, [e.nik], e.occurred_at)
    facts = FactsRow.__table__
    await session.execute(update(facts).where(any_of(facts.c.nik, niks)).values(phone=None))
    for forget in _FORGET_CONTACT:
        await session.execute(forget, {"niks": sorted(niks), "fields": list(CONTACT_FIELDS)})


class PrivacyHandlers:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def on_erasures(self, events: list[PersonalDataErased]) -> None:
        async with transaction(self.sessions) as session:
            fresh = await new_event_ids(session, [e.event_id for e in events])
            todo = [e for e in events if e.event_id in fresh]
            if not todo:
                return
            await erase(session, todo)
        log.info("personal_data_erased", niks=[mask_nik(e.nik) for e in todo])


# What app.py subscribes with.
__all__ = ["ERASURES", "PRIVACY_EVENTS", "PrivacyHandlers", "erasure_adapter", "erase", "scrub_erased"]
