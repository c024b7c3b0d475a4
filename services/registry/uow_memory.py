"""The registry's unit of work in memory: the same claims, de-duplication and merge rules as PgUnitOfWork,
on dicts, so the handler's cases run in milliseconds (tests/unit/registry/handler_cases.py runs the same
cases against both). A unit of work works on a copy and publishes it on commit: an error rolls back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.registry.domain import delivery, requests
from services.registry.domain.batch import Changes, StatusChange, claimed_in_inbox, dedup_by_effect
from services.registry.domain.status import STILL_OUT, Participant
from services.registry.domain.worklist import EMERGENCY_KINDS, FINAL, WAITING_KINDS, item_id, listed_again
from services.registry.worklist import APPEAL_SYSTEM, SYSTEM
from shared.enums import WorklistKind
from shared.events import Event
from shared.uow import CopyUnit

Row = dict[str, Any]


@dataclass
class MemoryStore:
    people: dict[str, Participant] = field(default_factory=dict)
    history: dict[tuple[uuid.UUID, str], Row] = field(default_factory=dict)  # in insertion order
    anomalies: dict[tuple[uuid.UUID, str], Row] = field(default_factory=dict)
    inbox: set[uuid.UUID] = field(default_factory=set)
    requests: dict[uuid.UUID, Row] = field(default_factory=dict)
    notifications: dict[uuid.UUID, Row] = field(default_factory=dict)
    worklist: dict[uuid.UUID, Row] = field(default_factory=dict)
    erasures: dict[str, dt.datetime] = field(default_factory=dict)
    outbox: dict[uuid.UUID, tuple[str, StatusChange]] = field(default_factory=dict)  # id: topic, status change


class MemoryUnitOfWork(CopyUnit[MemoryStore]):
    def __init__(self, store: MemoryStore, prefix: str) -> None:
        super().__init__(store)
        self.prefix = prefix

    async def claim(self, events: Sequence[Event]) -> list[Event]:
        claimed = {e.event_id for e in events if claimed_in_inbox(e) and e.event_id not in self.work.inbox}
        self.work.inbox |= claimed
        return [e for e in events if e.event_id in claimed or not claimed_in_inbox(e)]

    async def lock_people(self, niks: Iterable[str]) -> dict[str, Participant | None]:
        return {n: self.work.people[n] for n in sorted(set(niks)) if n in self.work.people}

    async def read_people(self, niks: Iterable[str]) -> dict[str, Participant | None]:
        return {n: self.work.people[n] for n in set(niks) if n in self.work.people}

    async def unseen(self, events: Sequence[Event]) -> list[Event]:
        seen = {k[0] for k in self.work.history} | {k[0] for k in self.work.anomalies} | self.work.inbox
        return [e for e in events if not (dedup_by_effect(e) and e.event_id in seen)]

    async def erased(self, niks: Iterable[str]) -> dict[str, dt.datetime]:
        return {n: self.work.erasures[n] for n in set(niks) if n in self.work.erasures}

    async def expiring(self, now: dt.datetime, limit: int) -> list[Participant]:
        out = [
            p
            for p in self.work.people.values()
            if p.status in STILL_OUT and p.window_closes_at and p.window_closes_at < now
        ]
        return sorted(out, key=lambda p: p.window_closes_at)[:limit]  # type: ignore[arg-type, return-value]

    async def save(self, c: Changes) -> int:
        s = self.work
        for rows, source in ((c.requests, "request"), (c.decisions, "decision"), (c.sla, "sla")):
            for rid, row in rows.items():
                s.requests[rid] = requests.merge(s.requests.get(rid), row, source)  # type: ignore[arg-type]
        self._record(c)
        for (nik, kind), fact in c.closing.items():
            for row in s.worklist.values():
                if (row["nik"], row["kind"], row["state"]) == (nik, kind.value, "OPEN") and row[
                    "opened_at"
                ] <= fact.opened_by:
                    row.update(state="DONE", closed_by=f"system:{fact.by}", closed_at=c.now, note=fact.note)
        for rid, (at, status) in c.appeals_decided.items():
            self._close(item_id(rid, WorklistKind.APPEAL_REVIEW), APPEAL_SYSTEM, at, f"appeal {status}")
        for mid, row in c.notifications.items():
            s.notifications[mid] = delivery.merge(s.notifications.get(mid), row)
        s.people.update(c.people)
        new = set()
        for r in c.history:
            key = (r.entry.event_id, r.nik)
            if key not in s.history:
                new.add(key)
                s.history[key] = {"nik": r.nik, **r.entry.__dict__}
                if r.announce is not None:
                    s.outbox.setdefault(r.announce.event_id, (self.prefix, r.announce))
        for a in c.anomalies:
            s.anomalies.setdefault((a.event_id, a.nik), dict(a.__dict__))
        s.inbox |= set(c.unkeyed)
        return len(new)

    def _record(self, c: Changes) -> None:
        """worklist.record: open each item once (not the emergency or waiting ones of a request already
        finally decided), then settle what the final decisions settle."""
        s = self.work
        for key, i in c.opened.items():
            decided = (s.requests.get(i.request_id) or {}).get("status") in FINAL
            if (i.kind in EMERGENCY_KINDS or i.waiting) and decided:
                continue
            s.worklist.setdefault(key, _item_row(i))
        kept = listed_again(c.opened)
        for rid, (at, outcome) in c.released.items():
            for kind in sorted(EMERGENCY_KINDS | WAITING_KINDS):
                if (key := item_id(rid, kind)) not in kept:
                    self._close(key, SYSTEM, at, f"decided {outcome}")

    def _close(self, key: uuid.UUID, by: str, at: dt.datetime, note: str) -> None:
        row = self.work.worklist.get(key)
        if row is not None and row["state"] == "OPEN":
            row.update(state="DONE", closed_by=by, closed_at=at, note=note)


def _item_row(i: Any) -> Row:
    province, regency, district = i.region
    return {
        "item_id": i.item_id,
        "kind": i.kind.value,
        "nik": i.nik,
        "request_id": i.request_id,
        "province": province,
        "regency": regency,
        "district": district,
        "opened_at": i.opened_at,
        "due_at": i.due_at,
        "state": "OPEN",
        "closed_by": None,
        "closed_at": None,
        "note": None,
    }
