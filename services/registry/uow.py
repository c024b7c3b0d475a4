"""The registry's unit of work: one transaction per batch, repositories for the rows a batch reads, and
`save(changes)` writing what the pure fold (domain.batch) returned, one set-based statement per table.

Exactly once at the effect: events with an effect of their own (a history row or an anomaly per event and
NIK: deactivations, facts, decisions) are skipped when that row exists, read after the batch's people are
locked; their history is inserted `on conflict do nothing returning`, and only the rows inserted are
announced. Requests and message states are applied whenever they come (domain.batch.APPLIED_AGAIN: their
upserts end in the same row however often, and write nothing when they would change nothing). Only SLA
states, appeals and a deactivation that changes nothing are claimed in the inbox (shared.inbox).
uow_memory.py is the same in memory.

A person not yet in the registry has no row to lock: their row is inserted `on conflict do nothing`, and
when another transaction inserted it meanwhile (the same events on two consumers during a rebalance, or a
decision and a fact at once) the batch raises `ConcurrentBatch` and is applied again on the committed rows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any, Protocol, Self

from pydantic_core import to_json
from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.registry import worklist
from services.registry.domain import delivery
from services.registry.domain.batch import Changes, StatusChange, claimed_in_inbox, dedup_by_effect
from services.registry.domain.requests import Row
from services.registry.domain.status import Participant
from services.registry.privacy import ERASURES
from services.registry.store import INBOX, RQ, SCHEMA, STILL_OUT_SQL, A, H, N, P, outbox
from shared.columns import columns, insert, pack, update
from shared.db import bulk_insert, lock_in_order
from shared.enums import ParticipantStatus
from shared.errors import TransientError
from shared.events import Event
from shared.inbox import claim_events, claim_new
from shared.messaging import event_headers
from shared.outbox import outbox_bundle
from shared.privacy import erased_among
from shared.sla import SLA_ORDER, sla_rank
from shared.topics import STATUS_CHANGES, TopicSpec
from shared.uow import SessionUnit

PARTICIPANT_FIELDS = [f.name for f in fields(Participant)]


class UnitOfWork(Protocol):
    """What a handler needs of a batch's transaction (PgUnitOfWork, uow_memory.MemoryUnitOfWork)."""

    async def __aenter__(self) -> Self: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def claim(self, events: Sequence[Event]) -> list[Event]: ...
    async def lock_people(self, niks: Iterable[str]) -> dict[str, Participant | None]: ...
    async def read_people(self, niks: Iterable[str]) -> dict[str, Participant | None]: ...
    async def unseen(self, events: Sequence[Event]) -> list[Event]: ...
    async def erased(self, niks: Iterable[str]) -> dict[str, dt.datetime]: ...
    async def expiring(self, now: dt.datetime, limit: int) -> list[Participant]: ...
    async def save(self, changes: Changes) -> int: ...


class ConcurrentBatch(TransientError):
    """Another transaction created a person this batch meant to create: apply the batch again."""


