"""A batch of mirrored events, folded into the changes it makes (pure: the store writes them).

`Fold(people, now).add(events)` applies the events in partition order to the batch's participants and
collects what to write: participants, history rows (each with the status change to announce, if any),
anomalies, request rows, notification states, worklist items opened and closed. Which events need a
claim in the inbox and which are de-duplicated by their own effect is said here too (`dedup_by_effect`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar, cast

from shared.enums import DecisionReason, ParticipantStatus, SlaState, WorklistKind
from shared.events import (
    AppealUpdated,
    EmergencySlaChanged,
    Event,
    NotificationUpdated,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
)
from shared.nik import parse_nik
from shared.sla import advance_sla, sla_of_decision, sla_of_event

from . import delivery
from .ids import uuid5
from .requests import Row, decision_row, region_of, request_row, sla_row
from .status import STILL_OUT, Applied, HistoryEntry, Participant, Region, apply, window_closed
from .worklist import (
    Satisfied,
    WorkItem,
    already_satisfied,
    appeal_decided,
    appeal_item,
    breach_item,
    finally_decided,
    items_for_decision,
    satisfied_by,
)

E = TypeVar("E", bound=Event)

# Events the registry mirrors without acting on them: no effect, no claim.
IGNORED = frozenset({"participant.status_changed", "participant.window_reminder_due"})
DECIDED = "reactivation.decided"
# Events whose effects have no key of their own (SLA states, appeal items are upserts of shared rows):
# claimed in the inbox before they are applied.
CLAIMED_TYPES = frozenset(c.model_fields["type"].default for c in (EmergencySlaChanged, AppealUpdated))
# Events applied whenever they come, neither claimed nor looked up: a request (its row takes the same
# values again: requests.merge) and a message's state updates (they end in the same row in any order and
# any number of times: delivery.merge), so a redelivery changes nothing. An inbox row each was a third of
# what a decision's request and messages cost the registry.
APPLIED_AGAIN = frozenset(c.model_fields["type"].default for c in (ReactivationRequested, NotificationUpdated))


_ELSEWHERE = CLAIMED_TYPES | APPLIED_AGAIN | IGNORED | {DECIDED}  # handled beyond the participant's state


def claimed_in_inbox(e: Event) -> bool:
    """(Compared by type name: isinstance against pydantic classes goes through ABCMeta, per event.)"""
    return getattr(e, "type", "") in CLAIMED_TYPES


def dedup_by_effect(e: Event) -> bool:
    """Deactivations, facts and decisions: applied once each because their effect is keyed by the event (a
    history row or an anomaly per (event, NIK)), so no inbox row is written for them; one that changes
    nothing (the same deactivation again) is remembered in the inbox instead."""
    kind = getattr(e, "type", "")
    return kind not in CLAIMED_TYPES and kind not in IGNORED and kind not in APPLIED_AGAIN


def ignored(e: Event) -> bool:
    """Mirrored without an effect (the registry's own status changes, window reminders)."""
    return getattr(e, "type", "") in IGNORED


def keeps_contact(e: Event) -> bool:
    """Deactivations and decisions: the only events whose contact data (a number) the fold keeps, on the
    participant's row; an erased person's others are scrubbed for nothing (no row of theirs holds any)."""
    return getattr(e, "type", "") in _KEEPS_CONTACT


def needs_region(e: Event) -> bool:
    """Requests, SLA states and appeals: their rows carry the person's region, which the participant's
    row says (read, not locked: they change no participant). A message's state needs nobody."""
    kind = getattr(e, "type", "")
    return kind in CLAIMED_TYPES or kind == _REQUESTED


_REQUESTED = ReactivationRequested.model_fields["type"].default
_KEEPS_CONTACT = frozenset({ParticipantDeactivated.model_fields["type"].default, DECIDED})
_SLA_CHANGED = EmergencySlaChanged.model_fields["type"].default
_NOTIFIED = NotificationUpdated.model_fields["type"].default
_APPEALED = AppealUpdated.model_fields["type"].default


@dataclass(frozen=True, slots=True)
class StatusChange:
    """What a `ParticipantStatusChanged` (source "registry") says, as plain values: a wave announces
    thousands per batch, and the unit of work encodes them straight to their JSON (uow.status_change_json)
    without a pydantic model per row."""

    event_id: uuid.UUID
    occurred_at: dt.datetime
    nik: str
    previous_status: ParticipantStatus | None
    status: ParticipantStatus
    cause_event_id: uuid.UUID
    cause_type: str
    reasons: tuple[str, ...]  # DecisionReason values only
    window_closes_at: dt.datetime | None
    # No phone: the event's `phone` stays empty (shared.events.ParticipantStatusChanged says why).


@dataclass(frozen=True)
class Recorded:
    """A history row, with the status change it announces (None when the status stayed)."""

    nik: str
    entry: HistoryEntry
    announce: StatusChange | None


@dataclass(frozen=True)
class AnomalyRecord:
    event_id: uuid.UUID
    nik: str
    kind: str
    detail: str
    recorded_at: dt.datetime


@dataclass
class Changes:
    now: dt.datetime  # the batch's clock: what a fact closing worklist items stamps
    people: dict[str, Participant] = field(default_factory=dict)  # the changed ones, as they end
    history: list[Recorded] = field(default_factory=list)
    anomalies: list[AnomalyRecord] = field(default_factory=list)
    requests: dict[uuid.UUID, Row] = field(default_factory=dict)  # three sources, merged in this order
    decisions: dict[uuid.UUID, Row] = field(default_factory=dict)
    sla: dict[uuid.UUID, Row] = field(default_factory=dict)
    notifications: dict[uuid.UUID, Row] = field(default_factory=dict)
    opened: dict[uuid.UUID, WorkItem] = field(default_factory=dict)
    released: dict[uuid.UUID, tuple[dt.datetime, str]] = field(default_factory=dict)  # finally decided
    closing: dict[tuple[str, WorklistKind], Satisfied] = field(default_factory=dict)  # done by the facts
    appeals_decided: dict[uuid.UUID, tuple[dt.datetime, str]] = field(default_factory=dict)
    unkeyed: list[uuid.UUID] = field(default_factory=list)  # de-duplicated by effect, yet left none


class Fold:
    def __init__(self, people: Mapping[str, Participant | None], now: dt.datetime) -> None:
        self.people, self.now, self.changes = dict(people), now, Changes(now)

    def add(self, events: Iterable[Event]) -> Changes:
        for event in events:
            self._one(event)
        return self.changes

    def _one(self, event: Event) -> None:  # noqa: C901 - one branch per kind of event
        # Told apart by type name, not isinstance: a pydantic class's check goes through ABCMeta, in Python.
        kind = getattr(event, "type", "")
        if kind not in _ELSEWHERE:  # a deactivation or a fact: the participant's state alone
            if (fact := satisfied_by(event)) is not None:
                self.changes.closing.setdefault((event.nik, fact.kind), fact)
            self._state(event, region_from_nik(event.nik))
            return
        c = self.changes
        if kind == _NOTIFIED:  # a message's state: nobody's region
            event = cast(NotificationUpdated, event)
            row = {
                "message_id": event.message_id,
                "channel": str(event.channel),
                "kind": event.kind,
                "state": str(event.state),
                "updated_at": event.occurred_at,
                **delivery.moments(event.state, event.occurred_at),  # for the dashboard's charts
            }
            c.notifications[event.message_id] = delivery.merge(c.notifications.get(event.message_id), row)
            return
        if kind in IGNORED:
            return
        p, home = self.people.get(event.nik), region_from_nik(event.nik)
        region = region_of(p, home)
        if kind == DECIDED:
            decision = cast(ReactivationDecided, event)
            self._decision(decision, p, region, home)
            self._state(decision, home)
        elif kind == _REQUESTED:
            request = cast(ReactivationRequested, event)
            c.requests[request.request_id] = request_row(request, region)
        elif kind == _SLA_CHANGED:
            changed = cast(EmergencySlaChanged, event)
            self._sla(changed, sla_of_event(changed.sla_state, changed.occurred_at, changed.sla_deadline), home)
            if (breach := breach_item(changed, region)) is not None:
                c.opened.setdefault(breach.item_id, breach)
        elif kind == _APPEALED:
            appeal = cast(AppealUpdated, event)
            if (item := appeal_item(appeal, region)) is not None:
                c.opened.setdefault(item.item_id, item)
            if appeal_decided(appeal) and appeal.request_id is not None:
                c.appeals_decided[appeal.request_id] = (appeal.decided_at or appeal.occurred_at, appeal.status.value)

    def _decision(self, e: ReactivationDecided, p: Participant | None, region: Region, home: Region) -> None:
        """`region`: the person's (their row's, else their NIK's); `home`: their NIK's."""
        c = self.changes
        previous = c.decisions.get(e.request_id)
        if previous is None or previous["decided_at"] <= e.decided_at:
            c.decisions[e.request_id] = decision_row(e, home)
        # A final decision says what became of the clock too (met late, closed), whichever timer event
        # comes, or came, on the other topic (only an emergency has one).
        if e.sla_deadline is not None:
            self._sla(e, sla_of_decision(e.outcome, e.decided_at, e.sla_deadline), home)
        # Follow-ups and held emergencies go on the worklist with the request (first one wins); a follow-up
        # whose fact the registry already has is closed at once.
        for item in items_for_decision(e, region):
            c.opened.setdefault(item.item_id, item)
            if p is not None and (done := already_satisfied(item.kind, p.biometric_recorded, p.id_semesta)):
                c.closing.setdefault((e.nik, item.kind), done)
        if finally_decided(e):  # what held it, and what a PENDING waited for, are settled
            c.released[e.request_id] = (e.decided_at, e.outcome.value)

    def _state(self, event: Event, home: Region) -> None:
        """`home`: the region of the event's NIK."""
        before = len(self.changes.history) + len(self.changes.anomalies)
        nik = event.nik
        self._collect(nik, event.event_id, apply(self.people.get(nik), event, home))
        person = self.people.get(nik)
        if person is not None and person.status in STILL_OUT:
            # Applied after the window closed (a late list, a late decision): expired at once, as the
            # sweep would have done, so nobody is ever seen out past their window's close.
            self._collect(nik, event.event_id, window_closed(person, self.now))
        if len(self.changes.history) + len(self.changes.anomalies) == before:
            self.changes.unkeyed.append(event.event_id)

    def _collect(self, nik: str, event_id: uuid.UUID, result: Applied) -> None:
        c, after = self.changes, result.participant
        if result.anomaly:
            c.anomalies.append(AnomalyRecord(event_id, nik, result.anomaly.kind, result.anomaly.detail, self.now))
        # Compared field by field as their __dict__s (in C; a dataclass's == builds two tuples of 15 in Python).
        if after is not None and ((before := self.people.get(nik)) is None or after.__dict__ != before.__dict__):
            self.people[nik] = c.people[nik] = after
        if result.history:
            announce = status_changed(after, result.history) if after and result.status_changed else None
            c.history.append(Recorded(nik, result.history, announce))

    def _sla(self, e: EmergencySlaChanged | ReactivationDecided, state: SlaState | None, home: Region) -> None:
        if state is None or e.sla_deadline is None:
            return
        previous = self.changes.sla.get(e.request_id)
        state = advance_sla(previous["sla_state"] if previous else None, state) or SlaState.OK
        self.changes.sla[e.request_id] = sla_row(e, home, state.value)


def expire(people: Iterable[Participant], now: dt.datetime) -> Changes:
    """The window-close sweep's batch: whoever is still out past their window's close becomes EXPIRED."""
    people = list(people)
    fold = Fold({p.nik: p for p in people}, now)
    for p in people:
        result = window_closed(p, now)
        if result.history is not None:
            fold._collect(p.nik, result.history.event_id, result)
    return fold.changes


def status_changed(p: Participant, h: HistoryEntry) -> StatusChange:
    # Every field is already validated (from decoded events): the change is announced as it is.
    return StatusChange(
        derived_id(h.event_id, p.nik),
        h.occurred_at,
        p.nik,
        h.previous_status,
        h.status,
        h.event_id,
        h.event_type,
        tuple(r for r in h.reasons if r in _DECISION_REASONS) if h.reasons else (),
        p.window_closes_at,
    )


_DECISION_REASONS = frozenset(r.value for r in DecisionReason)
_NAMESPACE = uuid.UUID("5a0f3b0e-8f4f-4d7e-9d61-6a1b9a3c2f70")
_NAMESPACE_BYTES = _NAMESPACE.bytes
_REGIONS: dict[str, Region] = {}


def derived_id(cause: uuid.UUID, nik: str) -> uuid.UUID:
    """The status change caused by one event always has the same id (redelivery-safe)."""
    return uuid5(_NAMESPACE_BYTES, f"{cause}:{nik}")


def region_from_nik(nik: str) -> Region:
    """Province, regency and district names (Kemendagri's list; the district code when the list does
    not know it) from the NIK's first six digits (cached per district: the NIK was validated at decoding)."""
    region = _REGIONS.get(nik[:6])
    if region is None:
        parts = parse_nik(nik)
        district = parts.district_name or parts.district_code
        region = _REGIONS[nik[:6]] = (parts.province_name, parts.regency_name, district)
    return region


def first_deliveries(events: Iterable[E]) -> list[E]:
    """The batch without repeated event ids, each event at the place of its first delivery."""
    first: dict[int, E] = {}
    for e in events:
        first.setdefault(e.event_id.int, e)  # by its number: a UUID's own hash is Python
    return list(first.values())
