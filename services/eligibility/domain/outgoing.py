"""The events eligibility publishes, built from values already validated (no I/O).

Ids are deterministic, so a redelivered input or a re-fired timer yields the same event id and
consumers drop the copy. A decision's id covers its outcome and reasons: a PENDING request whose
missing facts change gets a new event, the same decision made twice does not.

A decision, the one event published per request, is built as its JSON at once (`Encoded`), not as a
pydantic model that is then serialized: the bytes are the model's own (tests/unit/eligibility/
test_outgoing.py holds them to `ReactivationDecided(...).model_dump_json()`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from pydantic_core import to_json

from services.eligibility.domain.rules import Decision, Request
from shared.enums import AppealStatus, SlaState
from shared.events import (
    AppealRequested,
    AppealUpdated,
    EmergencySlaChanged,
    ReactivationRequested,
)

NAMESPACE = uuid.UUID("0d7c3a52-7b0e-4f59-9a55-4f1f2b7c9e11")
_NAMESPACE_SHA1 = hashlib.sha1(NAMESPACE.bytes, usedforsecurity=False)
DECIDED = "reactivation.decided"


class Encoded(NamedTuple):
    """An outgoing event as its JSON (what its model's model_dump_json gives), with what the outbox needs.
    (A named tuple: made once per decision, at a third of a frozen dataclass's cost.)"""

    event_id: uuid.UUID
    type: str
    nik: str
    json: bytes


def event_id(*parts: object) -> uuid.UUID:
    return _uuid5(":".join(str(p) for p in parts))


# uuid.UUID(bytes=digest[:16], version=5) does this to the digest's number: variant RFC 4122, version 5.
_UUID5_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID5_SET = (0x8000 << 48) | (5 << 76)
_new_object, _set_slot, _UUID, _SAFE_UNKNOWN = object.__new__, object.__setattr__, uuid.UUID, uuid.SafeUUID.unknown


def _uuid5(name: str) -> uuid.UUID:
    """uuid.uuid5(NAMESPACE, name), with the namespace's part of the hash computed once, and the UUID made
    from its number directly (UUID.__init__ checks its five ways of being called first: a third of this)."""
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(name.encode())
    made = _new_object(_UUID)
    _set_slot(made, "int", (int.from_bytes(sha1.digest()[:16]) & _UUID5_CLEAR) | _UUID5_SET)
    _set_slot(made, "is_safe", _SAFE_UNKNOWN)
    return made


def decision_id(request_id: uuid.UUID, decision: Decision) -> uuid.UUID:
    return _decision_id(request_id, decision.outcome.value, _values(decision.reasons))


def _decision_id(request_id: uuid.UUID, outcome: str, reasons: tuple[str, ...]) -> uuid.UUID:
    return _uuid5(f"{request_id}:{_decision_part(outcome, reasons)}")


@lru_cache(maxsize=4096)
def _decision_part(outcome: str, reasons: tuple[str, ...]) -> str:
    """What follows the request id in a decision's id: event_id(request_id, outcome, *sorted reasons), or
    (no reasons) event_id(request_id, outcome), the id APPROVED always had. A few dozen combinations
    (keyed by the values: an enum member hashes in Python, a str's hash is cached)."""
    return ":".join((outcome, *sorted(reasons)))


def _values(members: tuple[StrEnum, ...]) -> tuple[str, ...]:
    """The members' values: a StrEnum's str() is its value (str's own __str__, in C; `.value` is an enum
    property, looked up in Python per member)."""
    return tuple(map(str, members))


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
) -> Encoded:
    """The request's ReactivationDecided, encoded: its fields in the model's order, every value validated
    already (re-validating the NIK, or building the model only to serialize it, is costly in bulk)."""
    outcome, reasons = decision.outcome.value, _values(decision.reasons)
    eid = _decision_id(request.request_id, outcome, reasons)
    fields = {
        "event_id": eid,
        "schema_version": 1,
        "occurred_at": now,
        "source": "eligibility",
        "nik": request.nik,
        "type": DECIDED,
        "decision_id": eid,
        "request_id": request.request_id,
        # Values: pydantic_core encodes an enum member several times slower; a StrEnum's str() is its value
        # (str's own __str__, where `.value` is an enum property looked up in Python).
        "path": str(request.path),
        "channel": str(request.channel),
        "outcome": outcome,
        "reasons": reasons,
        "follow_ups": _values(decision.follow_ups),
        "policy_version": decision.policy_version,
        "received_at": request.received_at,
        "decided_at": now,
        "sla_deadline": request.sla_deadline,
        "window_closes_at": decision.window_closes_at,
        "phone": request.phone,
        "appeal_id": appeal_id,
    }
    return Encoded(eid, DECIDED, request.nik, to_json(fields))


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
