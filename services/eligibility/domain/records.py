"""What a batch reads and what it changes (pure values): the rows of the eligibility schema as the rules
see them, and `Changes`, which a unit of work (store.py) writes in a handful of set-based statements."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from services.eligibility.domain.outgoing import Encoded
from services.eligibility.domain.rules import Decision, Facts
from shared.events import AppealRequested, Event, ReactivationRequested
from shared.topics import DECISIONS, EMERGENCY_DECISIONS, TIMER_EVENTS, WINDOW_REMINDERS, TopicSpec

# Every topic eligibility writes (through its outbox: store.outbox_rows, the relay): `Changes.publish` takes
# no other, and app.py declares these for the AsyncAPI document (shared.asyncapi).
WRITES: tuple[TopicSpec, ...] = (DECISIONS, EMERGENCY_DECISIONS, TIMER_EVENTS, WINDOW_REMINDERS)

Person = tuple[Facts, str | None]  # the facts and the contact number on file
People = dict[str, Person]  # NIK -> person


@dataclass(frozen=True)
class RequestRecord:
    """A request as received, with its current decision."""

    event: ReactivationRequested
    outcome: str
    reasons: tuple[str, ...]
    decided_at: dt.datetime
    window_closes_at: dt.datetime | None

    @property
    def request_id(self) -> uuid.UUID:
        return self.event.request_id

    @property
    def nik(self) -> str:
        return self.event.nik


@dataclass(frozen=True)
class AppealRecord:
    """One appeal per rejected request (request_id is unique)."""

    event: AppealRequested
    request_id: uuid.UUID
    status: str  # OPEN, UPHELD, DISMISSED
    reasons: tuple[str, ...]
    due_at: dt.datetime
    decided_at: dt.datetime | None = None

    @property
    def appeal_id(self) -> uuid.UUID:
        return self.event.appeal_id

    @property
    def nik(self) -> str:
        return self.event.nik


@dataclass(frozen=True)
class TimerRecord:
    id: int
    kind: str  # domain.schedule's kinds
    subject: str  # the request id
    nik: str
    due_at: dt.datetime


@dataclass
class Changes:
    """Everything one transaction writes. Decisions and metrics are derived from `decided`."""

    people: People = field(default_factory=dict)  # facts rows to write (new or changed)
    new_requests: dict[uuid.UUID, RequestRecord] = field(default_factory=dict)
    decided: dict[uuid.UUID, RequestRecord] = field(default_factory=dict)  # requests on record, decided anew
    new_appeals: dict[uuid.UUID, AppealRecord] = field(default_factory=dict)
    appeals: dict[uuid.UUID, AppealRecord] = field(default_factory=dict)  # appeals on record, changed
    timers: list[dict[str, Any]] = field(default_factory=list)  # to set (domain.schedule.timer)
    stopped: set[str] = field(default_factory=set)  # requests whose unfired timers go
    next_reminders: dict[str, dt.datetime | None] = field(default_factory=dict)
    # (topic, event, cause); a decision already encoded (domain.outgoing.Encoded)
    events: list[tuple[TopicSpec, Event | Encoded, uuid.UUID | None]] = field(default_factory=list)
    # (request, decision, decided at) of every decision made: metrics and the emergency log line.
    decisions: list[tuple[ReactivationRequested, Decision, dt.datetime]] = field(default_factory=list)
    notes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # log lines, once committed
    _published: set[tuple[str, uuid.UUID]] = field(default_factory=set)  # (topic, event id)

    def publish(self, topic: TopicSpec, event: Event | Encoded, cause: uuid.UUID | None) -> None:
        if topic not in WRITES:  # a bug: the document (app.py, from WRITES) would not say it
            raise ValueError(f"eligibility writes no topic {topic.name}: add it to domain.records.WRITES")
        # The same event twice on one topic in one batch (an appeal refused twice): once. On two topics (an
        # emergency's decision and its copy) it is two records.
        if (topic.name, event.event_id) in self._published:
            return
        self._published.add((topic.name, event.event_id))
        self.events.append((topic, event, cause))
