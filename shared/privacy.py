"""Erasure of personal data (UU PDP 27/2022): the rule every service applies to events after an erasure,
and the per-schema table of erasure markers it is read from.

Kafka keeps records for their retention and consumers may lag, replay or read a dead-letter copy, so an
erasure is not undone by deleting rows once: each service that keeps contact data (name, phone numbers)
records a marker per NIK (`<schema>.erasures`) and strips the contact data from every later event of that
NIK before applying it. Decisions and status history are applied as before, only without contact data.

The one way back: the person gives a number again on a *new* request or appeal received after the erasure
(their own act, a new consent). Such a request or appeal, and eligibility's word on it, keeps its phone;
nothing else ever brings contact data back (a government list, a replayed request from before, a reminder)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.db import any_of
from shared.events import Event

E = TypeVar("E", bound=Event)

# Every field of an event that identifies or reaches a person beyond the NIK.
CONTACT_FIELDS = ("name", "phone", "unusable_phone")
# Events that carry what the person gave on their own request or appeal (received_at: when they gave it).
OWN_ACTS = frozenset({"reactivation.requested", "reactivation.decided", "appeal.requested", "appeal.updated"})


def contact_allowed(event: Event, erased_at: dt.datetime | None) -> bool:
    """Whether the contact data this event carries may be kept, given the NIK's erasure (None: never erased).
    Only the person's own new act (a request or an appeal, and eligibility's word on it) received after
    the erasure brings a number."""
    if erased_at is None:
        return True
    received = getattr(event, "received_at", None)
    return getattr(event, "type", "") in OWN_ACTS and received is not None and received > erased_at


def without_contact(event: E) -> E:
    """The event with its contact fields emptied (the same object when it carries none)."""
    present = {f: None for f in CONTACT_FIELDS if getattr(event, f, None) is not None}
    return event.model_copy(update=present) if present else event


def scrub(events: Sequence[E], erased: Mapping[str, dt.datetime]) -> list[E]:
    """The batch as it may be applied: contact data stripped where the NIK's erasure forbids it."""
    if not erased:
        return list(events)
    return [e if contact_allowed(e, erased.get(e.nik)) else without_contact(e) for e in events]


# --- the markers, one table per service schema ---------------------------------------------------


def erasures_table(metadata: MetaData, schema: str) -> Table:
    """`erased_at`: the latest erasure of the NIK (a second erasure moves it forward)."""
    return Table(
        "erasures",
        metadata,
        Column("nik", String(16), primary_key=True),
        Column("erased_at", DateTime(timezone=True), nullable=False),
        schema=schema,
    )


async def erased_among(
    session: AsyncSession | AsyncConnection, table: Table, niks: Iterable[str]
) -> dict[str, dt.datetime]:
    """NIK -> erased_at for the NIKs of a batch that were ever erased (one indexed look-up per batch).
    Callers read this after locking the batch's rows (and taking the erasure gate, `erasure_gate`), so an
    erasure committed meanwhile is seen."""
    wanted = set(niks)
    if not wanted:
        return {}
    rows = await session.execute(select(table.c.nik, table.c.erased_at).where(any_of(table.c.nik, wanted)))
    return {nik: at for nik, at in rows.all()}


async def mark_erased(
    session: AsyncSession | AsyncConnection, table: Table, niks: Iterable[str], at: dt.datetime
) -> None:
    """Record (or move forward) the erasure of these NIKs; erasing twice changes nothing more."""
    rows = [{"nik": nik, "erased_at": at} for nik in sorted(set(niks))]
    if not rows:
        return
    stmt = insert(table).values(rows)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["nik"], set_={"erased_at": func.greatest(table.c.erased_at, stmt.excluded.erased_at)}
        )
    )


# --- the gate: an erasure and a batch that can write a number take turns ----------------------------

_GATE_SHARED = text("select pg_advisory_xact_lock_shared(:key)")
_GATE_EXCLUSIVE = text("select pg_advisory_xact_lock(:key)")


@functools.cache
def erasure_gate_key(schema: str) -> int:
    """The schema's advisory lock key (advisory locks are per database, which services may share)."""
    return int.from_bytes(
        hashlib.blake2b(f"pbi.erasures.{schema}".encode(), digest_size=8).digest(), "big", signed=True
    )


async def erasure_gate(session: AsyncSession | AsyncConnection, schema: str, exclusive: bool) -> None:
    """Take the schema's erasure gate for the rest of the transaction: shared by every batch that can write
    a person's number, first thing (before its row locks and its read of the markers); exclusive by an
    erasure, before it reads or writes a person's data. Row locks alone miss a person with no row yet: the batch
    reads no marker, the erasure commits and blanks nothing, the batch inserts the number.

    Race-free because transaction-level advisory locks are held until commit or rollback and a shared one
    conflicts only with an exclusive one (PostgreSQL docs, "Advisory Locks", pg_advisory_xact_lock_shared):
    the erasure waits until every batch that may have read no marker has committed, and under READ
    COMMITTED its later statements see what they wrote; a batch that asks after the erasure waits for its
    commit, then reads the marker. Batches never wait for each other; a waiting erasure queues the batches
    that come after it (an erasure is rare: a batch's length, once). Gate first on both sides: no deadlock."""
    await session.execute(_GATE_EXCLUSIVE if exclusive else _GATE_SHARED, {"key": erasure_gate_key(schema)})
