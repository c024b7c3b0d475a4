"""The eligibility schema (facts per NIK, requests with their current decision, appeals, processed event
ids, durable timers, erasure markers, the outbox) and its unit of work: one repository per table, each
query set-based so a batch costs a handful of round trips whatever its size.

`UnitOfWork` is what the handlers see; `PgUnitOfWork` is the PostgreSQL one (one transaction, committed
when the `async with` block ends without error), store_memory.MemoryUnitOfWork the in-memory one the
handler tests also run against. `apply_changes` writes a batch's `Changes` (domain.records) through
either."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    TextClause,
    UniqueConstraint,
    Uuid,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from services.eligibility.domain.outgoing import Encoded
from services.eligibility.domain.records import AppealRecord, Changes, People, RequestRecord, TimerRecord
from services.eligibility.domain.rules import Facts
from shared.db import any_of, bulk_insert
from shared.errors import TransientError
from shared.events import AppealRequested, Event, ReactivationRequested
from shared.inbox import claim_events
from shared.messaging import event_headers
from shared.outbox import add_to_outbox, outbox_bundle, outbox_table
from shared.privacy import CONTACT_FIELDS, erasures_table, mark_erased
from shared.topics import TopicSpec
from shared.uow import SessionUnit

E = TypeVar("E", bound=Event)
_SEP = "\x1f"  # joins a text[] cell into one string (as shared.db.bulk_insert does)

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
    """A timer not fired yet: firing deletes it, in the transaction of what it publishes (migration 0009)."""

    __tablename__ = "timers"
    __table_args__ = (
        # Subject first: a final decision deletes its request's timers by subject (stop_timers).
        UniqueConstraint("subject", "kind", "due_at", name="uq_eligibility_timers_subject"),
        Index("ix_eligibility_timers_due", "due_at"),
        {"schema": SCHEMA},
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # SLA_WARNING, SLA_BREACH, RECHECK (expiry: requests.window_closes_at; reminders: facts)
    subject: str  # the request id
    nik: str = Field(max_length=16)
    due_at: dt.datetime = _tz(nullable=False)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


# A batch's events of one topic are one outbox row (shared.outbox.outbox_bundle; migration 0008), with the
# NIKs of its records (`niks`): the emergency path asks whether a person still has events waiting to be
# relayed (waiting_in_outbox) in every transaction.
outbox = outbox_table(MetaData(), SCHEMA, bundles=True)
outbox.append_column(Column("niks", ARRAY(String), nullable=True))
TABLES = [
    FactsRow.__table__,
    RequestRow.__table__,
    ProcessedEvent.__table__,
    Timer.__table__,
    outbox,
    AppealRow.__table__,
]
ERASURES = erasures_table(MetaData(), SCHEMA)
FACT_FIELDS = [f.name for f in fields(Facts)]
_EMPTY_FACTS = {**{k: getattr(Facts(""), k) for k in FACT_FIELDS}, "phone": None}
_UPSERT_APPEALS = (
    "on conflict (appeal_id) do update set status = excluded.status, reasons = excluded.reasons, "
    "decided_at = excluded.decided_at"
)
F: Table = FactsRow.__table__  # type: ignore[attr-defined]
R: Table = RequestRow.__table__  # type: ignore[attr-defined]
A: Table = AppealRow.__table__  # type: ignore[attr-defined]
T: Table = Timer.__table__  # type: ignore[attr-defined]
PROCESSED: Table = ProcessedEvent.__table__  # type: ignore[attr-defined]
# A batch's new decisions of requests on record, in one statement (reasons joined: unnest flattens 2-D arrays).
_DECIDE = text(
    f"update {SCHEMA}.requests r set outcome = u.outcome, reasons = string_to_array(u.reasons, chr(31)), "
    "decided_at = u.decided_at, window_closes_at = u.closes_at "
    "from unnest(cast(:ids as uuid[]), cast(:outcomes as text[]), cast(:reasons as text[]), "
    "cast(:decided as timestamptz[]), cast(:closes as timestamptz[])) as u(request_id, outcome, reasons, decided_at, "
    "closes_at) where r.request_id = u.request_id"
)
# The statements every emergency's transaction runs, written once: building a select with any_of and its
# cache key on each call was a good part of an urgent transaction's CPU (one emergency at a time).
# A person's columns in Facts' order, then the number: each row read becomes Facts.of_row(row[:-1]) (no mapping).
_PERSON_COLUMNS = (*FACT_FIELDS, "phone")  # the NIK first
_BLANK_FACTS = Facts("")
_PERSON = ", ".join(_PERSON_COLUMNS)
# NIKs travel packed (`_packed`: one string, split back by string_to_array).
_LOCK = text(
    f"select {_PERSON} from {SCHEMA}.facts where nik = any(string_to_array(:niks, chr(31))) order by nik for update"
)
_ON_RECORD = text(f"select request_id from {SCHEMA}.requests where request_id = any(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(Uuid))
)
# Whether an event of these people waits in the outbox: rows are bundles, a handful while the relay keeps up,
# so the waiting ones are read without an index, at most MOST_WAITING of them; more than that (Kafka away
# a while) counts as waiting: the emergency then goes out in order, by the relay. (`key`: a row of one
# event, from before migration 0008.)
MOST_WAITING = 500
_WAITING = text(
    "select coalesce(bool_or(key = any(:keys) or niks && :niks), false) or count(*) > :most "
    f"from (select key, niks from {SCHEMA}.outbox limit :most + 1) as w"
).bindparams(bindparam("keys", type_=ARRAY(LargeBinary)), bindparam("niks", type_=ARRAY(String)))
# A batch's new requests (shared.db.bulk_insert's shape, written out): the decision's moment, the same for a
# whole batch of first decisions, travels once (`at`; a row's own only where it differs).
_ADD_REQUESTS = text(
    f"insert into {SCHEMA}.requests (request_id, nik, path, outcome, reasons, received_at, decided_at, "
    "window_closes_at, event) select u.request_id, u.nik, u.path, u.outcome, string_to_array(u.reasons, chr(31)), "
    "u.received_at, coalesce(u.decided_at, cast(:at as timestamptz)), u.closes_at, cast(u.event as json) "
    "from unnest(cast(:ids as uuid[]), string_to_array(:niks, chr(31)), string_to_array(:paths, chr(31)), "
    "string_to_array(:outcomes, chr(31)), cast(:reasons as text[]), cast(:received as timestamptz[]), "
    "cast(:decided as timestamptz[]), cast(:closes as timestamptz[]), string_to_array(:events, chr(31))) "
    "as u(request_id, nik, path, outcome, reasons, received_at, decided_at, closes_at, event) "
    "on conflict (request_id) do nothing"
)
_ERASED = text(f"select nik, erased_at from {SCHEMA}.erasures where nik = any(string_to_array(:niks, chr(31)))")
# The requests and open appeals of a batch's people, whose facts changed (every batch of facts asks, and
# mostly finds none), written once: a select built per batch with any_of cost as much as running it. Typed as
# the tables' columns, so rows read as select(R)'s and select(A)'s.
_OF_NIKS = "nik = any(string_to_array(:niks, chr(31)))"
_REQUESTS_OF = text(f"select {', '.join(R.c.keys())} from {SCHEMA}.requests where {_OF_NIKS}").columns(*R.c)
_PENDING_OF = text(
    f"select {', '.join(R.c.keys())} from {SCHEMA}.requests where {_OF_NIKS} and outcome = 'PENDING'"
).columns(*R.c)
_OPEN_APPEALS_OF = text(
    f"select {', '.join(A.c.keys())} from {SCHEMA}.appeals where {_OF_NIKS} and status = 'OPEN'"
).columns(*A.c)
_STOP_TIMERS = text(f"delete from {SCHEMA}.timers where subject = any(:subjects)").bindparams(
    bindparam("subjects", type_=ARRAY(String))
)
# requests.event and appeals.event are what was received (JSON): an erasure removes their contact fields.
_FORGET_CONTACT = [
    text(
        f"update {SCHEMA}.{table} set event = (event::jsonb - cast(:fields as text[]))::json "
        "where nik = any(cast(:niks as text[])) and (event::jsonb) ?| cast(:fields as text[])"
    )
    for table in ("requests", "appeals")
]


class NewPersonRace(TransientError):
    """A person this batch took for new was created meanwhile by another transaction (their first request
    or fact at the same moment): the batch is decided again on what that one committed."""


# --- what the handlers see ---------------------------------------------------------------------------


class UnitOfWork(Protocol):
    """One transaction over the eligibility schema; `async with uow:` commits when the block succeeds."""

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, *exc: object) -> None: ...

    # The inbox: the events of a batch not applied before (claimed until the transaction ends).
    async def claim(self, events: Sequence[E]) -> list[E]: ...

    # People (facts), row-locked in NIK order: every writer of a person takes turns with the others.
    # `create`: an empty row first for people not seen yet (FOR UPDATE cannot lock a missing row).
    async def lock_people(self, niks: set[str], create: bool = True) -> People: ...
    async def due_reminders(self, now: dt.datetime, limit: int) -> People: ...  # skips locked rows
    async def save_people(self, people: People) -> None: ...  # raises NewPersonRace
    async def set_next_reminders(self, next_at: dict[str, dt.datetime | None]) -> None: ...

    async def requests(self, ids: Iterable[uuid.UUID]) -> list[RequestRecord]: ...
    async def on_record(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]: ...  # which of these requests exist
    async def requests_of(self, niks: set[str], pending_only: bool = False) -> list[RequestRecord]: ...
    async def pending_past_close(self, now: dt.datetime, limit: int) -> set[str]: ...
    async def last_request_at(self, niks: set[str]) -> dict[str, dt.datetime]: ...
    # Requests of other NIKs with this number on file whose ids fall in a WhatsApp reference's range.
    async def siblings(self, phone: str, ids: tuple[uuid.UUID, uuid.UUID], nik: str) -> list[RequestRecord]: ...
    async def add_requests(self, records: Iterable[RequestRecord]) -> None: ...
    async def update_decisions(self, records: Iterable[RequestRecord]) -> None: ...

    async def appeals(self, ids: Iterable[uuid.UUID]) -> list[AppealRecord]: ...
    async def appeals_of_requests(self, request_ids: Iterable[uuid.UUID]) -> list[AppealRecord]: ...
    async def open_appeals_of(self, niks: set[str]) -> list[AppealRecord]: ...
    async def save_appeals(self, records: Iterable[AppealRecord]) -> None: ...

    async def schedule(self, timers: list[dict[str, Any]]) -> None: ...  # a timer already set stays
    async def stop_timers(self, subjects: set[str]) -> None: ...  # their timers go
    async def due_timers(self, now: dt.datetime, limit: int) -> list[TimerRecord]: ...  # skips locked rows
    async def timers_fired(self, ids: list[int]) -> None: ...  # fired: their rows go
    async def timers_pending(self) -> int: ...

    async def add_to_outbox(self, rows: list[dict[str, Any]]) -> None: ...
    async def waiting_in_outbox(self, niks: set[str]) -> bool: ...  # events of these people not yet relayed

    async def erased_among(self, niks: set[str]) -> dict[str, dt.datetime]: ...
    async def erase(self, niks_at: dict[str, dt.datetime]) -> None: ...


async def apply_changes(uow: UnitOfWork, changes: Changes, prefix: str) -> list[dict[str, Any]]:
    """Write a batch's changes, a statement per kind at most; returns the outbox rows it added."""
    await uow.save_people(changes.people)
    await uow.add_requests(changes.new_requests.values())
    await uow.update_decisions(changes.decided.values())
    await uow.save_appeals([*changes.new_appeals.values(), *changes.appeals.values()])
    await uow.stop_timers(changes.stopped)
    await uow.schedule(changes.timers)
    await uow.set_next_reminders(changes.next_reminders)
    rows = outbox_rows(prefix, changes.events)
    await uow.add_to_outbox(rows)
    return rows


