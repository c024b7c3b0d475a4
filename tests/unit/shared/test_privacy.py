"""The erasure rule every service applies to events (shared.privacy): after an erasure, contact data comes
back only with the person's own new request (or its decision) received after it."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.retention import what_was_removed
from shared.enums import Channel, Outcome, ReactivationPath
from shared.events import (
    AppealRequested,
    DesilUpdated,
    Event,
    ParticipantDeactivated,
    ParticipantStatusChanged,
    PersonalDataErased,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
    any_event_adapter,
    validate_as_sent,
)
from shared.privacy import CONTACT_FIELDS, contact_allowed, scrub, without_contact
from shared.topics import CATALOGUE, DLQ_RETENTION_MS, PRIVACY_EVENTS

NIK = "3674015708900001"
OTHER = "3674015708900002"
PHONE = "+6281234567890"
ERASED_AT = dt.datetime(2026, 9, 10, 8, tzinfo=dt.UTC)
BEFORE, AFTER = ERASED_AT - dt.timedelta(hours=1), ERASED_AT + dt.timedelta(hours=1)


def deactivated(at: dt.datetime, nik: str = NIK) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=at,
        source="SIKS-NG",
        nik=nik,
        reason="DESIL_ABOVE_5",
        deactivated_on=dt.date(2026, 9, 1),
        name="Siti Aminah",
        phone=PHONE,
    )


def requested(received: dt.datetime) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=received,
        source="intake",
        nik=NIK,
        request_id=uuid.uuid4(),
        path=ReactivationPath.REGULAR,
        channel=Channel.DINSOS,
        phone=PHONE,
        received_at=received,
    )


def decided(received: dt.datetime) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=AFTER,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        path=ReactivationPath.REGULAR,
        channel=Channel.DINSOS,
        outcome=Outcome.APPROVED,
        policy_version="v1",
        received_at=received,
        decided_at=AFTER,
        phone=PHONE,
    )


def appealed(received: dt.datetime) -> AppealRequested:
    return AppealRequested(
        occurred_at=received,
        source="intake",
        nik=NIK,
        appeal_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        channel=Channel.DINSOS,
        phone=PHONE,
        received_at=received,
    )


def reminder(at: dt.datetime) -> WindowReminderDue:
    return WindowReminderDue(
        occurred_at=at, source="eligibility", nik=NIK, window_closes_at=AFTER, days_left=3, phone=PHONE
    )


def status_changed(at: dt.datetime) -> ParticipantStatusChanged:
    return ParticipantStatusChanged(
        occurred_at=at,
        source="registry",
        nik=NIK,
        previous_status=None,
        status="INACTIVE",
        cause_event_id=uuid.uuid4(),
        cause_type="participant.deactivated",
        phone=PHONE,
    )


@pytest.mark.parametrize(
    ("event", "allowed"),
    [
        (deactivated(BEFORE), False),  # replayed or late: from before the erasure
        (deactivated(AFTER), False),  # a government list sent after it: still not the person's own act
        (reminder(AFTER), False),
        (status_changed(AFTER), False),
        (requested(BEFORE), False),  # a request from before the erasure, delivered late
        (requested(ERASED_AT), False),  # at the very moment: not after
        (requested(AFTER), True),  # the person gave a number again on a new request
        (decided(BEFORE), False),  # a decision on a request from before
        (decided(AFTER), True),  # the decision on the new request carries its number
        (appealed(BEFORE), False),
        (appealed(AFTER), True),  # an appeal is the person's own act too
    ],
    ids=lambda v: getattr(v, "type", str(v)),
)
def test_after_an_erasure_only_a_new_request_brings_a_number(event: Event, allowed: bool) -> None:
    assert contact_allowed(event, ERASED_AT) is allowed


@pytest.mark.parametrize("event", [deactivated(BEFORE), requested(BEFORE), reminder(BEFORE), decided(BEFORE)])
def test_a_person_never_erased_keeps_every_contact(event: Event) -> None:
    assert contact_allowed(event, None)
    assert scrub([event], {OTHER: ERASED_AT}) == [event]


def test_without_contact_empties_name_phone_and_landline_and_keeps_the_fact() -> None:
    sent = {"occurred_at": AFTER, "source": "SIKS-NG", "nik": NIK, "reason": "OTHER", "deactivated_on": "2026-09-01"}
    landline = validate_as_sent(ParticipantDeactivated.model_validate, {**sent, "phone": "0215551234"})
    assert landline.unusable_phone is not None
    for event in (deactivated(AFTER), landline):
        stripped = without_contact(event)
        assert all(getattr(stripped, f, None) is None for f in CONTACT_FIELDS)
        assert stripped.model_dump(exclude=set(CONTACT_FIELDS)) == event.model_dump(exclude=set(CONTACT_FIELDS))


def test_an_event_without_contact_data_is_passed_through_untouched() -> None:
    fact = DesilUpdated(occurred_at=AFTER, source="DTSEN", nik=NIK, desil=3, effective_on=dt.date(2026, 9, 2))
    assert without_contact(fact) is fact


def test_scrub_strips_only_the_erased_nik_and_keeps_the_order() -> None:
    batch = [deactivated(AFTER), deactivated(AFTER, OTHER), requested(AFTER)]
    out = scrub(batch, {NIK: ERASED_AT})
    assert [e.nik for e in out] == [e.nik for e in batch]
    assert (out[0].phone, out[0].name) == (None, None)
    assert out[1] is batch[1] and out[2] is batch[2]


@given(st.lists(st.sampled_from([deactivated(BEFORE), deactivated(AFTER), requested(BEFORE), reminder(AFTER)])))
def test_nothing_from_before_a_request_brings_a_phone_back(events: list[Event]) -> None:
    assert all(getattr(e, "phone", None) is None for e in scrub(events, {NIK: ERASED_AT}))


def test_the_erasure_event_carries_no_personal_data_but_the_nik_and_decodes_from_the_wire() -> None:
    event = PersonalDataErased(occurred_at=ERASED_AT, source="registry", nik=NIK, requested_by="0123456789ab")
    assert any_event_adapter.validate_json(event.model_dump_json()) == event
    assert set(PersonalDataErased.model_fields) == {
        "event_id",
        "schema_version",
        "occurred_at",
        "source",
        "nik",
        "type",
        "requested_by",
    }
    assert PRIVACY_EVENTS in CATALOGUE and event.type in PRIVACY_EVENTS.event_types


def test_kafka_keeps_dead_letters_no_longer_than_the_default_retention() -> None:
    from shared.settings import NotifierSettings

    days = NotifierSettings.model_fields["personal_data_retention_days"].default
    assert DLQ_RETENTION_MS <= days * 24 * 3600 * 1000


@pytest.mark.parametrize(("state", "what"), [("FAILED", "dead_letter"), ("SENT", "message"), ("SKIPPED", "message")])
def test_a_failed_message_is_counted_as_a_dead_letter_copy(state: str, what: str) -> None:
    assert what_was_removed(state) == what
