"""A decision is encoded without a pydantic model (domain.outgoing.decision_event): the bytes must be
exactly the ReactivationDecided model's JSON, and its id the uuid5 it always was (a redelivery after an
upgrade yields the same id)."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import pytest

from services.eligibility.domain.outgoing import NAMESPACE, decision_event, decision_id
from services.eligibility.domain.rules import Decision
from shared.enums import DecisionReason as R
from shared.enums import FollowUp, Outcome
from shared.events import Documents, HospitalLetter, ReactivationDecided, ReactivationRequested

NIK = "3674015708900001"
T0 = dt.datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=dt.UTC)
WIB = zoneinfo.ZoneInfo("Asia/Jakarta")
CLOSES = dt.datetime(2027, 5, 31, 23, 59, 59, tzinfo=WIB)


def regular(phone: str | None = None) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=T0, source="intake", nik=NIK, request_id=uuid.uuid4(), path="REGULAR", channel="VILLAGE",
        received_at=T0, phone=phone,
    )  # fmt: skip


def emergency() -> ReactivationRequested:
    letter = HospitalLetter(facility_code="3674R001", letter_no="IGD/1")
    return ReactivationRequested(
        occurred_at=T0, source="intake", nik=NIK, request_id=uuid.uuid4(), path="EMERGENCY", channel="HOSPITAL",
        received_at=T0, sla_deadline=T0 + dt.timedelta(hours=24), facility_registered=True, phone="+6281234567890",
        documents=Documents(hospital_letter=letter),
    )  # fmt: skip


CASES = [
    (regular(), Decision(Outcome.PENDING, (R.DESIL_UNKNOWN, R.BIOMETRIC_MISSING), (), "2026.2", CLOSES), None),
    (regular("+6281234567890"), Decision(Outcome.APPROVED, (), (FollowUp.SIKS_NG_ENTRY,), "2026.2", CLOSES), None),
    (regular(), Decision(Outcome.APPROVED, (), (), "2026.2", CLOSES.astimezone(dt.UTC)), uuid.uuid4()),
    (emergency(), Decision(Outcome.PENDING, (R.NOT_DEACTIVATED,), (), "2026.2", None), None),
    (
        emergency(),
        Decision(Outcome.APPROVED, (), (FollowUp.DESIL_REVERIFICATION, FollowUp.BIOMETRIC_RECORDING), "2026.2", CLOSES),
        None,
    ),
    (regular(), Decision(Outcome.EXPIRED, (R.WINDOW_EXPIRED, R.DESIL_UNKNOWN), (), "2026.2", CLOSES), None),
]


def model_json(request: ReactivationRequested, decision: Decision, at: dt.datetime, appeal: uuid.UUID | None) -> bytes:
    eid = decision_id(request.request_id, decision)
    return (
        ReactivationDecided(
            event_id=eid,
            decision_id=eid,
            occurred_at=at,
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
            decided_at=at,
            sla_deadline=request.sla_deadline,
            window_closes_at=decision.window_closes_at,
            phone=request.phone,
            appeal_id=appeal,
        )
        .model_dump_json()
        .encode()
    )


@pytest.mark.parametrize(("request_", "decision", "appeal"), CASES)
def test_a_decision_is_encoded_as_the_models_json(
    request_: ReactivationRequested, decision: Decision, appeal: uuid.UUID | None
) -> None:
    at = T0 + dt.timedelta(seconds=1)
    encoded = decision_event(request_, decision, at, appeal)
    assert encoded.json == model_json(request_, decision, at, appeal)
    assert (encoded.event_id, encoded.type, encoded.nik) == (
        decision_id(request_.request_id, decision),
        "reactivation.decided",
        NIK,
    )


@pytest.mark.parametrize(("request_", "decision", "appeal"), CASES)
def test_a_decisions_id_is_the_uuid5_of_request_outcome_and_sorted_reasons(
    request_: ReactivationRequested, decision: Decision, appeal: uuid.UUID | None
) -> None:
    parts = [str(request_.request_id), str(decision.outcome), *sorted(r.value for r in decision.reasons)]
    assert decision_id(request_.request_id, decision) == uuid.uuid5(NAMESPACE, ":".join(parts))


def test_decision_ids_are_those_earlier_versions_gave() -> None:
    request_id = uuid.UUID("5b0f27c4-5d2c-4c39-9a51-0d3f8f8e6a01")
    approved = Decision(Outcome.APPROVED, (), (), "2026.2", None)
    pending = Decision(Outcome.PENDING, (R.DESIL_UNKNOWN, R.BIOMETRIC_MISSING), (), "2026.2", None)
    assert str(decision_id(request_id, approved)) == "b107dc00-7bb7-5cd8-ad45-0164b50397d3"
    assert str(decision_id(request_id, pending)) == "550696d9-5f27-59aa-aaab-ca9af13049ef"