def outbox_rows(
    prefix: str, events: Iterable[tuple[TopicSpec, Event | Encoded, uuid.UUID | None]]
) -> list[dict[str, Any]]:
    """A batch's outgoing events as one outbox row per topic (shared.outbox.outbox_bundle), in their order,
    each record as shared.outbox.outbox_row would make it (key the NIK, the event's JSON, the headers of
    shared.messaging with the cause's correlation id); `niks`: the people the row holds events of."""
    by_topic: dict[str, list[tuple[Event | Encoded, uuid.UUID | None]]] = {}
    for spec, event, cause in events:
        by_topic.setdefault(prefix + spec.name, []).append((event, cause))
    rows, ids = [], set()
    for topic, items in by_topic.items():
        records = [(e.nik.encode(), _json(e), event_headers(_type(e), cause=cause)) for e, cause in items]
        # The bundle's id is its first event's, unless an earlier row of the batch has it (an emergency's
        # decision and its copy on pbi.emergency-decisions.v1): the outbox's event_id is unique.
        bundle_id = items[0][0].event_id
        if bundle_id in ids:
            bundle_id = uuid.uuid5(bundle_id, topic)
        ids.add(bundle_id)
        row = outbox_bundle(topic, records, event_id=bundle_id)
        row["niks"] = list(dict.fromkeys(e.nik for e, _ in items))
        rows.append(row)
    return rows


