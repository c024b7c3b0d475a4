"""The in-memory unit of work: the same contract as store.PgUnitOfWork over dicts, for the handler tests
(tests/unit/eligibility/test_handlers_uow.py runs the same cases against both). A unit of work works on a
copy of the store and puts it back only when its block succeeds, so a failed batch changes nothing and its
claims are released, as a rolled-back transaction's are. No locks: one coroutine at a time owns the copy."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from services.eligibility.domain.records import AppealRecord, People, RequestRecord, TimerRecord
from services.eligibility.domain.rules import Facts
from shared.events import Event
from shared.privacy import without_contact
from shared.uow import CopyUnit, claim_in_memory

E = TypeVar("E", bound=Event)


@dataclasses.dataclass
class MemoryStore:
    people: People = dataclasses.field(default_factory=dict)
    requests: dict[uuid.UUID, RequestRecord] = dataclasses.field(default_factory=dict)
    appeals: dict[uuid.UUID, AppealRecord] = dataclasses.field(default_factory=dict)
    timers: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)  # id -> row (none fired)
    outbox: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    processed: set[uuid.UUID] = dataclasses.field(default_factory=set)
    erasures: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)
    ids: itertools.count[int] = dataclasses.field(default_factory=lambda: itertools.count(1))


class MemoryUnitOfWork(CopyUnit[MemoryStore]):
    def _copy(self, s: MemoryStore) -> MemoryStore:
        return dataclasses.replace(
            s,
            people=dict(s.people),
            requests=dict(s.requests),
            appeals=dict(s.appeals),
            timers=copy.deepcopy(s.timers),
            outbox=list(s.outbox),
            processed=set(s.processed),
            erasures=dict(s.erasures),
        )

    async def claim(self, events: Sequence[E]) -> list[E]:
        return claim_in_memory(self.work.processed, events)

    async def lock_people(self, niks: set[str], create: bool = True) -> People:
        if create:
            for nik in niks - self.work.people.keys():
                self.work.people[nik] = (Facts(nik), None)
        return {nik: self.work.people[nik] for nik in niks if nik in self.work.people}

    async def due_reminders(self, now: dt.datetime, limit: int) -> People:
        due = [(p[0].next_reminder_at, nik) for nik, p in self.work.people.items() if _le(p[0].next_reminder_at, now)]
        return {nik: self.work.people[nik] for _, nik in sorted(due)[:limit]}

    async def save_people(self, people: People) -> None:
        self.work.people.update(people)

    async def set_next_reminders(self, next_at: dict[str, dt.datetime | None]) -> None:
        for nik, at in next_at.items():
            facts, phone = self.work.people[nik]
            self.work.people[nik] = (dataclasses.replace(facts, next_reminder_at=at), phone)

    async def requests(self, ids: Iterable[uuid.UUID]) -> list[RequestRecord]:
        return [self.work.requests[i] for i in set(ids) if i in self.work.requests]

    async def on_record(self, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        return {i for i in ids if i in self.work.requests}

    async def requests_of(self, niks: set[str], pending_only: bool = False) -> list[RequestRecord]:
        return [
            r for r in self.work.requests.values() if r.nik in niks and (not pending_only or r.outcome == "PENDING")
        ]

    async def pending_past_close(self, now: dt.datetime, limit: int) -> set[str]:
        due = [
            (r.window_closes_at, r.nik)
            for r in self.work.requests.values()
            if r.outcome == "PENDING" and _le(r.window_closes_at, now)
        ]
        return {nik for _, nik in sorted(due)[:limit]}

    async def last_request_at(self, niks: set[str]) -> dict[str, dt.datetime]:
        last: dict[str, dt.datetime] = {}
        for r in self.work.requests.values():
            if r.nik in niks and (r.nik not in last or r.event.received_at > last[r.nik]):
                last[r.nik] = r.event.received_at
        return last

    async def siblings(self, phone: str, ids: tuple[uuid.UUID, uuid.UUID], nik: str) -> list[RequestRecord]:
        return [
            r
            for r in self.work.requests.values()
            if ids[0] <= r.request_id <= ids[1]
            and r.nik != nik
            and self.work.people.get(r.nik, (None, None))[1] == phone
        ]

    async def add_requests(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            self.work.requests.setdefault(r.request_id, r)

    async def update_decisions(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            if r.request_id in self.work.requests:
                self.work.requests[r.request_id] = r

    async def appeals(self, ids: Iterable[uuid.UUID]) -> list[AppealRecord]:
        return [self.work.appeals[i] for i in set(ids) if i in self.work.appeals]

    async def appeals_of_requests(self, request_ids: Iterable[uuid.UUID]) -> list[AppealRecord]:
        wanted = set(request_ids)
        return [a for a in self.work.appeals.values() if a.request_id in wanted]

    async def open_appeals_of(self, niks: set[str]) -> list[AppealRecord]:
        return [a for a in self.work.appeals.values() if a.nik in niks and a.status == "OPEN"]

    async def save_appeals(self, records: Iterable[AppealRecord]) -> None:
        for a in records:
            self.work.appeals[a.appeal_id] = a

    async def schedule(self, timers: list[dict[str, Any]]) -> None:
        keys = {(t["kind"], t["subject"], t["due_at"]) for t in self.work.timers.values()}
        for t in timers:
            if (t["kind"], t["subject"], t["due_at"]) not in keys:  # the unique constraint
                keys.add((t["kind"], t["subject"], t["due_at"]))
                self.work.timers[next(self.work.ids)] = dict(t)

    async def stop_timers(self, subjects: set[str]) -> None:
        for i, t in list(self.work.timers.items()):
            if t["subject"] in subjects:
                del self.work.timers[i]

    async def due_timers(self, now: dt.datetime, limit: int) -> list[TimerRecord]:
        due = sorted((t["due_at"], i) for i, t in self.work.timers.items() if t["due_at"] <= now)
        return [_timer(i, self.work.timers[i]) for _, i in due[:limit]]

    async def timers_fired(self, ids: list[int]) -> None:
        for i in ids:
            self.work.timers.pop(i, None)

    async def timers_pending(self) -> int:
        return len(self.work.timers)

    async def add_to_outbox(self, rows: list[dict[str, Any]]) -> None:
        known = {r["event_id"] for r in self.work.outbox}
        self.work.outbox.extend(r for r in rows if r["event_id"] not in known)  # event_id is unique

    async def waiting_in_outbox(self, niks: set[str]) -> bool:
        return any(not niks.isdisjoint(r["niks"]) for r in self.work.outbox)  # every row a bundle (outbox_rows)

    async def erased_among(self, niks: set[str]) -> dict[str, dt.datetime]:
        return {nik: at for nik, at in self.work.erasures.items() if nik in niks}

    async def erase(self, niks_at: dict[str, dt.datetime]) -> None:
        for nik, at in niks_at.items():
            self.work.erasures[nik] = max(at, self.work.erasures.get(nik, at))
            if nik in self.work.people:
                self.work.people[nik] = (self.work.people[nik][0], None)
        for rid, r in list(self.work.requests.items()):
            if r.nik in niks_at:
                self.work.requests[rid] = dataclasses.replace(r, event=without_contact(r.event))
        for aid, a in list(self.work.appeals.items()):
            if a.nik in niks_at:
                self.work.appeals[aid] = dataclasses.replace(a, event=without_contact(a.event))


def _le(at: dt.datetime | None, now: dt.datetime) -> bool:
    return at is not None and at <= now


def _timer(i: int, t: dict[str, Any]) -> TimerRecord:
    return TimerRecord(i, t["kind"], t["subject"], t["nik"], t["due_at"])