class PgUnitOfWork(SessionUnit):
    topics: tuple[TopicSpec, ...] = (STATUS_CHANGES,)  # what `save` writes (outbox); app.py declares it (AsyncAPI)
    gated_schema = SCHEMA  # a batch may file a new person's number: the erasure gate, shared (shared.privacy)

    def __init__(self, sessions: async_sessionmaker[AsyncSession], prefix: str) -> None:
        super().__init__(sessions)
        self.prefix = prefix
        self._locked: dict[str, Participant] = {}  # the people read (and locked) by this unit of work, as read

    async def claim(self, events: Sequence[Event]) -> list[Event]:
        """The batch's events to apply, in order: those claimed in the inbox now, and the others (those
        de-duplicated by their effect are checked by `unseen` once their people are locked)."""
        claimable = [e for e in events if claimed_in_inbox(e)]
        if not claimable:  # a batch of requests, decisions, facts: nothing to claim, no event id hashed
            return list(events)
        claimed = {e.event_id for e in await claim_events(self.session, INBOX, claimable)}
        return [e for e in events if e.event_id in claimed or not claimed_in_inbox(e)]

    async def lock_people(self, niks: Iterable[str]) -> dict[str, Participant | None]:
        # Locked in NIK order: a concurrent batch of another topic (decisions vs. facts) waits and then
        # reads the committed row, so neither overwrites the other's change.
        wanted = sorted(set(niks))
        if not wanted:
            return {}
        people = {r[0]: participant_from_row(r) for r in await self._select_people(wanted, lock=True)}
        self._locked.update(people)
        return dict(people)

    async def read_people(self, niks: Iterable[str]) -> dict[str, Participant | None]:
        """People the batch only reads (their region), not locked."""
        wanted = list(niks)
        if not wanted:
            return {}
        return {r[0]: participant_from_row(r) for r in await self._select_people(wanted, lock=False)}

    async def _select_people(self, niks: list[str], lock: bool) -> Sequence[Any]:
        """The rows of these NIKs, as `_PEOPLE` orders a row's columns; the NIKs packed into one text (digits:
        they always can be), not an array asyncpg converts element by element."""
        packed = pack(niks)
        query = _PEOPLE_BY_NIK[packed is not None, lock]
        return (await self.session.execute(query, {"niks": niks if packed is None else packed})).all()

    async def unseen(self, events: Sequence[Event]) -> list[Event]:
        # Only people already here can have a history row or an anomaly of theirs: a wave's new people cost
        # no look-up (one created meanwhile by another transaction is caught by _people's insert).
        ids = [e.event_id for e in events if e.nik in self._locked and dedup_by_effect(e)]
        seen = set((await self.session.execute(_SEEN, {"ids": ids})).scalars()) if ids else set()
        return [e for e in events if e.event_id not in seen] if seen else list(events)

    async def erased(self, niks: Iterable[str]) -> dict[str, dt.datetime]:
        return await erased_among(self.session, ERASURES, niks)

    async def expiring(self, now: dt.datetime, limit: int) -> list[Participant]:
        """People still out whose window closed before `now`, oldest close first, locked; rows another
        sweep holds are skipped (two replicas sweep side by side)."""
        query = (
            select(*_PEOPLE)
            # The partial index's own predicate, as literals: a prepared statement's generic plan could
            # not prove that bound parameters imply it, and would read every participant.
            .where(text(STILL_OUT_SQL), P.c.window_closes_at < now)
            .order_by(P.c.window_closes_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        people = [participant_from_row(r) for r in (await self.session.execute(query)).all()]
        self._locked.update((p.nik, p) for p in people)
        return people

    async def save(self, c: Changes) -> int:
        """Writes the changes; how many history rows were new (the others were there: a redelivery)."""
        s = self.session
        await self._people(c)
        await self._requests(c)
        if c.opened or c.released:
            await worklist.record(s, c.opened, c.released)
        if c.closing:
            await worklist.close_satisfied(s, c.closing, c.now)
        if c.appeals_decided:
            await worklist.close_appeals(s, c.appeals_decided)
        if c.notifications:
            await insert_rows(s, N, list(c.notifications.values()), _UPSERT_NOTIFICATION)
        new = await self._history(c)
        if c.anomalies:
            await insert_rows(s, A, [a.__dict__ for a in c.anomalies], "on conflict (event_id, nik) do nothing")
        if len(new) == len(c.history):  # every row new (the usual batch): no event id hashed again
            announced = [r.announce for r in c.history if r.announce is not None]
        else:
            announced = [r.announce for r in c.history if r.announce is not None and r.entry.event_id in new]
        if announced:  # an event id is one person's; the batch's status changes in one outbox row
            await bulk_insert(s, outbox, [status_changes_bundle(self.prefix + self.topics[0].name, announced)])
        if c.unkeyed:
            await claim_new(s, INBOX, c.unkeyed)
        return len(new)

    async def _people(self, c: Changes) -> None:
        """The people read under lock are updated, in the columns any of them changed (a decision changes
        two of fifteen: every other cell was encoded and sent for nothing); new ones inserted, unless
        another transaction has inserted them since (then this batch's view of them is stale:
        ConcurrentBatch)."""
        # A Participant's own __dict__ is its row: its fields, in the table's column order.
        rows = {n: p.__dict__ for n, p in sorted(c.people.items())}
        new = [r for n, r in rows.items() if n not in self._locked]
        if new:
            inserted = await insert_rows(self.session, P, new, "on conflict (nik) do nothing")
            if inserted.rowcount < len(new):  # type: ignore[attr-defined]
                raise ConcurrentBatch("a person of this batch was created by another transaction meanwhile")
        known = [(self._locked[n].__dict__, r) for n, r in rows.items() if n in self._locked]
        if changed := changed_columns(known):
            values = {name: [r[name] for _, r in known] for name in ("nik", *changed)}
            batch = columns(P, values, keys=("nik",))
            await self.session.execute(update(P, batch.names, batch.modes), batch.params)

    async def _history(self, c: Changes) -> set[uuid.UUID]:
        if not c.history:
            return set()
        h = [(r.nik, r.entry) for r in c.history]
        values = {  # statuses as they are: a StrEnum is its value to `columns` and asyncpg
            "nik": [n for n, _ in h],
            "event_id": [e.event_id for _, e in h],
            "event_type": [e.event_type for _, e in h],
            "occurred_at": [e.occurred_at for _, e in h],
            "source": [e.source for _, e in h],
            "previous_status": [e.previous_status for _, e in h],
            "status": [e.status for _, e in h],
            "reasons": [e.reasons for _, e in h],
        }
        batch = columns(H, values)
        inserted = await self.session.execute(insert(H, batch.names, batch.modes, _NEW_HISTORY), batch.params)
        return set(inserted.scalars())

    async def _requests(self, c: Changes) -> None:
        """Requests, decisions and SLA states: each upserts the request row and sets only the fields it
        knows, never moving a decision or an SLA state backwards (domain.requests.merge says the same).
        An emergency's decision comes with the SLA state it settles (Fold._decision): both in one write of
        its row, as the two merges one after the other would leave it.

        Rows are taken in request id order: each upsert's rows go in that order (an `insert ... select from
        unnest` locks them in its input's order), and a batch writing more than one kind locks them all in
        that order first (_LOCK_REQUESTS). A decision batch (its people locked) and a batch of the other role
        that only reads people (SLA states, requests) locked the same rows in crossing orders: a deadlock,
        retried. One statement already locks in id order, so only a batch of two kinds or more pays for the
        pre-lock (one index look-up and row lock per row: a decision batch with an emergency's final decision
        beside others)."""
        both = c.decisions.keys() & c.sla.keys()
        writes = [
            (rows, on_conflict)
            for rows, on_conflict in (
                (_in_id_order(c.requests, both=()), _UPSERT_REQUEST),
                (_in_id_order(c.decisions, both), _UPSERT_DECISION),
                ([with_sla(c.decisions[k], c.sla[k]) for k in sorted(both, key=_UUID_INT)], _UPSERT_DECISION_AND_SLA),
                (_in_id_order(c.sla, both), _UPSERT_SLA),
            )
            if rows
        ]
        if len(writes) > 1:
            ids = list(c.requests.keys() | c.decisions.keys() | c.sla.keys())
            await self.session.execute(_LOCK_REQUESTS, {"ids": ids})
        for rows, on_conflict in writes:  # unnest keeps the rows' order: the id order they are locked in
            await insert_rows(self.session, RQ, rows, on_conflict)


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[Row], suffix: str = "") -> Any:
    """`insert ... select from unnest` of the rows (all with the same keys, in their order), each column sent as
    cheaply as its values allow (shared/columns.py); `suffix`: ON CONFLICT, RETURNING."""
    batch = columns(table, {name: [r[name] for r in rows] for name in rows[0]})
    return await session.execute(insert(table, batch.names, batch.modes, suffix), batch.params)


def _in_id_order(rows: dict[uuid.UUID, Row], both: Collection[uuid.UUID]) -> list[Row]:
    """The rows (by request id) not in `both`, in PostgreSQL's uuid order of their ids (its 16 bytes compared
    unsigned: the 128-bit integer's); no id hashed when `both` is empty (a UUID's hash is Python)."""
    kept = [row for k, row in rows.items() if k not in both] if both else rows.values()
    return sorted(kept, key=_row_id_int)


_UUID_INT = attrgetter("int")  # compared in C: a UUID's own __lt__ is Python, 2,000 rows a batch


def _row_id_int(row: Row) -> int:
    return row["request_id"].int  # type: ignore[no-any-return]


def with_sla(decision: dict[str, Any], sla: dict[str, Any]) -> dict[str, Any]:
    """A decision's row with its SLA state's fields: what merging the two into no row leaves."""
    facility = decision["facility_code"] if decision["facility_code"] is not None else sla["facility_code"]
    return {**decision, "sla_state": sla["sla_state"], "sla_deadline": sla["sla_deadline"], "facility_code": facility}


STATUS_CHANGED = "participant.status_changed"


def status_changes_bundle(topic: str, announced: Sequence[StatusChange]) -> dict[str, Any]:
    """The outbox row of a batch's status changes (shared.outbox.outbox_bundle): each with the key, JSON
    and headers shared.outbox.outbox_row would give the event; the bundle's id is its first change's."""
    records = [
        (a.nik.encode(), status_change_json(a), event_headers(STATUS_CHANGED, cause=a.cause_event_id))
        for a in announced
    ]
    return outbox_bundle(topic, records, event_id=announced[0].event_id)


def status_change_json(a: StatusChange) -> bytes:
    """`ParticipantStatusChanged(...).model_dump_json()`, byte for byte, without the model (its fields in
    order; pydantic's own serializer for UUIDs and datetimes). tests/unit/registry/test_status_change_json.py
    holds it to the model's."""
    return to_json(
        {
            "event_id": a.event_id,
            "schema_version": 1,
            "occurred_at": a.occurred_at,
            "source": "registry",
            "nik": a.nik,
            "type": STATUS_CHANGED,
            "previous_status": a.previous_status._value_ if a.previous_status is not None else None,
            "status": a.status._value_,
            "cause_event_id": a.cause_event_id,
            "cause_type": a.cause_type,
            "reasons": a.reasons,
            "window_closes_at": a.window_closes_at,
            "phone": None,  # never set (shared.events.ParticipantStatusChanged)
        }
    )


def changed_columns(pairs: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> tuple[str, ...]:
    """The columns (PARTICIPANT_FIELDS order) in which any row differs from the row as read (before, after)."""
    changed: set[str] = set()
    rest = PARTICIPANT_FIELDS[1:]  # the NIK is the key: never changed
    for before, after in pairs:
        found = [c for c in rest if before[c] != after[c]]
        if found:
            changed.update(found)
            rest = [c for c in rest if c not in changed]
            if not rest:
                break
    return tuple(c for c in PARTICIPANT_FIELDS if c in changed)


_PEOPLE = [P.c[name] for name in PARTICIPANT_FIELDS]  # selected in the order of Participant's fields
_SELECT_PEOPLE = f"select {', '.join(PARTICIPANT_FIELDS)} from {SCHEMA}.participants where nik = "
_PEOPLE_BY_NIK = {  # (packed, locked): locked in NIK order
    (packed, lock): text(
        _SELECT_PEOPLE
        + ("any(string_to_array(cast(:niks as text), chr(31)))" if packed else "any(cast(:niks as text[]))")
        + (" order by nik for update" if lock else "")
    )
    for packed in (True, False)
    for lock in (True, False)
}


def participant_from_row(r: Sequence[Any]) -> Participant:
    """A participant from a row of `_PEOPLE` (positional: a batch reads thousands)."""
    return Participant(r[0], _STATUS[r[1]], *r[2:])


_STATUS = {s.value: s for s in ParticipantStatus}


_SEEN = text(
    f"select event_id from {SCHEMA}.history where event_id = any(cast(:ids as uuid[])) "
    f"union all select event_id from {SCHEMA}.anomalies where event_id = any(cast(:ids as uuid[])) "
    f"union all select event_id from {SCHEMA}.inbox where event_id = any(cast(:ids as uuid[]))"
)
# The batch's history rows, each once; `returning` says which rows are new.
_NEW_HISTORY = "on conflict (event_id, nik) do nothing returning event_id"
# Upserts of the request and notification rows: one `insert ... select from unnest` per table and batch
# (insert_rows), the same text whatever the batch's size (an executemany of a compiled insert
# rendered a VALUES list per page in Python, and PostgreSQL planned it anew for each size).
_RQ_T = f"{SCHEMA}.requests"
# A batch's existing request rows, locked in request id order before its upserts (PgUnitOfWork._requests);
# rows not there yet are created by the upserts, in their own id order.
_LOCK_REQUESTS = lock_in_order(_RQ_T, "request_id")
_DECISION_COLUMNS = ("status", "reasons", "decided_at")
_REQUEST_SET = {
    "path": "excluded.path",
    "channel": "excluded.channel",
    "facility_code": f"coalesce(excluded.facility_code, {_RQ_T}.facility_code)",
    "received_at": "excluded.received_at",
    "sla_deadline": f"coalesce({_RQ_T}.sla_deadline, excluded.sla_deadline)",
    "sla_state": f"coalesce({_RQ_T}.sla_state, excluded.sla_state)",
}


def _unless_unchanged(table: str, values: dict[str, str]) -> str:
    """`do update set` these values `where` they change the row: a redelivered event writes nothing."""
    return (
        ", ".join(f"{c} = {v}" for c, v in values.items())
        + f" where ({', '.join(f'{table}.{c}' for c in values)}) is distinct from ({', '.join(values.values())})"
    )


# A request applied again (no inbox claim: domain.batch.APPLIED_AGAIN) sets what it set before.
_UPSERT_REQUEST = "on conflict (request_id) do update set " + _unless_unchanged(_RQ_T, _REQUEST_SET)

_DECIDED_LATER = f"({_RQ_T}.decided_at is null or {_RQ_T}.decided_at <= excluded.decided_at)"
_UPSERT_DECISION = (
    "on conflict (request_id) do update set status = excluded.status, reasons = excluded.reasons, "
    f"decided_at = excluded.decided_at where {_DECIDED_LATER}"
)


def _sla_rank(column: str) -> str:
    return f"case {column} " + " ".join(f"when '{s.value}' then {sla_rank(s)}" for s in SLA_ORDER) + " else 0 end"


_SLA_LATER = f"{_sla_rank(_RQ_T + '.sla_state')} <= {_sla_rank('excluded.sla_state')}"
_SLA_SET = {
    "facility_code": f"coalesce({_RQ_T}.facility_code, excluded.facility_code)",
    "sla_deadline": "excluded.sla_deadline",
    "sla_state": "excluded.sla_state",
}
# An SLA state the row already holds (the MET its approval folded, an OK again) writes nothing.
_UPSERT_SLA = (
    "on conflict (request_id) do update set "
    + ", ".join(f"{c} = {v}" for c, v in _SLA_SET.items())
    + f" where {_SLA_LATER} and ({', '.join(f'{_RQ_T}.{c}' for c in _SLA_SET)}) "
    f"is distinct from ({', '.join(_SLA_SET.values())})"
)
# A decision and its SLA state in one write: each part applies under its own rule, as _UPSERT_DECISION
# then _UPSERT_SLA would (every expression reads the row as it was).
_UPSERT_DECISION_AND_SLA = "on conflict (request_id) do update set " + _unless_unchanged(
    _RQ_T,
    {
        **{c: f"case when {_DECIDED_LATER} then excluded.{c} else {_RQ_T}.{c} end" for c in _DECISION_COLUMNS},
        **{c: f"case when {_SLA_LATER} then {v} else {_RQ_T}.{c} end" for c, v in _SLA_SET.items()},
    },
)
_N_T = f"{SCHEMA}.notifications"


def _state_rank(column: str) -> str:
    return f"case {column} " + " ".join(f"when '{s}' then {r}" for s, r in delivery.RANK.items()) + " else -1 end"


# delivery.merge in SQL: the latest report's state, the latest time, the first report of each moment;
# a row it would not change is not written (a redelivered update).
_NOTIFICATION_SET = {
    "state": f"case when (excluded.updated_at, {_state_rank('excluded.state')}) >= "
    f"({_N_T}.updated_at, {_state_rank(_N_T + '.state')}) then excluded.state else {_N_T}.state end",
    "updated_at": f"greatest({_N_T}.updated_at, excluded.updated_at)",
    **{m: f"least({_N_T}.{m}, excluded.{m})" for m in delivery.MOMENTS},
}
_UPSERT_NOTIFICATION = "on conflict (message_id) do update set " + _unless_unchanged(_N_T, _NOTIFICATION_SET)
