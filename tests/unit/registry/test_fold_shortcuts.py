"""The fold's shortcuts give what the plain code gave (services/registry/domain): status.replace is
dataclasses.replace, a decision's worklist ids are item_id's, its request row is built as before."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from services.registry.domain.requests import decision_row
from services.registry.domain.status import Participant, replace
from services.registry.domain.worklist import item_id, items_for_decision
from shared.enums import ParticipantStatus as S
from shared.events import ReactivationDecided

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
