"""Data-subject rights in the registry (UU PDP 27/2022, CONTRACT.md "Personal data").

- Erasure: the registry is where an erasure starts. In one transaction it records the marker, removes the
  contact data it keeps (the participant's phone; it never stores a name) and puts a
  `participant.personal_data_erased` event in its outbox for every other service (shared.privacy).
  Decisions and history stay, keyed by NIK.
- Access log: every read of a participant record (who: the API key id; when; which NIK; which view).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog
from sqlalchemy import BigInteger, Column, DateTime, Index, MetaData, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.registry.store import SCHEMA, P, outbox
from shared.events import PersonalDataErased
from shared.nik import mask_nik
from shared.outbox import add_to_outbox, outbox_row
from shared.privacy import erasure_gate, erasures_table, mark_erased
from shared.topics import PRIVACY_EVENTS, TopicSpec

log = structlog.get_logger(__name__)

metadata = MetaData()
ERASURES = erasures_table(metadata, SCHEMA)
READS = Table(
    "participant_reads",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("nik", String(16), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("read_at", DateTime(timezone=True), nullable=False),
    Column("view", String(16), nullable=False),  # full, masked (dashboard keys), not_found
    schema=SCHEMA,
)
Index("ix_registry_participant_reads_nik", READS.c.nik, READS.c.id)
TABLES = [ERASURES, READS]
TOPICS: tuple[TopicSpec, ...] = (PRIVACY_EVENTS,)  # what `erase` writes (outbox); app.py declares it (AsyncAPI)


async def erase(
    session: AsyncSession, nik: str, requested_by: str, now: dt.datetime, prefix: str
) -> PersonalDataErased:
    """Erase one person's contact data here and announce it to the other services (idempotent: erasing
    again finds nothing to remove and announces again, which the others apply as a no-op).

    The participant row is locked first, as every batch that applies events to it does: a batch that
    locked it before sees nothing of this erasure and is overwritten by it; one that locks it after
    reads the marker (it reads markers after its locks) and keeps the phone out. A person with no row yet
    has nothing to lock: the erasure gate (shared.privacy) makes a batch that read no marker commit first."""
    await erasure_gate(session, SCHEMA, exclusive=True)
    await session.execute(select(P.c.nik).where(P.c.nik == nik).with_for_update())
    await mark_erased(session, ERASURES, [nik], now)
    await session.execute(update(P).where(P.c.nik == nik, P.c.phone.is_not(None)).values(phone=None))
    event = PersonalDataErased(
        event_id=uuid.uuid4(), occurred_at=now, source="registry", nik=nik, requested_by=requested_by
    )
    await add_to_outbox(session, outbox, [outbox_row(prefix + TOPICS[0].name, event)])
    log.info("personal_data_erased", nik=mask_nik(nik), requested_by=requested_by, event_id=str(event.event_id))
    return event


async def reads_of(conn: AsyncConnection, nik: str, limit: int, before: int | None = None) -> list[dict[str, Any]]:
    """The reads of one NIK's record, newest first (cursor: the id of the last one shown)."""
    query = select(READS).where(READS.c.nik == nik)
    if before is not None:
        query = query.where(READS.c.id < before)
    rows = (await conn.execute(query.order_by(READS.c.id.desc()).limit(limit))).mappings().all()
    return [dict(r) for r in rows]
