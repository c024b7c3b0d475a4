"""What the notifier knows of a person, folded from the events it already consumes (pure).

CEK answers from this: status, the window, what is still missing. The notifier never asks another
service or reads its schema; it keeps its own small copy, as the registry does, from the same facts:
- a deactivation (newer than the one known) starts a cycle: INACTIVE, its reason, its window;
- a request marks one open; a decision sets the status (as the registry maps it), the reasons it
  named and its follow-ups, and the window eligibility computed (its policy wins over our default);
- a reminder carries the window too; later facts (biometric recorded, NIK conflict resolved, a desil
  re-ranking of 1-5 after the deactivation, an ID Semesta) cure what they answer until the next decision.
Facts about someone the notifier holds no standing for (no deactivation, request or decision seen)
start nothing: a nationwide re-ranking would otherwise add a row for every citizen. Events arrive late
and twice: an older deactivation or a decision older than the status already set changes no status.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from shared.appeals import matches_reference
from shared.enums import DecisionReason, Outcome, ParticipantStatus
from shared.events import (
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    Event,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
)
from shared.window import reactivation_window_closes_at

S = ParticipantStatus
STARTS = (ParticipantDeactivated, ReactivationRequested, ReactivationDecided, WindowReminderDue)
FACTS = (BiometricRecorded, DeathReported, DesilUpdated, IdSemestaAssigned, NikConflictReported, NikConflictResolved)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 3x, and fold runs for every event of a wave
class Standing:
    """Treated as immutable: fold returns a new one (`_with`, a copy)."""

    nik: str
    status: ParticipantStatus | None = None  # None: no deactivation or decision seen yet
    deactivated_on: dt.date | None = None
    deactivation_reason: str | None = None
    window_closes_at: dt.datetime | None = None
    reasons: tuple[str, ...] = ()  # the latest decision's reasons
    follow_ups: tuple[str, ...] = ()  # the latest decision's follow-ups
    biometric_recorded: bool = False
    nik_conflict_resolved: bool = False  # a resolution seen since the conflict was last reported
    id_semesta: bool = False
    deceased: bool = False
    desil: int | None = None
    desil_on: dt.date | None = None
    request_open: bool = False
    last_status_at: dt.datetime | None = None
    # The person's latest requests (hex ids, newest first): BANDING <reference> from a family's phone is
    # handed on only for the NIK whose request it names.
    request_ids: tuple[str, ...] = ()


KEPT_REQUESTS = 5
_VALUES = attrgetter(*(f.name for f in fields(Standing)))  # every field, in the constructor's order
CONCERNING = STARTS + FACTS


def _with(s: Standing, **changes: Any) -> Standing:
    """A copy of `s` with `changes`: what dataclasses.replace gives (Standing has no __post_init__ and no
    init=False field), at about a third of its cost (fold runs for every event of a batch)."""
    new = Standing(*_VALUES(s))
    for name, value in changes.items():
        setattr(new, name, value)
    return new


def _with_request(s: Standing, request_id: str) -> tuple[str, ...]:
    return (request_id, *(r for r in s.request_ids if r != request_id))[:KEPT_REQUESTS]


def concerns(event: Event) -> bool:
    return isinstance(event, CONCERNING)


def creates(event: Event) -> bool:
    """Whether the event starts a standing for someone the notifier does not hold yet."""
    return isinstance(event, STARTS) and not _waits_for_deactivation(event)


def _waits_for_deactivation(event: Event) -> bool:
    return (
        isinstance(event, ReactivationDecided)
        and event.outcome in (Outcome.PENDING, Outcome.REJECTED)
        and (DecisionReason.NOT_DEACTIVATED in event.reasons or DecisionReason.NIK_INVALID in event.reasons)
    )


def fold(s: Standing | None, event: Event, window_months: int = 6) -> Standing | None:
    """The standing after one event (None: still nothing to hold)."""
    if s is None:
        if not creates(event):
            return None
        s = Standing(event.nik)
    match event:
        case ParticipantDeactivated():
            return _deactivated(s, event, window_months)
        case ReactivationRequested():
            request_ids = _with_request(s, event.request_id.hex)
            return _with(s, request_ids=request_ids, request_open=s.request_open or s.status is not S.ACTIVE)
        case ReactivationDecided():
            return _decided(s, event)
        case WindowReminderDue():
            return _with(s, window_closes_at=event.window_closes_at)
        case BiometricRecorded():
            return _with(s, biometric_recorded=True)
        case DeathReported():
            return _with(s, deceased=True)
        case DesilUpdated():
            return _with(s, desil=event.desil, desil_on=event.effective_on)
        case IdSemestaAssigned():
            return _with(s, id_semesta=True)
        case NikConflictReported():
            return _with(s, nik_conflict_resolved=False)
        case NikConflictResolved():
            return _with(s, nik_conflict_resolved=True)
    return s


def _deactivated(s: Standing, e: ParticipantDeactivated, months: int) -> Standing:
    if s.deactivated_on is not None and e.deactivated_on <= s.deactivated_on:
        return s  # the same deactivation again, or an older one: the window never moves back
    reason = e.reason.value
    stale = s.last_status_at is not None and e.occurred_at < s.last_status_at
    # One copy (each costs a full __init__): a stale deactivation (older than the decision already
    # applied) fills in its details and keeps the status; a current one starts the cycle.
    return _with(
        s,
        deactivated_on=e.deactivated_on,
        deactivation_reason=reason,
        window_closes_at=_window_closes_at(e.deactivated_on, e.nik, months),
        deceased=s.deceased or reason == "DECEASED",
        # Deactivated for want of it: whatever was recorded before no longer counts.
        biometric_recorded=s.biometric_recorded and reason != "NO_BIOMETRIC",
        nik_conflict_resolved=s.nik_conflict_resolved and reason != "NIK_CONFLICT",
        status=s.status if stale else S.INACTIVE,
        reasons=s.reasons if stale else (),
        follow_ups=s.follow_ups if stale else (),
        request_open=s.request_open and stale,
        last_status_at=s.last_status_at if stale else e.occurred_at,
    )


def _window_closes_at(deactivated_on: dt.date, nik: str, months: int) -> dt.datetime:
    return _closes_in_province(deactivated_on, nik[:2], months)


@functools.lru_cache(maxsize=1024)
def _closes_in_province(deactivated_on: dt.date, province: str, months: int) -> dt.datetime:
    """The window depends on the NIK through its province's time zone only (shared.window): a wave's people,
    deactivated on a few dates, share a few windows (computed once each, not once per person)."""
    return reactivation_window_closes_at(deactivated_on, province.ljust(16, "0"), months)


def _decided(s: Standing, e: ReactivationDecided) -> Standing:
    if _waits_for_deactivation(e) or (s.last_status_at is not None and e.occurred_at < s.last_status_at):
        return s  # (its request was recorded when it was made)
    expired = e.outcome is Outcome.EXPIRED or DecisionReason.WINDOW_EXPIRED in e.reasons
    if e.outcome is Outcome.APPROVED:
        status = S.ACTIVE
    elif s.status is S.ACTIVE and e.outcome is Outcome.REJECTED:
        status = S.ACTIVE  # e.g. ALREADY_ACTIVE
    elif expired:
        status = S.EXPIRED
    elif e.outcome is Outcome.PENDING:
        status = S.REACTIVATION_PENDING
    else:
        status = S.INACTIVE
    return _with(
        s,
        status=status,
        reasons=tuple([r._value_ for r in e.reasons]),
        follow_ups=tuple([f._value_ for f in e.follow_ups]),
        window_closes_at=e.window_closes_at or s.window_closes_at,
        request_open=e.outcome is Outcome.PENDING,
        last_status_at=e.occurred_at,
        request_ids=_with_request(s, e.request_id.hex),
    )


def names_request(s: Standing, reference: str) -> bool:
    """Whether one of the person's latest requests is the one `reference` names (shared.appeals)."""
    return any(matches_reference(uuid.UUID(hex=r), reference) for r in s.request_ids)


@dataclass(slots=True)
class StandingChanges:
    created: list[Standing]  # people the notifier held no standing for
    updated: list[Standing]  # standings the batch changed


def fold_batch(known: dict[str, Standing], events: Iterable[Event]) -> StandingChanges:
    """The standings after a batch, folded event by event onto those held (`known`: the batch's people)."""
    current: dict[str, Standing | None] = dict(known)
    for event in events:
        if concerns(event):
            current[event.nik] = fold(current.get(event.nik), event)
    changes = StandingChanges([], [])
    for nik, s in current.items():
        if s is not None and s != known.get(nik):
            (changes.updated if nik in known else changes.created).append(s)
    return changes
