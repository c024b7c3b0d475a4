"""The eligibility schema: facts per NIK, requests with their current outcome, processed event ids,
durable timers, and the outbox. Queries are set-based so a batch costs a few round trips."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    UniqueConstraint,
    Uuid,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from services.eligibility.domain.rules import Facts
from shared.db import any_of, bulk_insert, upsert_clause
from shared.outbox import outbox_table

SCHEMA = "eligibility"
MIGRATIONS = Path(__file__).parent / "migrations"


def _tz(**kw: Any) -> Any:
    return Field(sa_column=Column(DateTime(timezone=True), **kw))


class FactsRow(SQLModel, table=True):
    __tablename__ = "facts"
    # The reminder sweep reads the rows whose reminder is due; most rows have none (NULL).
    __table_args__ = (
        Index(
            "ix_eligibility_facts_next_reminder",
            "next_reminder_at",
            postgresql_where=text("next_reminder_at IS NOT NULL"),
        ),
        {"schema": SCHEMA},
    )
    nik: str = Field(primary_key=True, max_length=16)
    deactivated_on: dt.date | None = None
    desil: int | None = None
    desil_effective_on: dt.date | None = None
    biometric_recorded: bool = False
    deceased: bool = False
    nik_conflict_open: bool = False
    id_semesta: str | None = None
    reactivated: bool = False
    reactivated_at: dt.datetime | None = _tz(nullable=True)
    next_reminder_at: dt.datetime | None = _tz(nullable=True)
    phone: str | None = None


class RequestRow(SQLModel, table=True):
    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_eligibility_requests_nik", "nik"),
        # The expiry sweep: pending requests by the close of their window (no timer row per request).
        Index(
            "ix_eligibility_requests_pending_close",
            "window_closes_at",
            postgresql_where=text("outcome = 'PENDING'"),
        ),
        {"schema": SCHEMA},
    )
    request_id: uuid.UUID = Field(primary_key=True)
    nik: str = Field(max_length=16)
    path: str
    outcome: str
    reasons: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    received_at: dt.datetime = _tz(nullable=False)
    decided_at: dt.datetime = _tz(nullable=False)
    window_closes_at: dt.datetime | None = _tz(nullable=True)  # of the latest decision
    event: dict = Field(sa_column=Column(JSON, nullable=False))  # the request as received


class AppealRow(SQLModel, table=True):
    """One appeal per decision: a request is rejected at most once, so request_id is unique."""

    __tablename__ = "appeals"
    __table_args__ = (
        # New facts re-evaluate the open appeals of their people (most people have none).
        Index("ix_eligibility_appeals_open_nik", "nik", postgresql_where=text("status = 'OPEN'")),
        {"schema": SCHEMA},
    )
    appeal_id: uuid.UUID = Field(primary_key=True)
    request_id: uuid.UUID = Field(unique=True)
    nik: str = Field(max_length=16)
    status: str  # OPEN, UPHELD, DISMISSED
    reasons: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    received_at: dt.datetime = _tz(nullable=False)
    due_at: dt.datetime = _tz(nullable=False)
    decided_at: dt.datetime | None = _tz(nullable=True)
    event: dict = Field(sa_column=Column(JSON, nullable=False))  # the appeal as received


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"
    __table_args__ = {"schema": SCHEMA}
    event_id: uuid.UUID = Field(primary_key=True)


class Timer(SQLModel, table=True):
    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("kind", "subject", "due_at"),
        Index("ix_eligibility_timers_due", "due_at"),
        {"schema": SCHEMA},
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # SLA_WARNING, SLA_BREACH, RECHECK (expiry: requests.window_closes_at; reminders: facts)
    subject: str  # the request id
    nik: str = Field(max_length=16)
    due_at: dt.datetime = _tz(nullable=False)
    fired_at: dt.datetime | None = _tz(nullable=True)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


outbox = outbox_table(MetaData(), SCHEMA)
# The emergency lane asks whether a person still has events waiting to be relayed (waiting_in_outbox)
# in every transaction: without an index that scans the outbox, which grows while Kafka is away.
Index("ix_eligibility_outbox_key", outbox.c.key)
TABLES = [
    FactsRow.__table__,
    RequestRow.__table__,
    ProcessedEvent.__table__,
    Timer.__table__,
    outbox,
    AppealRow.__table__,
]
FACT_FIELDS = [f.name for f in fields(Facts)]
_UPSERT_FACTS = upsert_clause("nik", [*FACT_FIELDS, "phone"])
_EMPTY_FACTS = {**{k: getattr(Facts(""), k) for k in FACT_FIELDS}, "phone": None}
CLAIM = text(
    f"insert into {SCHEMA}.processed_events (event_id) select unnest(cast(:ids as uuid[])) "
    "on conflict do nothing returning event_id"
).bindparams(bindparam("ids", type_=ARRAY(Uuid)))


async def new_event_ids(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Claims the ids not seen before (inserted in this transaction) and returns them."""
    if not ids:
        return set()
    # One statement whatever the batch size (a VALUES list would be compiled anew per size).
    result = await session.execute(CLAIM, {"ids": ids})
    return {row[0] for row in result}


