"""From events to messages (pure): the kind, whether it is urgent, and when it may be sent."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import uuid
from dataclasses import dataclass

from services.notifier.domain import commands
from shared.appeals import request_reference
from shared.enums import AppealStatus, DeactivationReason, DecisionReason, Outcome, ReactivationPath
from shared.events import (
    AppealUpdated,
    Event,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
)
from shared.timezones import zone_for_province

QUIET_START, QUIET_END = dt.time(21, 0), dt.time(7, 0)
NAMESPACE = uuid.UUID("9a3e1c55-0d7f-4b8e-b5d2-2f6c8e4a7b19")
_NAMESPACE_SHA1 = hashlib.sha1(NAMESPACE.bytes, usedforsecurity=False)
DECISION_KINDS = {
    Outcome.APPROVED: "approved",
    Outcome.REJECTED: "rejected",
    Outcome.PENDING: "pending",
    Outcome.EXPIRED: "expired",
}
EMERGENCY_DECISION_KINDS = DECISION_KINDS | {Outcome.APPROVED: "emergency_approved"}
# What the person hears of an appeal; UPHELD is told by the APPROVED decision that comes with it.
APPEAL_KINDS = {
    AppealStatus.OPEN: "appeal_received",
    AppealStatus.DISMISSED: "appeal_dismissed",
    AppealStatus.REFUSED: "appeal_refused",
}


@dataclass(frozen=True)
class Message:
    message_id: uuid.UUID
    nik: str
    kind: str
    urgent: bool
    context: dict[str, object]


def message_for(event: Event) -> Message | None:
    """The message an event deserves, or None. The id is derived from the event: one message per event."""
    kind: str | None = None
    urgent = False
    context: dict[str, object] = {}
    match event:
        case ParticipantDeactivated():
            # The family reads a death notice: its own text, no promise of reactivation (templates).
            kind = "deactivated_deceased" if event.reason is DeactivationReason.DECEASED else "deactivated"
            context = {"reason": event.reason.value, "deactivated_on": event.deactivated_on}
        case ReactivationRequested():
            kind, urgent = "received", event.path is ReactivationPath.EMERGENCY
        case ReactivationDecided() if event.appeal_id is not None and event.outcome is Outcome.APPROVED:
            # An upheld appeal: one message, worded as the appeal's outcome (appeal.updated UPHELD sends none).
            kind, context = "appeal_upheld", {"follow_ups": [f.value for f in event.follow_ups]}
        case AppealUpdated():
            kind = APPEAL_KINDS.get(event.status)
            reference = request_reference(event.request_id) if event.request_id else None
            context = {"reasons": list(event.reasons), "due_at": event.due_at, "reference": reference}
        case ReactivationDecided() if (
            event.outcome is Outcome.PENDING and DecisionReason.NOT_DEACTIVATED in event.reasons
        ):
            pass  # eligibility waits for a deactivation that may still be on its way: nothing to tell yet
        case ReactivationDecided():
            emergency = event.path is ReactivationPath.EMERGENCY
            kind = (EMERGENCY_DECISION_KINDS if emergency else DECISION_KINDS)[event.outcome]
            urgent = emergency
            context = {
                "reasons": [r._value_ for r in event.reasons],
                "follow_ups": [f._value_ for f in event.follow_ups],
                "window_closes_at": event.window_closes_at,
                "reference": request_reference(event.request_id),  # for `BANDING <reference>` (shared.appeals)
            }
        case WindowReminderDue():
            kind, context = "window_closing", {"days_left": event.days_left, "window_closes_at": event.window_closes_at}
    if kind is None:
        return None
    return Message(message_id(event.event_id, kind), event.nik, kind, urgent, context)


# uuid.UUID(bytes=digest[:16], version=5) does this to the digest's number: variant RFC 4122, version 5
# (as services/eligibility/domain/outgoing.py makes its decision ids).
_UUID5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID5_SET = (0x8000 << 48) | (5 << 76)
_new_object, _set_slot, _UUID, _SAFE_UNKNOWN = object.__new__, object.__setattr__, uuid.UUID, uuid.SafeUUID.unknown


def message_id(event_id: uuid.UUID, kind: str) -> uuid.UUID:
    """uuid.uuid5(NAMESPACE, f"{event_id}:{kind}"), with the namespace's part of the hash computed once and
    the UUID made from its number directly (UUID.__init__ checks its five ways of being called first)."""
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(f"{event_id}:{kind}".encode())
    made = _new_object(_UUID)
    _set_slot(made, "int", (int.from_bytes(sha1.digest()[:16]) & _UUID5_CLEAR) | _UUID5_SET)
    _set_slot(made, "is_safe", _SAFE_UNKNOWN)
    return made


def send_after(nik: str, urgent: bool, now: dt.datetime) -> dt.datetime:
    """Urgent messages go at once; others wait out quiet hours (21:00-07:00 in the person's zone).
    Asked when a message is queued, requeued (retry, crash recovery) and again before every send."""
    if urgent:
        return now
    return _quiet_hours_end(nik[:2], now) or now


@functools.lru_cache(maxsize=256)
def _quiet_hours_end(province: str, now: dt.datetime) -> dt.datetime | None:
    """When quiet hours end in the province at `now` (None: not quiet). The zone depends on the NIK through its
    province only (shared.timezones): a batch's messages, queued at one `now`, share a few answers."""
    local = now.astimezone(zone_for_province(province))
    if QUIET_END <= local.time() < QUIET_START:
        return None
    release = local.replace(hour=7, minute=0, second=0, microsecond=0)
    if local.time() >= QUIET_START:
        release += dt.timedelta(days=1)
    return release.astimezone(dt.UTC)


def held_until(nik: str, urgent: bool, now: dt.datetime) -> dt.datetime | None:
    """None: the message may go now; else the moment quiet hours end (07:00 local) for it."""
    release = send_after(nik, urgent, now)
    return release if release > now else None


def is_opt_out(text: str) -> bool:
    """BERHENTI/STOP, any case, with punctuation (domain/commands.py)."""
    return commands.is_opt_out(text)
