"""A person's row (domain/people.py): the batch's numbers filed and standings folded together, and only the
people a batch changed written."""

from __future__ import annotations

import datetime as dt

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person, file_numbers, fold_people
from services.notifier.domain.standing import Standing, fold
from shared.enums import DeactivationReason
from shared.events import BiometricRecorded, ParticipantDeactivated

NIK, OTHER = "3674015708900001", "3674015708900002"
PHONE, NEW_PHONE = "+6281234567890", "+6281298765432"
AT = dt.datetime(2026, 11, 24, 5, tzinfo=dt.UTC)


def deactivation(nik: str = NIK, phone: str | None = PHONE) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=AT,
        source="SIKS-NG",
        nik=nik,
        reason=DeactivationReason.DESIL_ABOVE_5,
        deactivated_on=dt.date(2026, 11, 1),
        phone=phone,
    )


def test_a_new_number_forgets_what_whatsapp_said_of_the_old_one_and_keeps_the_opt_out() -> None:
    on_file = {NIK: OnFile(PHONE, opted_out=True, on_whatsapp=False), OTHER: OnFile(PHONE, on_whatsapp=False)}
    filed = file_numbers(on_file, {NIK: NEW_PHONE, OTHER: PHONE})
    assert filed == {NIK: OnFile(NEW_PHONE, True, None), OTHER: OnFile(PHONE, False, False)}


def test_a_new_person_is_one_row_with_number_and_standing() -> None:
    event = deactivation()
    changes = fold_people({}, file_numbers({}, {NIK: PHONE}), [event])
    [person] = changes.new
    assert person.contact == OnFile(PHONE) and person.standing == fold(None, event)
    assert changes.changed == []


def test_a_redelivered_deactivation_writes_nobody() -> None:
    event = deactivation()
    held = {NIK: Person(OnFile(PHONE), fold(None, event) or Standing(NIK))}
    changes = fold_people(held, file_numbers({NIK: OnFile(PHONE)}, {NIK: PHONE}), [event])
    assert changes.new == [] and changes.changed == []


def test_a_fact_about_someone_not_held_adds_nobody_and_one_held_is_updated() -> None:
    held = {NIK: Person(OnFile(PHONE), Standing(NIK))}
    facts = [BiometricRecorded(occurred_at=AT, source="DUKCAPIL", nik=n, recorded_on=AT.date()) for n in (NIK, OTHER)]
    changes = fold_people(held, {NIK: OnFile(PHONE)}, facts)
    assert changes.new == []
    assert [p.standing.biometric_recorded for p in changes.changed] == [True]


def test_a_number_alone_holds_the_person_without_a_standing_yet() -> None:
    changes = fold_people({}, {OTHER: OnFile(PHONE)}, [])
    assert changes.new == [Person(OnFile(PHONE), Standing(OTHER))]