async def load_facts(session: AsyncSession, niks: set[str]) -> dict[str, tuple[Facts, str | None]]:
    """The facts of these people, row-locked until the transaction ends.

    Facts, requests and timers are handled by different consumers at once; the lock makes their
    transactions on one person take turns, so none overwrites another's facts with a stale copy and
    a request decided on old facts is always seen by the re-evaluation of the newer ones. Locking
    in NIK order keeps deadlocks rare (and they are retried as transient)."""
    t = FactsRow.__table__

    async def lock(these: set[str]) -> dict[str, tuple[Facts, str | None]]:
        rows = await session.execute(select(t).where(any_of(t.c.nik, these)).order_by(t.c.nik).with_for_update())
        return {r["nik"]: (Facts(**{k: r[k] for k in FACT_FIELDS}), r["phone"]) for r in rows.mappings()}

    known = await lock(niks)
    if len(known) < len(niks):
        # FOR UPDATE cannot lock a row that does not exist: without one, a request and a new person's
        # first fact, decided at the same moment, each missed the other (the request stayed PENDING
        # until its grace recheck). An empty row first; the insert waits for another transaction's
        # uncommitted row of the same person, so they take turns. (Only for people not seen yet: for
        # everyone, it cost a third of the bulk decision rate.)
        new = sorted(niks - known.keys())
        await bulk_insert(session, t, [{**_EMPTY_FACTS, "nik": nik} for nik in new], "on conflict (nik) do nothing")
        known.update(await lock(set(new)))
    return known


async def save_facts(session: AsyncSession, facts: dict[str, tuple[Facts, str | None]]) -> None:
    # Every field is a scalar: read them directly (dataclasses.asdict deep-copies; it was 40% of a wave batch).
    rows = [{**{k: getattr(f, k) for k in FACT_FIELDS}, "phone": phone} for f, phone in facts.values()]
    if rows:
        await bulk_insert(session, FactsRow.__table__, rows, _UPSERT_FACTS)


async def mark_reactivated(session: AsyncSession, niks: set[str], at: dt.datetime) -> None:
    """Approved at `at`: no more reminders in this cycle."""
    if niks:
        t = FactsRow.__table__
        await session.execute(
            update(t).where(any_of(t.c.nik, niks)).values(reactivated=True, reactivated_at=at, next_reminder_at=None)
        )


async def due_reminders(session: AsyncSession, now: dt.datetime, limit: int) -> dict[str, tuple[Facts, str | None]]:
    """People whose next reminder is due, row-locked; rows another transaction holds are skipped (the
    next sweep takes them), so the sweep never waits for a handler nor a second replica."""
    t = FactsRow.__table__
    rows = await session.execute(
        select(t)
        .where(t.c.next_reminder_at <= now)
        .order_by(t.c.next_reminder_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return {r["nik"]: (Facts(**{k: r[k] for k in FACT_FIELDS}), r["phone"]) for r in rows.mappings()}


async def last_request_at(session: AsyncSession, niks: set[str]) -> dict[str, dt.datetime]:
    """When each of these people last asked (a request received, whatever became of it)."""
    t = RequestRow.__table__
    rows = await session.execute(
        select(t.c.nik, func.max(t.c.received_at)).where(any_of(t.c.nik, niks)).group_by(t.c.nik)
    )
    return {nik: at for nik, at in rows.all()}


async def pending_past_close(session: AsyncSession, now: dt.datetime, limit: int) -> set[str]:
    """The people with a PENDING request whose window has closed (read without locks: the caller
    locks their facts, then reads the requests again, as every writer of requests does)."""
    t = RequestRow.__table__
    rows = await session.execute(
        select(t.c.nik)
        .where(t.c.outcome == "PENDING", t.c.window_closes_at <= now)
        .order_by(t.c.window_closes_at)
        .limit(limit)
    )
    return set(rows.scalars())


async def set_next_reminders(session: AsyncSession, next_at: dict[str, dt.datetime | None]) -> None:
    t = FactsRow.__table__
    for when in set(next_at.values()):  # a handful of distinct moments per sweep (one per window and zone)
        niks = {nik for nik, at in next_at.items() if at == when}
        await session.execute(update(t).where(any_of(t.c.nik, niks)).values(next_reminder_at=when))


async def waiting_in_outbox(session: AsyncSession, keys: set[bytes]) -> bool:
    """Whether events keyed by any of these NIKs are still waiting to be relayed."""
    found = await session.execute(select(outbox.c.id).where(any_of(outbox.c.key, keys)).limit(1))
    return found.first() is not None


async def schedule(session: AsyncSession, timers: list[dict[str, Any]]) -> None:
    """Timers already set (same kind, subject and due time) stay as they are."""
    await bulk_insert(session, Timer.__table__, timers, "on conflict do nothing")
