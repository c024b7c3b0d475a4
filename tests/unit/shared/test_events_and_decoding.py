"""Event schemas and the consumer's decoding: poison records get a reason without personal data."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.enums import DeactivationReason
from shared.errors import TransientError, is_transient
from shared.events import (
    SOURCE_REASON_MAX,
    DesilUpdated,
    ParticipantDeactivated,
    any_event_adapter,
    encode,
    participant_event_adapter,
    validate_as_sent,
)
from shared.kafka import PoisonRecord, decode_record
from shared.topics import CATALOGUE, all_topic_names

NIK = "3674015708900001"
BASE = {"occurred_at": "2025-06-01T08:00:00+07:00", "source": "SIKS-NG", "nik": NIK}


def record(value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord("t", 0, 0, 0, 0, NIK.encode(), value, None, 0, len(value or b""), [])


def test_deactivation_event_round_trips_with_normalised_phone() -> None:
    event = participant_event_adapter.validate_python(
        {
            **BASE,
            "type": "participant.deactivated",
            "deactivated_on": "2025-06-01",
            "reason": "DESIL_ABOVE_5",
            "phone": "081234567890",
            "region": {"province": "Banten", "regency": "Tangerang Selatan", "district": "Pamulang"},
        }
    )
    assert isinstance(event, ParticipantDeactivated)
    assert event.phone == "+6281234567890"
    assert any_event_adapter.validate_json(event.model_dump_json()) == event


def deactivated(**fields: object) -> ParticipantDeactivated:
    sent = {**BASE, "type": "participant.deactivated", "deactivated_on": "2025-06-01", "reason": "OTHER", **fields}
    event = validate_as_sent(participant_event_adapter.validate_python, sent)  # as intake takes what a source sent
    assert isinstance(event, ParticipantDeactivated)
    assert any_event_adapter.validate_json(encode(event)) == event  # what consumers decode is the same fact
    return event


@pytest.mark.parametrize(
    ("sent", "reason", "source_reason"),
    [
        ("DECEASED", "DECEASED", None),
        ("BORED", "OTHER", "BORED"),  # a code we do not know: kept as OTHER, never refused
        ("PINDAH_SEGMEN", "OTHER", "PINDAH_SEGMEN"),
        ("deceased", "DECEASED", "deceased"),  # spelling does not make a known code unknown
        ("Desil-Above 5", "DESIL_ABOVE_5", "Desil-Above 5"),
        (" NO_BIOMETRIC ", "NO_BIOMETRIC", None),
        ("X" * 100, "OTHER", "X" * SOURCE_REASON_MAX),  # not a code any more: kept, cut to the limit
    ],
)
def test_an_unknown_reason_code_is_kept_as_other_with_the_source_code(
    sent: str, reason: str, source_reason: str | None
) -> None:
    event = deactivated(reason=sent)
    assert (event.reason, event.source_reason) == (reason, source_reason)


def test_a_missing_or_empty_reason_is_still_refused() -> None:
    for payload in ({"reason": ""}, {"reason": "  "}, {"reason": None}):
        with pytest.raises(ValidationError):
            deactivated(**payload)


@pytest.mark.parametrize(
    ("sent", "phone", "status", "kept"),
    [
        ("0812-3456-7890", "+6281234567890", None, None),
        ("0215551234", None, "NOT_MOBILE", "+62215551234"),  # Jakarta landline: kept, never messaged
        ("(021) 555-1234", None, "NOT_MOBILE", "+62215551234"),
        ("+62 22 4201234", None, "NOT_MOBILE", "+62224201234"),  # Bandung
        ("0800123456", None, "NOT_MOBILE", "+62800123456"),  # toll-free
        ("n/a", None, "INVALID", None),  # junk: dropped, the fact kept
        ("0812", None, "INVALID", None),
        ("+6591234567", None, "INVALID", None),  # a Singapore mobile is not a number we message
        (81234567890, None, "INVALID", None),
        ("", None, None, None),  # an empty cell is no number
        (None, None, None, None),
    ],
)
def test_a_contact_number_is_sorted_never_refused(sent: object, phone: str, status: str, kept: str) -> None:
    event = deactivated(phone=sent)
    assert (event.phone, event.phone_status, event.unusable_phone) == (phone, status, kept)


def test_an_odd_fact_with_a_bad_field_is_refused_for_that_field_alone() -> None:
    """The event is validated as it came first, then once more with its reason and number sorted: the
    error names only what is really wrong, never the reason or number that were kept."""
    with pytest.raises(ValidationError) as exc:
        deactivated(reason="PINDAH_SEGMEN", phone="0215551234", deactivated_on="2025-13-01")
    assert [e["loc"] for e in exc.value.errors()] == [("participant.deactivated", "deactivated_on")]
    raw = {**BASE, "type": "participant.deactivated", "deactivated_on": "2025-06-01", "reason": "BORED", "phone": "-"}
    event = decode_record(record(json.dumps(raw).encode()), any_event_adapter)  # as consumers decode it
    assert isinstance(event, ParticipantDeactivated)
    assert (event.reason, event.source_reason, event.phone, event.phone_status) == ("OTHER", "BORED", None, "INVALID")


def test_events_without_the_new_fields_still_decode() -> None:
    old = {**BASE, "type": "participant.deactivated", "deactivated_on": "2025-06-01", "reason": "DECEASED"}
    event = any_event_adapter.validate_json(json.dumps(old))
    assert isinstance(event, ParticipantDeactivated)
    assert (event.source_reason, event.phone_status, event.unusable_phone) == (None, None, None)


@given(
    reason=st.text(min_size=1, max_size=80).filter(str.strip),
    phone=st.none() | st.text(max_size=24) | st.from_regex(r"\+?(62|0)[2-9][0-9]{5,12}", fullmatch=True),
)
@settings(max_examples=500, deadline=None)
def test_no_reason_text_and_no_contact_number_refuses_a_deactivation(reason: str, phone: str | None) -> None:
    event = deactivated(reason=reason, phone=phone)
    assert event.reason in set(DeactivationReason)
    assert event.phone is None or event.phone.startswith("+628")
    assert (event.phone is None) == (event.phone_status is not None or phone is None or not phone.strip())


def test_event_id_is_generated_when_absent_and_kept_when_given() -> None:
    given = uuid.uuid4()
    a = DesilUpdated.model_validate({**BASE, "desil": 3, "effective_on": "2025-05-01"})
    b = DesilUpdated.model_validate({**BASE, "desil": 3, "effective_on": "2025-05-01", "event_id": str(given)})
    assert isinstance(a.event_id, uuid.UUID) and b.event_id == given


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "participant.desil_updated", "desil": 0, "effective_on": "2025-05-01"}, "desil"),
        ({"type": "participant.desil_updated", "desil": "3", "effective_on": "2025-05-01"}, "desil"),
        ({"type": "participant.deactivated", "deactivated_on": "2025-06-01", "reason": ""}, "reason"),
        ({"type": "participant.deactivated", "deactivated_on": "2025-06-01", "reason": 42}, "reason"),
        ({"type": "participant.death_reported", "died_on": "yesterday"}, "died_on"),
        ({"type": "participant.biometric_recorded", "recorded_on": "2025-06-01", "extra": 1}, "extra"),
    ],
)
def test_schema_violations_name_the_field(payload: dict, field: str) -> None:
    with pytest.raises(PoisonRecord) as err:
        decode_record(record(json.dumps({**BASE, **payload}).encode()), participant_event_adapter)
    assert field in str(err.value)


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(PoisonRecord, match="occurred_at"):
        decode_record(
            record(
                json.dumps(
                    {
                        **BASE,
                        "occurred_at": "2025-06-01T08:00:00",
                        "type": "participant.death_reported",
                        "died_on": "2025-05-01",
                    }
                ).encode()
            ),
            participant_event_adapter,
        )


def test_not_json_and_unknown_type_and_tombstone_are_poison() -> None:
    with pytest.raises(PoisonRecord, match="invalid JSON"):
        decode_record(record(b"\xff\x00"), participant_event_adapter)
    with pytest.raises(PoisonRecord, match="does not match any of the expected tags"):
        decode_record(
            record(json.dumps({**BASE, "type": "participant.teleported"}).encode()), participant_event_adapter
        )
    with pytest.raises(PoisonRecord, match="tombstone"):
        decode_record(record(None), participant_event_adapter)


def test_poison_reason_never_contains_the_whole_nik() -> None:
    bad = {**BASE, "nik": "3674015708900000", "type": "participant.death_reported", "died_on": "2025-05-01"}
    with pytest.raises(PoisonRecord) as err:
        decode_record(record(json.dumps(bad).encode()), participant_event_adapter)
    assert "3674015708900000" not in str(err.value) and "serial number 0000" in str(err.value)


def test_transient_errors_are_recognised() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TransientError())
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = OSError("db down")
    assert is_transient(wrapped)
    assert not is_transient(ValueError("bad data"))


def test_topic_catalogue_names_are_unique_and_each_has_a_dead_letter_topic() -> None:
    names = all_topic_names("p.")
    assert len(names) == len(set(names)) == 2 * len(CATALOGUE)
    assert all(n.startswith("p.pbi.") for n in names)
