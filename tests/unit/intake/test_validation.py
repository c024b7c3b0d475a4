"""Whole-batch validation of POST /v1/events bodies: shapes, limits, indices, generated ids."""

from __future__ import annotations

import json
import uuid

import pytest

from services.intake.api import EmergencyBody, ReactivationBody
from services.intake.events_body import MAX_BATCH, VALIDATE_CHUNK, InvalidBody, parse_events
from shared.events import DesilUpdated, ParticipantDeactivated
from testkit.bodies import deactivation
from testkit.events import NIK


def locs(exc: pytest.ExceptionInfo[InvalidBody]) -> list[tuple]:
    return [tuple(e["loc"]) for e in exc.value.errors()]


def test_a_single_event_gets_a_content_derived_id_and_normalised_phone() -> None:
    [event] = parse_events(deactivation(phone="0812-3456-7890"))
    assert isinstance(event, ParticipantDeactivated)
    assert event.phone == "+6281234567890"
    assert parse_events(deactivation(phone="0812-3456-7890"))[0].event_id == event.event_id
    assert parse_events(deactivation(phone="0812-3456-7899"))[0].event_id != event.event_id


def test_a_given_event_id_is_kept() -> None:
    given = uuid.uuid4()
    assert parse_events(deactivation(event_id=str(given)))[0].event_id == given


def test_a_batch_mixes_event_types() -> None:
    desil = {
        "type": "participant.desil_updated",
        "occurred_at": "2026-11-01T08:00:00Z",
        "source": "DTSEN",
        "nik": NIK,
        "desil": 3,
        "effective_on": "2026-11-01",
    }
    events = parse_events({"events": [deactivation(), desil]})
    assert [type(e) for e in events] == [ParticipantDeactivated, DesilUpdated]


def test_every_bad_event_of_a_batch_is_named_by_index_and_field() -> None:
    batch = {
        "events": [
            deactivation(),
            deactivation(reason=""),
            deactivation(nik="3674015708900000"),
            deactivation(occurred_at="yesterday"),
        ]
    }
    with pytest.raises(InvalidBody) as exc:
        parse_events(batch)
    found = locs(exc)
    assert ("body", "events", 1, "participant.deactivated", "reason") in found
    assert ("body", "events", 2, "participant.deactivated", "nik") in found
    assert ("body", "events", 3, "participant.deactivated", "occurred_at") in found
    assert not any(loc[2] == 0 for loc in found)


def test_a_big_batch_is_validated_in_chunks_and_errors_still_count_from_the_first_event() -> None:
    size = VALIDATE_CHUNK * 3 + 7
    good = [deactivation(nik=f"3674015708{900000 + i + 1:06d}") for i in range(size)]
    assert [e.nik for e in parse_events({"events": good})] == [e["nik"] for e in good]
    bad = [*good[: VALIDATE_CHUNK * 2 + 5], deactivation(reason=""), *good[VALIDATE_CHUNK * 2 + 5 :]]
    with pytest.raises(InvalidBody) as exc:
        parse_events({"events": bad})
    assert locs(exc) == [("body", "events", VALIDATE_CHUNK * 2 + 5, "participant.deactivated", "reason")]


def test_unknown_reasons_and_unusable_numbers_do_not_refuse_a_wave() -> None:
    """10,000 facts from a government system: one unknown reason code, one landline, one junk number."""
    wave = [
        deactivation(nik=f"367401{1 + i // 9999:02d}0890{i % 9999 + 1:04d}", phone="081234567890")
        for i in range(MAX_BATCH)
    ]
    wave[17] = {**wave[17], "reason": "PINDAH_SEGMEN"}
    wave[4242] = {**wave[4242], "phone": "(021) 555-1234"}
    wave[9999] = {**wave[9999], "phone": "-"}
    events = parse_events({"events": wave})
    assert len(events) == MAX_BATCH
    odd = [e for e in events if isinstance(e, ParticipantDeactivated)]
    assert (odd[17].reason, odd[17].source_reason) == ("OTHER", "PINDAH_SEGMEN")
    assert (odd[4242].phone, odd[4242].phone_status, odd[4242].unusable_phone) == (None, "NOT_MOBILE", "+62215551234")
    assert (odd[9999].phone, odd[9999].phone_status, odd[9999].unusable_phone) == (None, "INVALID", None)
    assert odd[0].phone == "+6281234567890" and odd[0].phone_status is None