def _json(event: Event | Encoded) -> bytes:
    return event.json if isinstance(event, Encoded) else event.model_dump_json().encode()


def _type(event: Event | Encoded) -> str:
    return event.type if isinstance(event, Encoded) else getattr(event, "type", "")


# --- PostgreSQL ----------------------------------------------------------------------------------------


class PgUnitOfWork(SessionUnit):
    def _opened(self) -> None:
        # The people's rows as this transaction read (locked) or wrote them: save_people writes only what
        # differs from them.
        self._read: People = {}

    async def _run(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        return await self.session.execute(stmt, params)

    async def claim(self, events: Sequence[E]) -> list[E]:
        return await claim_events(self.session, PROCESSED, events)

    async def lock_people(self, niks: set[str], create: bool = True) -> People:
        """Facts, requests and timers are handled by different consumers at once; the lock makes their
        transactions on one person take turns, so none overwrites another's facts with a stale copy and a
        request decided on old facts is always seen by the re-evaluation of the newer ones. In NIK order,
        so deadlocks are rare (and retried as transient)."""

        async def lock(these: set[str]) -> People:
            return _people(await self._run(_LOCK, {"niks": _packed(these)}))

        known = await lock(niks)
        if create and len(known) < len(niks):
            # Without a row, a request and a new person's first fact decided at the same moment each
            # missed the other. The insert waits for another transaction's uncommitted row of the person.
            new = sorted(niks - known.keys())
            await self._run(_insert_facts(()), {"niks": _packed(new)})  # blank people: the NIK is all it sends
            known.update(await lock(set(new)))
        self._read.update(known)
        return known

    async def due_reminders(self, now: dt.datetime, limit: int) -> People:
        stmt = select(*(F.c[k] for k in [*FACT_FIELDS, "phone"])).where(F.c.next_reminder_at <= now)
        stmt = stmt.order_by(F.c.next_reminder_at).limit(limit)
        due = _people(await self._run(stmt.with_for_update(skip_locked=True)))
        self._read.update(due)
        return due

    async def save_people(self, people: People) -> None:
        """People read (locked) by this transaction: one UPDATE of the columns that differ from the rows read,
        whatever differs in a row (an approval sends the three of a reactivation, a re-ranking its two, not
        the twelve of an upsert: asyncpg encodes every value, a date or time stamp at 0.6-1 us). People not
        on record: one insert (no empty row first: a new person costs one row write)."""
        read = self._read
        known = {nik: p for nik, p in people.items() if nik in read}
        if known:
            await self._update_people(known)
        if len(known) < len(people):
            await self._insert_people({nik: p for nik, p in people.items() if nik not in read})
        read.update(people)

    async def _insert_people(self, people: People) -> None:
        """In NIK order (as locks are taken), sending only the columns where some row is not a blank
        person's (a wave's new deactivation: its date, first reminder and number); the others are the
        blank's values, written in the statement."""
        niks = sorted(people)
        blank, sent = _BLANK_FACTS.__dict__, {"nik"}
        for facts, phone in people.values():
            sent.update(k for k, v in facts.__dict__.items() if blank[k] != v)
            if phone is not None:
                sent.add("phone")
        columns = tuple(c for c in _PERSON_COLUMNS if c in sent and c != "nik")
        params: dict[str, Any] = {"niks": _packed(niks)}
        for i, name in enumerate(columns):
            if name == "phone":
                params[f"p{i}"] = [people[nik][1] for nik in niks]
            else:
                params[f"p{i}"] = [people[nik][0].__dict__[name] for nik in niks]
        inserted = await self._run(_insert_facts(columns), params)
        if len(inserted.all()) < len(niks):
            raise NewPersonRace("a person of this batch was created meanwhile")

    async def _update_people(self, people: People) -> None:
        read, changed, differ = self._read, set(), {}
        for nik, person in people.items():
            facts, phone = person
            was, was_phone = read[nik]
            before = was.__dict__  # a frozen dataclass's fields (domain.rules.Facts), compared as values
            these = [k for k, v in facts.__dict__.items() if before[k] != v]
            if phone != was_phone:
                these.append("phone")
            if these:  # a row as read is not written
                changed.update(these)
                differ[nik] = person
        if not differ:
            return
        people = differ
        columns = tuple(c for c in _PERSON_COLUMNS if c in changed)  # in a fixed order: a handful of statements
        params: dict[str, Any] = {"niks": _packed(people)}
        for i, name in enumerate(columns):
            if name == "phone":
                params[f"p{i}"] = [phone for _, phone in people.values()]
            else:
                params[f"p{i}"] = [facts.__dict__[name] for facts, _ in people.values()]
        await self._run(_update_facts(columns), params)

    async def set_next_reminders(self, next_at: dict[str, dt.datetime | None]) -> None:
        for when in set(next_at.values()):  # a handful of distinct moments per sweep (one per window and zone)
            niks = {nik for nik, at in next_at.items() if at == when}
            await self._run(update(F).where(any_of(F.c.nik, niks)).values(next_reminder_at=when))
        for nik, when in next_at.items():  # as the rows now are
            if nik in self._read:
                facts, phone = self._read[nik]
                self._read[nik] = (facts.but(next_reminder_at=when), phone)

    async def requests(self, ids: Iterable[uuid.UUID]) -> list[RequestRecord]:
        wanted = list(ids)
        return _requests(await self._run(select(R).where(any_of(R.c.request_id, wanted)))) if wanted else []

    async def on_record(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        return set((await self._run(_ON_RECORD, {"ids": list(ids)})).scalars())

    async def requests_of(self, niks: set[str], pending_only: bool = False) -> list[RequestRecord]:
        if not niks:
            return []
        return _requests(await self._run(_PENDING_OF if pending_only else _REQUESTS_OF, {"niks": _packed(niks)}))

    async def pending_past_close(self, now: dt.datetime, limit: int) -> set[str]:
        """Read without locks: the caller locks their facts, then reads the requests again."""
        stmt = select(R.c.nik).where(R.c.outcome == "PENDING", R.c.window_closes_at <= now)
        return set((await self._run(stmt.order_by(R.c.window_closes_at).limit(limit))).scalars())

    async def last_request_at(self, niks: set[str]) -> dict[str, dt.datetime]:
        stmt = select(R.c.nik, func.max(R.c.received_at)).where(any_of(R.c.nik, niks)).group_by(R.c.nik)
        return {nik: at for nik, at in (await self._run(stmt)).all()}

    async def siblings(self, phone: str, ids: tuple[uuid.UUID, uuid.UUID], nik: str) -> list[RequestRecord]:
        stmt = select(R).join(F, F.c.nik == R.c.nik)
        return _requests(await self._run(stmt.where(R.c.request_id.between(*ids), F.c.phone == phone, R.c.nik != nik)))

    async def add_requests(self, records: Iterable[RequestRecord]) -> None:
        # The request id is the natural key: a request already on record is never decided twice.
        rs = list(records)
        if not rs:
            return
        at = rs[0].decided_at  # a batch's first decisions share their moment: sent once (NULL: this one)
        await self._run(
            _ADD_REQUESTS,
            {
                "ids": [r.event.request_id for r in rs],
                "niks": _packed(r.event.nik for r in rs),
                "paths": _packed(r.event.path for r in rs),
                "outcomes": _packed(r.outcome for r in rs),
                "reasons": [_SEP.join(r.reasons) for r in rs],
                "received": [r.event.received_at for r in rs],
                "decided": [None if r.decided_at == at else r.decided_at for r in rs],
                "at": at,
                "closes": [r.window_closes_at for r in rs],
                "events": _events_json(rs),
            },
        )

    async def update_decisions(self, records: Iterable[RequestRecord]) -> None:
        rs = list(records)
        if rs:
            await self._run(
                _DECIDE,
                {
                    "ids": [r.request_id for r in rs],
                    "outcomes": [r.outcome for r in rs],
                    "reasons": [_SEP.join(r.reasons) for r in rs],
                    "decided": [r.decided_at for r in rs],
                    "closes": [r.window_closes_at for r in rs],
                },
            )

    async def appeals(self, ids: Iterable[uuid.UUID]) -> list[AppealRecord]:
        return _appeals(await self._run(select(A).where(any_of(A.c.appeal_id, list(ids)))))

    async def appeals_of_requests(self, request_ids: Iterable[uuid.UUID]) -> list[AppealRecord]:
        return _appeals(await self._run(select(A).where(any_of(A.c.request_id, list(request_ids)))))

    async def open_appeals_of(self, niks: set[str]) -> list[AppealRecord]:
        if not niks:
            return []
        return _appeals(await self._run(_OPEN_APPEALS_OF, {"niks": _packed(niks)}))

    async def save_appeals(self, records: Iterable[AppealRecord]) -> None:
        await bulk_insert(self.session, A, [_appeal_row(a) for a in records], _UPSERT_APPEALS)

    async def schedule(self, timers: list[dict[str, Any]]) -> None:
        await bulk_insert(self.session, T, timers, "on conflict do nothing")

    async def stop_timers(self, subjects: set[str]) -> None:
        if subjects:
            await self._run(_STOP_TIMERS, {"subjects": list(subjects)})

    async def due_timers(self, now: dt.datetime, limit: int) -> list[TimerRecord]:
        stmt = select(T.c.id, T.c.kind, T.c.subject, T.c.nik, T.c.due_at).where(T.c.due_at <= now)
        rows = await self._run(stmt.order_by(T.c.due_at).limit(limit).with_for_update(skip_locked=True))
        return [TimerRecord(*row) for row in rows.all()]

    async def timers_fired(self, ids: list[int]) -> None:
        if ids:
            await self._run(delete(T).where(any_of(T.c.id, ids)))

    async def timers_pending(self) -> int:
        return (await self._run(select(func.count()).select_from(T))).scalar() or 0

    async def add_to_outbox(self, rows: list[dict[str, Any]]) -> None:
        await add_to_outbox(self.session, outbox, rows)

    async def waiting_in_outbox(self, niks: set[str]) -> bool:
        params = {"keys": [n.encode() for n in niks], "niks": list(niks), "most": MOST_WAITING}
        return bool((await self._run(_WAITING, params)).scalar())

    async def erased_among(self, niks: set[str]) -> dict[str, dt.datetime]:
        """shared.privacy.erased_among's query, written once (every batch asks; building its select anew
        cost twice the statement's execution)."""
        if not niks:
            return {}
        return {nik: at for nik, at in (await self._run(_ERASED, {"niks": _packed(niks)})).all()}

    async def erase(self, niks_at: dict[str, dt.datetime]) -> None:
        """The markers, the number on file, the contact fields of the requests and appeals as received."""
        for nik, at in niks_at.items():
            await mark_erased(self.session, ERASURES, [nik], at)
        await self._run(update(F).where(any_of(F.c.nik, niks_at)).values(phone=None))
        for nik in niks_at.keys() & self._read.keys():  # as the rows now are
            self._read[nik] = (self._read[nik][0], None)
        for forget in _FORGET_CONTACT:
            await self._run(forget, {"niks": sorted(niks_at), "fields": list(CONTACT_FIELDS)})


@lru_cache(maxsize=64)
def _insert_facts(columns: tuple[str, ...]) -> TextClause:
    """INSERT new people's facts rows: `columns` (beside the NIK) one array each (unnest), every other
    column a blank person's value."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = "".join(f", cast(:p{i} as {F.c[c].type.compile(dialect=dialect)}[])" for i, c in enumerate(columns))
    aliases = "".join(f", c{i}" for i in range(len(columns)))
    values = []
    for name in _PERSON_COLUMNS[1:]:
        if name in columns:
            values.append(f"u.c{columns.index(name)}")
        else:
            blank = _EMPTY_FACTS[name]
            assert blank is None or isinstance(blank, bool), name  # NULL or a boolean: nothing to quote
            value = "NULL" if blank is None else str(blank).lower()
            values.append(f"cast({value} as {F.c[name].type.compile(dialect=dialect)})")
    return text(
        f"insert into {SCHEMA}.facts ({', '.join(_PERSON_COLUMNS)}) select u.nik, {', '.join(values)} "
        f"from unnest(string_to_array(:niks, chr(31)){arrays}) as u(nik{aliases}) "
        "on conflict (nik) do nothing returning nik"
    )


@lru_cache(maxsize=64)
def _update_facts(columns: tuple[str, ...]) -> TextClause:
    """UPDATE facts rows (by NIK) with these columns' new values: one array per column (unnest)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays = ", ".join(f"cast(:p{i} as {F.c[c].type.compile(dialect=dialect)}[])" for i, c in enumerate(columns))
    sets = ", ".join(f"{c} = u.c{i}" for i, c in enumerate(columns))
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    return text(
        f"update {SCHEMA}.facts f set {sets} from unnest(string_to_array(:niks, chr(31)), {arrays}) "
        f"as u(nik, {aliases}) "
        "where f.nik = u.nik"
    )


def _packed(values: Iterable[str]) -> str:
    """Texts as one parameter, joined by US (0x1f), that the statement splits back (`string_to_array(:p,
    chr(31))`): asyncpg converts a text[] parameter element by element in Python-level code (about 0.4 us an
    element), a string at once. For texts that never hold US and are never empty (an empty one alone would
    split into no element): NIKs, enum values, JSON (which escapes control characters). None of them: ''."""
    return _SEP.join(values)


def _events_json(records: list[RequestRecord]) -> str:
    """The requests' JSON, packed (_packed; JSON escapes control characters, US too): model_dump_json's bytes
    from the model's serializer, without its per-call argument handling and a decode per request (6% of
    eligibility's CPU in a decisions stage, issue 20)."""
    to_json = ReactivationRequested.__pydantic_serializer__.to_json
    return _SEP.encode().join([to_json(r.event) for r in records]).decode()


def _people(result: Any) -> People:
    """Rows of the person's columns (_PERSON) as People."""
    return {row[0]: (Facts.of_row(row[:-1]), row[-1]) for row in result.all()}


def _requests(result: Any) -> list[RequestRecord]:
    return [
        RequestRecord(
            ReactivationRequested.model_validate(r["event"]),
            r["outcome"],
            tuple(r["reasons"]),
            r["decided_at"],
            r["window_closes_at"],
        )
        for r in result.mappings()
    ]


def _request_row(r: RequestRecord) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "nik": r.nik,
        "path": r.event.path.value,
        "outcome": r.outcome,
        "reasons": list(r.reasons),
        "received_at": r.event.received_at,
        "decided_at": r.decided_at,
        "window_closes_at": r.window_closes_at,
        "event": r.event.model_dump_json().encode(),
    }


def _appeals(result: Any) -> list[AppealRecord]:
    return [
        AppealRecord(
            AppealRequested.model_validate(a["event"]),
            a["request_id"],
            a["status"],
            tuple(a["reasons"]),
            a["due_at"],
            a["decided_at"],
        )
        for a in result.mappings()
    ]


def _appeal_row(a: AppealRecord) -> dict[str, Any]:
    return {
        "appeal_id": a.appeal_id,
        "request_id": a.request_id,
        "nik": a.nik,
        "status": a.status,
        "reasons": list(a.reasons),
        "received_at": a.event.received_at,
        "due_at": a.due_at,
        "decided_at": a.decided_at,
        "event": a.event.model_dump_json().encode(),
    }
