"""The fold's shortcuts give what the plain code gave (services/registry/domain): status.replace is
dataclasses.replace, a decision's worklist ids are item_id's, its request row is built as before."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from services.registry.domain.batch import Fold, keeps_contact
from services.registry.domain.requests import decision_row
from services.registry.domain.status import Participant, replace
from services.registry.domain.worklist import item_id, items_for_decision
from shared.enums import ParticipantStatus as S
from shared.events import AppealUpdated, ParticipantDeactivated, ReactivationDecided, ReactivationRequested
from shared.privacy import without_contact

T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
P = Participant("3674015708900001", S.INACTIVE, "Banten", "Tangerang Selatan", "Serpong", desil=4, phone="0812")
REGION = ("Banten", "Tangerang Selatan", "Serpong")


def test_replace_is_dataclasses_replace_and_leaves_its_original() -> None:
    for changes in ({}, {"status": S.ACTIVE, "last_status_event_at": T0}, {"desil": None, "deceased": True}):
        made = replace(P, **changes)
        assert made == dataclasses.replace(P, **changes) and made is not P
        assert list(made.__dict__) == [f.name for f in dataclasses.fields(Participant)]
        assert hash(made) == hash(dataclasses.replace(P, **changes))
    assert P.status is S.INACTIVE and P.desil == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        replace(P).status = S.ACTIVE  # type: ignore[misc]
    with pytest.raises(TypeError):
        replace(P, region="x")


@pytest.mark.parametrize(
    ("outcome", "reasons", "follow_ups"),
    [
        ("PENDING", ["DESIL_UNKNOWN", "BIOMETRIC_MISSING", "DESIL_UNKNOWN"], []),
        ("PENDING", ["BIOMETRIC_MISSING"], []),
        ("APPROVED", [], ["SIKS_NG_ENTRY", "BIOMETRIC_RECORDING"]),
    ],
)
def test_a_decisions_items_are_item_ids_in_order_and_its_row_as_before(
    outcome: str, reasons: list[str], follow_ups: list[str]
) -> None:
    e = ReactivationDecided.model_validate(
        {
            "occurred_at": T0,
            "source": "eligibility",
            "nik": P.nik,
            "decision_id": uuid.uuid4(),
            "request_id": uuid.uuid4(),
            "path": "REGULAR",
            "channel": "VILLAGE",
            "outcome": outcome,
            "reasons": reasons,
            "follow_ups": follow_ups,
            "policy_version": "t",
            "received_at": T0,
            "decided_at": T0 + dt.timedelta(minutes=1),
        }
    )
    items = items_for_decision(e, REGION)
    expected = follow_ups or list(
        dict.fromkeys({"DESIL_UNKNOWN": "DESIL_REVERIFICATION"}.get(r, "BIOMETRIC_RECORDING") for r in reasons)
    )
    assert [i.kind for i in items] == expected
    assert [i.item_id for i in items] == [
        uuid.uuid5(uuid.UUID("7d1e2c3a-4b5f-4e6a-9c8d-0f1a2b3c4d5e"), f"{e.request_id}:{k}") for k in expected
    ]
    assert [i.item_id for i in items] == [item_id(e.request_id, k) for k in expected]
    row = decision_row(e, REGION)
    assert row["status"] == outcome and row["reasons"] == reasons and type(row["status"]) is str
    assert (row["path"], row["channel"], row["decided_at"], row["facility_code"]) == (
        "REGULAR",
        "VILLAGE",
        e.decided_at,
        None,
    )


def test_only_deactivations_and_decisions_leave_contact_data_in_the_fold() -> None:
    """handlers.py looks erasures up only for the events `keeps_contact` names: scrubbing any other event's
    number changes nothing the fold writes."""
    nik, rid = P.nik, uuid.uuid4()
    common = {"occurred_at": T0, "nik": nik, "phone": "081234567890", "received_at": T0}
    others = [
        ReactivationRequested.model_validate(
            {**common, "source": "intake", "request_id": rid, "path": "REGULAR", "channel": "VILLAGE"}
        ),
        AppealUpdated.model_validate(
            {
                **common,
                "source": "eligibility",
                "appeal_id": uuid.uuid4(),
                "request_id": rid,
                "status": "OPEN",
                "channel": "VILLAGE",
                "due_at": T0 + dt.timedelta(days=14),
            }
        ),
    ]
    for event in others:
        assert not keeps_contact(event) and event.phone is not None
        for people in ({}, {nik: P}):
            plain, scrubbed = Fold(people, T0).add([event]), Fold(people, T0).add([without_contact(event)])
            assert plain == scrubbed
    assert keeps_contact(
        ParticipantDeactivated(occurred_at=T0, source="SIKS-NG", nik=nik, reason="DECEASED", deactivated_on=T0.date())
    )
