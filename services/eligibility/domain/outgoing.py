"""The events eligibility publishes, built from values already validated (no I/O).

Ids are deterministic, so a redelivered input or a re-fired timer yields the same event id and
consumers drop the copy. A decision's id covers its outcome and reasons: a PENDING request whose
missing facts change gets a new event, the same decision made twice does not."""

from __future__ import annotations

import datetime as dt
import uuid

from services.eligibility.domain.rules import Decision, Request
from shared.enums import AppealStatus, SlaState
from shared.events import (
    AppealRequested,
    AppealUpdated,
    EmergencySlaChanged,
    ReactivationDecided,
    ReactivationRequested,
)

NAMESPACE = uuid.UUID("0d7c3a52-7b0e-4f59-9a55-4f1f2b7c9e11")


def event_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


def decision_id(request_id: uuid.UUID, decision: Decision) -> uuid.UUID:
    if not decision.reasons:  # the id that APPROVED always had
        return event_id(request_id, decision.outcome)
    return event_id(request_id, decision.outcome, *sorted(r.value for r in decision.reasons))


def as_request(request: ReactivationRequested) -> Request:
    return Request(
        str(request.request_id),
        request.nik,
        request.path,
        request.received_at,
        request.documents,
        request.facility_registered,
    )


def decision_event(
    request: ReactivationRequested, decision: Decision, now: dt.datetime, appeal_id: uuid.UUID | None = None
) -> ReactivationDecided:
    eid = decision_id(request.request_id, decision)
    # model_construct: every value is validated already; re-validating the NIK is costly in bulk.
    return ReactivationDecided.model_construct(
        event_id=eid,
        decision_id=eid,
        occurred_at=now,
        source="eligibility",
        nik=request.nik,
        request_id=request.request_id,
        path=request.path,
        channel=request.channel,
        outcome=decision.outcome,
        reasons=list(decision.reasons),
        follow_ups=list(decision.follow_ups),
        policy_version=decision.policy_version,
        received_at=request.received_at,
        decided_at=now,
        sla_deadline=request.sla_deadline,
        window_closes_at=decision.window_closes_at,
        phone=request.phone,
        appeal_id=appeal_id,
    )


def appeal_event(
    appeal: AppealRequested,
    status: AppealStatus,
    now: dt.datetime,
    *,
    request_id: uuid.UUID | None,
    reasons: tuple[str, ...] = (),
    due_at: dt.datetime | None = None,
    note: str | None = None,
) -> AppealUpdated:
    """What became of an appeal; one event per (appeal, status), so a redelivery yields the same id."""
    return AppealUpdated(
        event_id=event_id("appeal", appeal.appeal_id, status),
        occurred_at=now,
        source="eligibility",
        nik=appeal.nik,
        appeal_id=appeal.appeal_id,
        request_id=request_id,
        status=status,
        reasons=list(reasons),
        channel=appeal.channel,
        received_at=appeal.received_at,
        due_at=due_at,
        decided_at=None if status is AppealStatus.OPEN else now,
        phone=appeal.phone,
        note=note,
    )


def sla_event(request: ReactivationRequested, state: SlaState, now: dt.datetime) -> EmergencySlaChanged:
    assert request.sla_deadline is not None
    letter = request.documents.hospital_letter
    return EmergencySlaChanged.model_construct(
        event_id=event_id(request.request_id, "sla", state),
        occurred_at=now,
        source="eligibility",
        nik=request.nik,
        request_id=request.request_id,
        sla_state=state,
        sla_deadline=request.sla_deadline,
        received_at=request.received_at,
        facility_code=letter.facility_code if letter else None,
    )
