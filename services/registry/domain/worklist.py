"""Worklist items from decisions (CONTRACT.md, operations worklist): what people must do by hand.

- Follow-ups travel on the decision (an emergency approved despite desil 7 needs DESIL_REVERIFICATION,
  one without biometrics BIOMETRIC_RECORDING, one without ID Semesta SIKS_NG_ENTRY): one item each.
- An emergency held PENDING by an open NIK conflict (or by a deactivation list not yet seen) cannot
  wait for its 24 hours to run out: EMERGENCY_HELD at once, due at the SLA deadline, done by itself
  when the emergency is finally decided.

One item per (request, kind), whatever is redelivered or decided again: the id is derived from both.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from shared.enums import DecisionReason, Outcome, ReactivationPath, WorklistKind
from shared.events import ReactivationDecided

FOLLOW_UP_DUE = dt.timedelta(days=30)  # time given to the village / Dukcapil / Dinsos to act
EMERGENCY_SLA = dt.timedelta(hours=24)
HOLDING_REASONS = frozenset({DecisionReason.NIK_CONFLICT, DecisionReason.NOT_DEACTIVATED})
FINAL = frozenset({Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED})
_NAMESPACE = uuid.UUID("7d1e2c3a-4b5f-4e6a-9c8d-0f1a2b3c4d5e")

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


def item_id(request_id: uuid.UUID, kind: WorklistKind | str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"{request_id}:{kind}")


def items_for_decision(e: ReactivationDecided, region: Region) -> list[WorkItem]:
    """The items a decision opens (none are closed here; see emergency_released)."""
    kinds: list[tuple[WorklistKind, dt.datetime | None]] = [
        (WorklistKind(f.value), e.decided_at + FOLLOW_UP_DUE) for f in dict.fromkeys(e.follow_ups)
    ]
    if emergency_held(e):
        kinds.append((WorklistKind.EMERGENCY_HELD, e.sla_deadline or e.received_at + EMERGENCY_SLA))
    return [
        WorkItem(item_id(e.request_id, kind), kind, e.nik, e.request_id, region, e.decided_at, due)
        for kind, due in kinds
    ]


def emergency_held(e: ReactivationDecided) -> bool:
    return (
        e.path is ReactivationPath.EMERGENCY and e.outcome is Outcome.PENDING and bool(HOLDING_REASONS & set(e.reasons))
    )


def emergency_released(e: ReactivationDecided) -> bool:
    """A final decision of an emergency: its EMERGENCY_HELD item (if any) is done."""
    return e.path is ReactivationPath.EMERGENCY and e.outcome in FINAL
