"""Event schemas and the consumer's decoding: poison records get a reason without personal data."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import ConsumerRecord

from shared.errors import TransientError, is_transient
from shared.events import DesilUpdated, ParticipantDeactivated, any_event_adapter, participant_event_adapter
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
        ({"type": "participant.deactivated", "deactivated_on": "2025-06-01", "reason": "BORED"}, "reason"),
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
