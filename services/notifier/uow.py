"""The notifier's unit of work: the repositories a batch of consumed events reads and writes, committed
once. `UnitOfWork` is what handlers see; `PgUnitOfWork` is PostgreSQL (one transaction, a statement or
two per repository call whatever the batch size); `services.notifier.uow_memory` holds the same in memory
for unit tests, which run the same cases against both (tests/unit/notifier/handler_cases.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.domain.intents import Released, Waiting
from services.notifier.domain.people import Person
from services.notifier.privacy import ERASURES
from services.notifier.standings import COLUMNS, changed_columns, column_values, load_people
from services.notifier.store import INBOX, OO, SCHEMA, C, M
from shared import columns
from shared.db import any_of, upsert_clause
from shared.events import Event
from shared.inbox import claim_events
from shared.uow import SessionUnit

E = TypeVar("E", bound=Event)
Row = dict[str, Any]  # a messages row, every column given
Added = tuple[uuid.UUID | None, str, str]  # a message row added now: its event, kind and channel


class People(Protocol):
    """A row per person: contact and standing (domain/people.py)."""

    async def lock(self, niks: Iterable[str]) -> dict[str, Person]: ...  # as an erasure locks them
    async def add(self, people: Sequence[Person]) -> set[str]: ...  # NIKs another batch created meanwhile
    async def update(self, people: Sequence[Person]) -> None: ...


class Messages(Protocol):
    # A message id already there is left as it is; returns the rows added now: (event_id, kind, channel).
    async def add(self, rows: Sequence[Row]) -> list[Added]: ...
    async def waiting(self, niks: Iterable[str]) -> list[Waiting]: ...  # these people's WAITING rows, locked
    async def release(self, released: Sequence[Released]) -> int: ...  # rows still WAITING changed
    async def waiting_with_number(self) -> set[str]: ...  # people with WAITING rows and a number on file


class OptOuts(Protocol):
    async def stopped(self, phones: Iterable[str]) -> set[str]: ...  # numbers that said BERHENTI/STOP


class Erasures(Protocol):
    async def among(self, niks: Iterable[str]) -> dict[str, dt.datetime]: ...


class Inbox(Protocol):
    async def claim(self, events: Sequence[E]) -> list[E]: ...  # those never applied before, once each


class UnitOfWork(Protocol):
    people: People
    messages: Messages
    opt_outs: OptOuts
    erasures: Erasures
    inbox: Inbox

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...  # commits when the block ended without an error, else rolls back


WAITING = "WAITING"
# Waiting messages on their way, one statement: only rows still WAITING (another batch may have released them).
_RELEASE = text(
    f"update {M.schema}.{M.name} m set phone = u.phone, channel = u.channel, state = u.state, "
    "send_after = u.send_after, last_error = u.last_error, updated_at = now() "
    "from unnest(cast(:ids as uuid[]), cast(:phones as text[]), cast(:channels as text[]), "
    "cast(:states as text[]), cast(:due as timestamptz[]), cast(:errors as text[])) "
    "as u(message_id, phone, channel, state, send_after, last_error) "
    "where m.message_id = u.message_id and m.state = 'WAITING' returning m.message_id"
)


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session


class PgPeople(_Repository):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.read: dict[str, Person] = {}  # the rows as locked: an update writes only what changed of them

    async def lock(self, niks: Iterable[str]) -> dict[str, Person]:
        wanted = set(niks)
        people = await load_people(self.session, wanted, lock=True) if wanted else {}
        self.read.update(people)
        return people

    async def add(self, people: Sequence[Person]) -> set[str]:
        """People seen for the first time, as folded, in one statement; a NIK another batch created since the
        lock is left to the caller to fold onto (returned)."""
        if not people:
            return set()
        added = set((await self._insert(people, "on conflict do nothing returning nik")).scalars())
        self.read.update((p.nik, p) for p in people if p.nik in added)
        return {p.nik for p in people} - added

    async def update(self, people: Sequence[Person]) -> None:
        """People's rows as the batch leaves them. Those locked in this transaction (`lock`, the handlers'
        way) in one UPDATE of only the columns any of them changed; anyone else whole (an upsert)."""
        unread = [p for p in people if p.nik not in self.read]
        if unread:
            await self._insert(unread, upsert_clause("nik", COLUMNS))
        read = [p for p in people if p.nik in self.read]
        changed = changed_columns((self.read[p.nik], p) for p in read)
        if changed:
            ordered = sorted(read, key=lambda p: p.nik)
            values = {"nik": [p.nik for p in ordered]} | {name: column_values(ordered, name) for name in changed}
            batch = columns.columns(C, values, keys=("nik",))
            await self.session.execute(columns.update(C, batch.names, batch.modes), batch.params)
        self.read.update((p.nik, p) for p in people)

    async def _insert(self, people: Sequence[Person], suffix: str) -> Any:
        ordered = sorted(people, key=lambda p: p.nik)
        batch = columns.columns(C, {name: column_values(ordered, name) for name in COLUMNS}, keys=("nik",))
        return await self.session.execute(columns.insert(C, batch.names, batch.modes, suffix), batch.params)


class PgMessages(_Repository):
    async def add(self, rows: Sequence[Row]) -> list[Added]:
        if not rows:
            return []
        # A parameter per column (shared.columns), not a VALUES list: that one passes asyncpg's 32,767-argument
        # limit with a few thousand messages in a batch.
        batch = columns.columns(M, {name: [row[name] for row in rows] for name in rows[0]}, keys=("message_id",))
        returning = "on conflict (message_id) do nothing returning event_id, kind, channel"
        added = await self.session.execute(columns.insert(M, batch.names, batch.modes, returning), batch.params)
        return [(e, k, c) for e, k, c in added.all()]

    async def waiting(self, niks: Iterable[str]) -> list[Waiting]:
        wanted = sorted(set(niks))
        if not wanted:
            return []
        query = (
            select(M.c.message_id, M.c.nik, M.c.kind, M.c.urgent)
            .where(M.c.state == WAITING, any_of(M.c.nik, wanted))
            .order_by(M.c.message_id)
            .with_for_update()
        )
        return [Waiting(r.message_id, r.nik, r.kind, r.urgent) for r in await self.session.execute(query)]

    async def release(self, released: Sequence[Released]) -> int:
        if not released:
            return 0
        params = {
            "ids": [r.message_id for r in released],
            "phones": [r.phone for r in released],
            "channels": [r.channel for r in released],
            "states": [r.state for r in released],
            "due": [r.send_after for r in released],
            "errors": [r.last_error for r in released],
        }
        return len((await self.session.execute(_RELEASE, params)).all())

    async def waiting_with_number(self) -> set[str]:
        query = (
            select(M.c.nik)
            .distinct()
            .join(C, C.c.nik == M.c.nik)
            .where(M.c.state == WAITING, C.c.phone.is_not(None), C.c.phone != "")
        )
        return set((await self.session.scalars(query)).all())


# A batch's numbers and NIKs travel packed into one text when they can be (shared.columns).
_STOPPED = {
    packed: text(f"select phone from {OO.schema}.{OO.name} where opted_out and phone = {any_}")
    for packed, any_ in ((True, columns.ANY_PACKED), (False, columns.ANY_ARRAY))
}
_ERASED = {
    packed: text(f"select nik, erased_at from {ERASURES.schema}.{ERASURES.name} where nik = {any_}")
    for packed, any_ in ((True, columns.ANY_PACKED), (False, columns.ANY_ARRAY))
}


class PgOptOuts(_Repository):
    async def stopped(self, phones: Iterable[str]) -> set[str]:
        wanted = list(set(phones))
        if not wanted:
            return set()
        packed, values = columns.any_of(wanted)
        return set((await self.session.scalars(_STOPPED[packed], {"values": values})).all())


class PgErasures(_Repository):
    async def among(self, niks: Iterable[str]) -> dict[str, dt.datetime]:
        """shared.privacy.erased_among's query, the NIKs packed."""
        wanted = list(set(niks))
        if not wanted:
            return {}
        packed, values = columns.any_of(wanted)
        return {nik: at for nik, at in (await self.session.execute(_ERASED[packed], {"values": values})).all()}


class PgInbox(_Repository):
    async def claim(self, events: Sequence[E]) -> list[E]:
        return await claim_events(self.session, INBOX, events)


class PgUnitOfWork(SessionUnit):
    """One transaction of the notifier's schema."""

    gated_schema = SCHEMA  # a batch may file a new person's number: the erasure gate, shared (shared.privacy)

    people: People
    messages: Messages
    opt_outs: OptOuts
    erasures: Erasures
    inbox: Inbox

    def _opened(self) -> None:
        s = self.session
        self.people, self.messages = PgPeople(s), PgMessages(s)
        self.opt_outs, self.erasures, self.inbox = PgOptOuts(s), PgErasures(s), PgInbox(s)
