"""Worklist items from decisions (CONTRACT.md, operations worklist): what people must do by hand.

- Follow-ups travel on the decision (an emergency approved despite desil 7 needs DESIL_REVERIFICATION,
  one without biometrics BIOMETRIC_RECORDING, one without ID Semesta SIKS_NG_ENTRY): one item each.
- An emergency held PENDING by an open NIK conflict (or by a deactivation list not yet seen) cannot
  wait for its 24 hours to run out: EMERGENCY_HELD at once, due at the SLA deadline, done by itself
  when the emergency is finally decided.

- An emergency whose SLA is BREACHED is an SLA_BREACHED item (due at the deadline it missed), done
  with the final decision like EMERGENCY_HELD.
- A fact that does the work closes the person's open items of its kind (see satisfied_by): a biometric
  recording closes BIOMETRIC_RECORDING, an ID Semesta SIKS_NG_ENTRY, a re-ranking dated no earlier than
  the day the item was opened DESIL_REVERIFICATION. EMERGENCY_HELD waits for the final decision: a
  resolved conflict may still leave the emergency held (no list yet).
- An appeal that new facts did not uphold at once is APPEAL_REVIEW, due at the appeal's due date, done
  when the appeal is upheld or dismissed (eligibility's appeal.updated).

One item per (request, kind), whatever is redelivered or decided again: the id is derived from both.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from shared.enums import AppealStatus, DecisionReason, Outcome, ReactivationPath, SlaState, WorklistKind
from shared.events import (
    AppealUpdated,
    BiometricRecorded,
    DesilUpdated,
    EmergencySlaChanged,
    Event,
    IdSemestaAssigned,
    ReactivationDecided,
)

from .ids import uuid5

FOLLOW_UP_DUE = dt.timedelta(days=30)  # time given to the village / Dukcapil / Dinsos to act
EMERGENCY_SLA = dt.timedelta(hours=24)
HOLDING_REASONS = frozenset({DecisionReason.NIK_CONFLICT, DecisionReason.NOT_DEACTIVATED})
FINAL = frozenset({Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED})
# Items about an emergency's clock: done when the emergency is finally decided.
EMERGENCY_KINDS = frozenset({WorklistKind.EMERGENCY_HELD, WorklistKind.SLA_BREACHED})
# What a PENDING request waits for that someone can chase (the village for a re-ranking, Dukcapil for a
# biometric recording): an item each, due when the window closes; moot once the request is finally
# decided (unless the decision lists it again as a follow-up).
WAITING_FOR = {
    DecisionReason.DESIL_UNKNOWN: WorklistKind.DESIL_REVERIFICATION,
    DecisionReason.BIOMETRIC_MISSING: WorklistKind.BIOMETRIC_RECORDING,
}
WAITING_KINDS = frozenset(WAITING_FOR.values())
_WAITING_BY_VALUE = {reason.value: kind for reason, kind in WAITING_FOR.items()}
ALWAYS = dt.datetime.max.replace(tzinfo=dt.UTC)  # a fact that satisfies an item whenever it was opened
_NAMESPACE = uuid.UUID("7d1e2c3a-4b5f-4e6a-9c8d-0f1a2b3c4d5e")
_NAMESPACE_BYTES = _NAMESPACE.bytes

Region = tuple[str, str, str]


@dataclass(frozen=True)
class WorkItem:
    item_id: uuid.UUID
    kind: WorklistKind
    nik: str
    request_id: uuid.UUID
    region: Region
    opened_at: dt.datetime
    due_at: dt.datetime | None
    waiting: bool = False  # opened for a PENDING request: moot once the request is finally decided


def item_id(request_id: uuid.UUID, kind: WorklistKind | str) -> uuid.UUID:
    return uuid5(_NAMESPACE_BYTES, f"{request_id}:{kind}")


def items_for_decision(e: ReactivationDecided, region: Region) -> list[WorkItem]:
    """The items a decision opens (none are closed here; see finally_decided)."""
    kinds: list[tuple[WorklistKind, dt.datetime | None, bool]] = [
        (WorklistKind(f.value), e.decided_at + FOLLOW_UP_DUE, False) for f in dict.fromkeys(e.follow_ups)
    ]
    if e.outcome is Outcome.PENDING:
        waits = e.window_closes_at or e.decided_at + FOLLOW_UP_DUE
        # Each reason once, by its value (a str hashes in C; an enum member's hash is Python), in order.
        reasons = dict.fromkeys([r._value_ for r in e.reasons])
        kinds += [(_WAITING_BY_VALUE[r], waits, True) for r in reasons if r in _WAITING_BY_VALUE]
    if emergency_held(e):
        kinds.append((WorklistKind.EMERGENCY_HELD, e.sla_deadline or e.received_at + EMERGENCY_SLA, False))
    prefix = f"{e.request_id}:"  # item_id's name, the request's part formatted once (a UUID's str is Python)
    return [
        WorkItem(uuid5(_NAMESPACE_BYTES, prefix + kind), kind, e.nik, e.request_id, region, e.decided_at, due, waiting)
        for kind, due, waiting in kinds
    ]


def emergency_held(e: ReactivationDecided) -> bool:
    return (
        e.path is ReactivationPath.EMERGENCY and e.outcome is Outcome.PENDING and bool(HOLDING_REASONS & set(e.reasons))
    )


def listed_again(opened: dict[uuid.UUID, WorkItem]) -> set[uuid.UUID]:
    """The items of a batch that its final decisions do not settle: the follow-ups a decision lists again.
    Never an emergency's item: a held decision redelivered in the batch of its approval names EMERGENCY_HELD
    too, and kept the item OPEN after the approval (seen in CI under load)."""
    return {k for k, i in opened.items() if not i.waiting and i.kind not in EMERGENCY_KINDS}


def emergency_released(e: ReactivationDecided) -> bool:
    """A final decision of an emergency: its EMERGENCY_HELD item (if any) is done."""
    return e.path is ReactivationPath.EMERGENCY and e.outcome in FINAL


def finally_decided(e: ReactivationDecided) -> bool:
    """A final decision: the request's emergency items and what its PENDING waited for are done (except
    the follow-ups this decision lists again)."""
    return e.outcome in FINAL


def appeal_item(e: AppealUpdated, region: Region) -> WorkItem | None:
    """An appeal the facts did not uphold at once waits for a person: APPEAL_REVIEW, due at the appeal's
    due date (eligibility's policy, 14 days), with the appealed request."""
    if e.status is not AppealStatus.OPEN or e.request_id is None:
        return None
    kind = WorklistKind.APPEAL_REVIEW
    return WorkItem(item_id(e.request_id, kind), kind, e.nik, e.request_id, region, e.occurred_at, e.due_at)


def appeal_decided(e: AppealUpdated) -> bool:
    """Upheld (by a fact) or dismissed (by an operator): the APPEAL_REVIEW item is done."""
    return e.request_id is not None and e.status in (AppealStatus.UPHELD, AppealStatus.DISMISSED)


def breach_item(e: EmergencySlaChanged, region: Region) -> WorkItem | None:
    """An emergency past its deadline: SLA_BREACHED, opened when the breach is reported, due at the deadline."""
    if e.sla_state is not SlaState.BREACHED:
        return None
    kind = WorklistKind.SLA_BREACHED
    return WorkItem(item_id(e.request_id, kind), kind, e.nik, e.request_id, region, e.occurred_at, e.sla_deadline)


@dataclass(frozen=True)
class Satisfied:
    """A fact closing a person's open items of `kind` opened at or before `opened_by` (closed_by `system:<by>`)."""

    kind: WorklistKind
    by: str
    opened_by: dt.datetime
    note: str


def satisfied_by(e: Event) -> Satisfied | None:
    if getattr(e, "type", "") not in _SATISFYING:  # most events: no class pattern tried (ABCMeta, in Python)
        return None
    match e:
        case BiometricRecorded():
            return Satisfied(WorklistKind.BIOMETRIC_RECORDING, e.type, ALWAYS, f"recorded {e.recorded_on}")
        case IdSemestaAssigned():
            return Satisfied(WorklistKind.SIKS_NG_ENTRY, e.type, ALWAYS, "ID Semesta assigned")
        case DesilUpdated():
            # A re-ranking dated before the item was opened is one eligibility had already seen.
            until = dt.datetime.combine(e.effective_on + dt.timedelta(days=1), dt.time(), dt.UTC)
            return Satisfied(WorklistKind.DESIL_REVERIFICATION, e.type, until, f"desil {e.desil} from {e.effective_on}")
    return None


_SATISFYING = frozenset(c.model_fields["type"].default for c in (BiometricRecorded, IdSemestaAssigned, DesilUpdated))


def already_satisfied(kind: WorklistKind, biometric_recorded: bool, id_semesta: str | None) -> Satisfied | None:
    """A follow-up the registry already knows is done (its fact arrived before the decision asking for it)."""
    if kind is WorklistKind.BIOMETRIC_RECORDING and biometric_recorded:
        return Satisfied(kind, "participant.biometric_recorded", ALWAYS, "already recorded")
    if kind is WorklistKind.SIKS_NG_ENTRY and id_semesta:
        return Satisfied(kind, "participant.id_semesta_assigned", ALWAYS, "ID Semesta already assigned")
    return None
