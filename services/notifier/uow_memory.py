"""The notifier's unit of work in memory (uow.py has the protocol and PostgreSQL's): the same
repositories over dicts. A block works on a copy, swapped in when it ends without an error, so a failed
batch leaves nothing behind. For unit tests, which run the same handler cases against both."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from services.notifier.domain.intents import OnFile, Released, Waiting
from services.notifier.domain.standing import Standing
from services.notifier.uow import Contacts, Erasures, Inbox, Messages, OptOuts, Row, Standings
from shared.events import Event
from shared.uow import CopyUnit, claim_in_memory

E = TypeVar("E", bound=Event)


@dataclass
class MemoryStore:
    """What the notifier's schema holds, as far as consumed events go."""

    contacts: dict[str, OnFile] = field(default_factory=dict)
    standings: dict[str, Standing] = field(default_factory=dict)
    messages: dict[uuid.UUID, Row] = field(default_factory=dict)
    opt_outs: dict[str, bool] = field(default_factory=dict)  # phone -> opted out (BERHENTI) or resumed (MULAI)
    erasures: dict[str, dt.datetime] = field(default_factory=dict)
    processed: set[uuid.UUID] = field(default_factory=set)


class _Repository:
    def __init__(self, work: MemoryStore) -> None:
        self.work = work


class MemoryContacts(_Repository):
    async def lock(self, niks: Iterable[str]) -> dict[str, OnFile]:
        return await self.get(niks)

    async def file_phones(self, phones: Mapping[str, str]) -> None:
        for nik, phone in phones.items():
            old = self.work.contacts.get(nik)
            if old is None:
                self.work.contacts[nik] = OnFile(phone)
            elif old.phone != phone:  # a new number may well be on WhatsApp
                self.work.contacts[nik] = OnFile(phone, old.opted_out, None)

    async def get(self, niks: Iterable[str]) -> dict[str, OnFile]:
        return {n: c for n in set(niks) if (c := self.work.contacts.get(n)) is not None}


class MemoryStandings(_Repository):
    async def for_update(self, niks: Iterable[str]) -> dict[str, Standing]:
        return {n: s for n in set(niks) if (s := self.work.standings.get(n)) is not None}

    async def add(self, standings: Sequence[Standing]) -> set[str]:
        raced = {s.nik for s in standings if s.nik in self.work.standings}
        self.work.standings.update({s.nik: s for s in standings if s.nik not in raced})
        return raced

    async def update(self, standings: Sequence[Standing]) -> None:
        self.work.standings.update({s.nik: s for s in standings})


class MemoryMessages(_Repository):
    async def add(self, rows: Sequence[Row]) -> None:
        await self.add_new(rows)

    async def add_new(self, rows: Sequence[Row]) -> list[tuple[str, str]]:
        added = []
        for row in rows:
            if row["message_id"] not in self.work.messages:
                self.work.messages[row["message_id"]] = dict(row)
                added.append((row["kind"], row["channel"]))
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
        return {n for n in waiting if (c := self.work.contacts.get(n)) is not None and c.phone}


class MemoryOptOuts(_Repository):
    async def stopped(self, phones: Iterable[str]) -> set[str]:
        return {p for p in set(phones) if self.work.opt_outs.get(p)}


class MemoryErasures(_Repository):
    async def among(self, niks: Iterable[str]) -> dict[str, dt.datetime]:
        return {n: at for n in set(niks) if (at := self.work.erasures.get(n)) is not None}


class MemoryInbox(_Repository):
    async def claim(self, events: Sequence[E]) -> list[E]:
        return claim_in_memory(self.work.processed, events)


class MemoryUnitOfWork(CopyUnit[MemoryStore]):
    contacts: Contacts
    standings: Standings
    messages: Messages
    opt_outs: OptOuts
    erasures: Erasures
    inbox: Inbox

    def _opened(self) -> None:
        w = self.work
        self.contacts, self.standings, self.messages = MemoryContacts(w), MemoryStandings(w), MemoryMessages(w)
        self.opt_outs, self.erasures, self.inbox = MemoryOptOuts(w), MemoryErasures(w), MemoryInbox(w)
