"""The status changes the registry announces are encoded without a pydantic model per row
(services/registry/uow.py status_change_json): the bytes must be exactly the event model's JSON."""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zoneinfo

import pytest

from services.registry.domain.batch import Fold, StatusChange
from services.registry.uow import status_change_json, status_changes_bundle
from shared.enums import ParticipantStatus as S
from shared.events import ParticipantDeactivated, ParticipantStatusChanged, ReactivationDecided
from shared.messaging import EVENT_TYPE
from shared.outbox import outbox_records

NIK = "3674015708900001"
T0 = dt.datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=dt.UTC)
WIB = zoneinfo.ZoneInfo("Asia/Jakarta")


def change(**kw: object) -> StatusChange:
    fields: dict[str, object] = {
        "event_id": uuid.uuid4(),
        "occurred_at": T0,
        "nik": NIK,
        "previous_status": S.INACTIVE,
        "status": S.REACTIVATION_PENDING,
        "cause_event_id": uuid.uuid4(),
        "cause_type": "reactivation.decided",
        "reasons": ("BIOMETRIC_MISSING", "DESIL_ABOVE_5"),
        "window_closes_at": dt.datetime(2027, 5, 31, 23, 59, 59, tzinfo=WIB),
    }
    return StatusChange(**{**fields, **kw})  # type: ignore[arg-type]


def model_json(a: StatusChange) -> bytes:
    event = ParticipantStatusChanged(
        event_id=a.event_id,
        occurred_at=a.occurred_at,
        source="registry",
        nik=a.nik,
        previous_status=a.previous_status,
        status=a.status,
        cause_event_id=a.cause_event_id,
        cause_type=a.cause_type,
        reasons=list(a.reasons),  # type: ignore[arg-type]
        window_closes_at=a.window_closes_at,
    )
    return event.model_dump_json().encode()


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"previous_status": None, "status": S.INACTIVE, "reasons": ()},
        {"window_closes_at": None},
        {"window_closes_at": dt.datetime(2027, 5, 31, 16, 59, 59, tzinfo=dt.UTC), "occurred_at": T0.astimezone(WIB)},
        {"status": S.EXPIRED, "reasons": ("WINDOW_EXPIRED",), "cause_type": "registry.window_closed"},
    ],
)
def test_a_status_change_is_encoded_as_the_event_model_encodes_it(kw: dict[str, object]) -> None:
    a = change(**kw)
    assert status_change_json(a) == model_json(a)


def test_the_folded_changes_of_a_deactivation_and_a_decision_read_back_as_the_events() -> None:
    d = ParticipantDeactivated(
        occurred_at=T0, source="SIKS-NG", nik=NIK, reason="NO_BIOMETRIC", deactivated_on=dt.date(2026, 11, 1)
    )  # type: ignore[arg-type]
    decision = ReactivationDecided(
        occurred_at=T0 + dt.timedelta(hours=2),
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        path="REGULAR",
        channel="DINSOS",
        outcome="PENDING",
        reasons=["BIOMETRIC_MISSING"],
        policy_version="t",
        received_at=T0 + dt.timedelta(hours=1),
        decided_at=T0 + dt.timedelta(hours=2),
    )  # type: ignore[arg-type]
    changes = Fold({}, T0 + dt.timedelta(days=1)).add([d, decision])
    announced = [r.announce for r in changes.history if r.announce is not None]
    assert [(a.previous_status, a.status) for a in announced] == [
        (None, S.INACTIVE),
        (S.INACTIVE, S.REACTIVATION_PENDING),
    ]
    bundle = status_changes_bundle("t.pbi.status-changes.v1", announced)
    assert (bundle["records"], bundle["event_id"]) == (2, announced[0].event_id)
    records = outbox_records(bundle)
    for a, record in zip(announced, records, strict=True):
        assert (record.topic, record.key, record.value) == ("t.pbi.status-changes.v1", NIK.encode(), model_json(a))
        assert dict(record.headers)[EVENT_TYPE] == b"participant.status_changed"
        event = ParticipantStatusChanged.model_validate_json(record.value)
        assert (event.event_id, event.cause_event_id, event.nik) == (a.event_id, a.cause_event_id, NIK)
    assert announced[1].reasons == ("BIOMETRIC_MISSING",)


def test_a_status_change_never_carries_the_phone_the_participant_record_keeps() -> None:
    """pbi.status-changes.v1 keeps records 30 days and nobody of ours reads it: an erasure could not
    take a number back from it, so none is put there; the registry's own record keeps it."""
    d = ParticipantDeactivated(
        occurred_at=T0,
        source="SIKS-NG",
        nik=NIK,
        reason="NO_BIOMETRIC",
        deactivated_on=dt.date(2026, 11, 1),
        phone="081234567890",
    )  # type: ignore[arg-type]
    changes = Fold({}, T0 + dt.timedelta(days=1)).add([d])
    assert changes.people[NIK].phone == "+6281234567890"
    announced = [r.announce for r in changes.history if r.announce is not None]
    assert len(announced) == 1
    (record,) = outbox_records(status_changes_bundle("t.pbi.status-changes.v1", announced))
    assert b"1234567890" not in record.value
    assert json.loads(record.value)["phone"] is None
    assert ParticipantStatusChanged.model_validate_json(record.value).phone is None


def test_a_status_change_written_before_the_phone_was_dropped_still_decodes() -> None:
    old = json.loads(status_change_json(change()))
    old["phone"] = "+6281234567890"
    event = ParticipantStatusChanged.model_validate_json(json.dumps(old))
    assert (event.nik, event.phone) == (NIK, "+6281234567890")