def test_an_odd_fact_beside_a_bad_event_is_kept_and_only_the_bad_field_is_named() -> None:
    """The odd reason and the landline are sorted out (shared.events.validate_as_sent); the error that refuses
    the batch is the other event's, alone, and the odd event's fields are not named."""
    batch = {
        "events": [
            deactivation(),
            deactivation(nik="3674015708900002", reason="PINDAH_SEGMEN", phone="0215551234"),
            deactivation(nik="3674015708900003", deactivated_on="2025-13-01"),
        ]
    }
    with pytest.raises(InvalidBody) as exc:
        parse_events(batch)
    assert locs(exc) == [("body", "events", 2, "participant.deactivated", "deactivated_on")]
    [_, odd] = parse_events({"events": batch["events"][:2]})
    assert isinstance(odd, ParticipantDeactivated) and (odd.reason, odd.phone_status) == ("OTHER", "NOT_MOBILE")


def test_validation_errors_never_echo_what_was_sent() -> None:
    sent = {"reason": 4711, "deactivated_on": "2026-13-45", "occurred_at": "kemarin sore", "funding": "APBX"}
    with pytest.raises(InvalidBody) as exc:
        parse_events({"events": [deactivation(nik="3674015708900000", **sent)]})
    text = json.dumps(exc.value.errors(), default=str)
    assert len(locs(exc)) == 5
    assert not any(str(value) in text for value in [*sent.values(), "3674015708900000"])


def test_a_single_bad_event_is_named_without_index() -> None:
    with pytest.raises(InvalidBody) as exc:
        parse_events(deactivation(deactivated_on="2026-13-01"))
    assert ("body", "participant.deactivated", "deactivated_on") in locs(exc)


@pytest.mark.parametrize(
    "body",
    [{"events": []}, {"events": "x"}, {"events": [deactivation()] * (MAX_BATCH + 1)}],
    ids=["empty", "not-a-list", "too-many"],
)
def test_batch_shape_limits(body: dict) -> None:
    with pytest.raises(InvalidBody) as exc:
        parse_events(body)
    assert locs(exc) == [("body", "events")]


def test_fields_next_to_events_are_refused() -> None:
    with pytest.raises(InvalidBody) as exc:
        parse_events({"events": [deactivation()], "extra": 1})
    assert locs(exc) == [("body", "extra")]


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(InvalidBody):
        parse_events({**deactivation(), "type": "participant.teleported"})


def test_a_batch_of_ten_thousand_is_allowed() -> None:
    batch = {"events": [deactivation(deactivated_on=f"2026-{1 + i % 12:02d}-01") for i in range(MAX_BATCH)]}
    assert len(parse_events(batch)) == MAX_BATCH


def test_request_bodies_validate_nik_phone_and_icd10() -> None:
    body = ReactivationBody.model_validate(
        {"nik": NIK, "path": "CHRONIC", "channel": "DINSOS", "phone": "+62 812 3456 7890"}
    )
    assert body.phone == "+6281234567890"
    with pytest.raises(ValueError):
        ReactivationBody.model_validate({"nik": NIK, "path": "CHRONIC", "channel": "FAX"})
    ok = {"nik": NIK, "facility_code": "3674R001", "letter_no": "IGD/1", "admitted_at": "2026-11-24T08:00:00+07:00"}
    assert EmergencyBody.model_validate({**ok, "diagnosis_icd10": "I21.9"}).diagnosis_icd10 == "I21.9"
    with pytest.raises(ValueError):
        EmergencyBody.model_validate({**ok, "diagnosis_icd10": "heart"})
    with pytest.raises(ValueError):
        EmergencyBody.model_validate({**ok, "admitted_at": "2026-11-24T08:00:00"})  # no time zone
