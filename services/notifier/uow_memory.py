"""The notifier's unit of work in memory (uow.py has the protocol and PostgreSQL's): the same
repositories over dicts. A block works on a copy, swapped in when it ends without an error, so a failed
batch leaves nothing behind. For unit tests, which run the same handler cases against both."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from services.notifier.domain.intents import Released, Waiting
from services.notifier.domain.people import Person
from services.notifier.uow import Added, Erasures, Inbox, Messages, OptOuts, People, Row
from shared.claims import claim_unseen
from shared.events import Event
from shared.uow import CopyUnit

E = TypeVar("E", bound=Event)


@dataclass
class MemoryStore:
    """What the notifier's schema holds, as far as consumed events go."""

    people: dict[str, Person] = field(default_factory=dict)  # NIK -> contact and standing
    messages: dict[uuid.UUID, Row] = field(default_factory=dict)
    opt_outs: dict[str, bool] = field(default_factory=dict)  # phone -> opted out (BERHENTI) or resumed (MULAI)
    erasures: dict[str, dt.datetime] = field(default_factory=dict)
    processed: set[uuid.UUID] = field(default_factory=set)


class _Repository:
    def __init__(self, work: MemoryStore) -> None:
        self.work = work


class MemoryPeople(_Repository):
    async def lock(self, niks: Iterable[str]) -> dict[str, Person]:
        return {n: p for n in set(niks) if (p := self.work.people.get(n)) is not None}

    async def add(self, people: Sequence[Person]) -> set[str]:
        raced = {p.nik for p in people if p.nik in self.work.people}
        self.work.people.update({p.nik: p for p in people if p.nik not in raced})
        return raced

    async def update(self, people: Sequence[Person]) -> None:
        self.work.people.update({p.nik: p for p in people})


class MemoryMessages(_Repository):
    async def add(self, rows: Sequence[Row]) -> list[Added]:
        added: list[Added] = []
        for row in rows:
            if row["message_id"] not in self.work.messages:
                self.work.messages[row["message_id"]] = dict(row)
                added.append((row["event_id"], row["kind"], row["channel"]))
        return added

    async def waiting(self, niks: Iterable[str]) -> list[Waiting]:
        wanted = set(niks)
        rows = (r for r in self.work.messages.values() if r["state"] == "WAITING" and r["nik"] in wanted)
        return sorted((Waiting(r["message_id"], r["nik"], r["kind"], r["urgent"]) for r in rows), key=str)

    async def release(self, released: Sequence[Released]) -> int:
        changed = 0
        for r in released:
            row = self.work.messages.get(r.message_id)
            if row is not None and row["state"] == "WAITING":
                row.update(phone=r.phone, channel=r.channel, state=r.state, send_after=r.send_after)
                row["last_error"] = r.last_error
                changed += 1
        return changed

    async def waiting_with_number(self) -> set[str]:
        waiting = {r["nik"] for r in self.work.messages.values() if r["state"] == "WAITING"}
        return {n for n in waiting if (p := self.work.people.get(n)) is not None and p.contact.phone}


class MemoryOptOuts(_Repository):
    async def stopped(self, phones: Iterable[str]) -> set[str]:
        return {p for p in set(phones) if self.work.opt_outs.get(p)}


class MemoryErasures(_Repository):
    async def among(self, niks: Iterable[str]) -> dict[str, dt.datetime]:
        return {n: at for n in set(niks) if (at := self.work.erasures.get(n)) is not None}


class MemoryInbox(_Repository):
    async def claim(self, events: Sequence[E]) -> list[E]:
        return claim_unseen(self.work.processed, events)


class MemoryUnitOfWork(CopyUnit[MemoryStore]):
    people: People
    messages: Messages
    opt_outs: OptOuts
    erasures: Erasures
    inbox: Inbox

    def _opened(self) -> None:
        w = self.work
        self.people, self.messages = MemoryPeople(w), MemoryMessages(w)
        self.opt_outs, self.erasures, self.inbox = MemoryOptOuts(w), MemoryErasures(w), MemoryInbox(w)
