"""A person's row as the unit of work writes it (standings.py): an update sends only the columns a batch
changed, and those columns, laid over the row as read, are the row as the batch leaves it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

from services.notifier.domain.intents import OnFile
from services.notifier.domain.people import Person
from services.notifier.domain.standing import Standing
from services.notifier.standings import COLUMNS, changed_columns, column_values, to_row
from shared.enums import ParticipantStatus

AT = dt.datetime(2026, 11, 24, 5, tzinfo=dt.UTC)
NIK = "3674015708900001"
# A second value for each column (a person's row can move to it)
OTHER_STANDING = {
    "status": ParticipantStatus.REACTIVATION_PENDING,
    "deactivated_on": dt.date(2026, 11, 1),
    "deactivation_reason": "DESIL_ABOVE_5",
    "window_closes_at": AT + dt.timedelta(days=180),
    "reasons": ("BIOMETRIC_MISSING",),
    "follow_ups": ("BIOMETRIC_RECORDING",),
    "biometric_recorded": True,
    "nik_conflict_resolved": True,
    "id_semesta": True,
    "deceased": True,
    "desil": 3,
    "desil_on": dt.date(2026, 10, 1),
    "request_open": True,
    "last_status_at": AT,
    "request_ids": ("ab" * 16, "cd" * 16),
}
OTHER_CONTACT = {"phone": "+6281234567890", "opted_out": True, "on_whatsapp": False}


def person(nik: str, standing: dict[str, object], contact: dict[str, object]) -> Person:
    return Person(OnFile(**{"phone": None} | contact), Standing(nik, **standing))  # type: ignore[arg-type]


def test_a_request_and_its_decision_send_only_what_they_change() -> None:
    read = person(NIK, {"status": ParticipantStatus.INACTIVE, "deactivated_on": dt.date(2026, 11, 1)}, {})
    requested = dataclasses.replace(read.standing, request_open=True, request_ids=("ab" * 16,))
    after_request = Person(read.contact, requested)
    assert changed_columns([(read, after_request)]) == ["request_open", "request_ids"]
    decided = dataclasses.replace(
        requested, status=ParticipantStatus.REACTIVATION_PENDING, reasons=("BIOMETRIC_MISSING",), last_status_at=AT
    )
    assert changed_columns([(after_request, Person(read.contact, decided))]) == [
        "status",
        "reasons",
        "last_status_at",
    ]
    assert changed_columns([(read, read)]) == []


def test_someone_not_read_gets_every_column() -> None:
    assert changed_columns([(None, person(NIK, {}, {}))]) == [c for c in COLUMNS if c != "nik"]


def test_the_changed_columns_over_the_rows_read_are_the_rows_after_the_batch() -> None:
    """Batches of people each changing some columns (a column changed for one person is sent for all of the
    batch, each with their own value): laid over the rows as read, they give every row as `to_row` has it."""
    rng = random.Random(20)
    for _ in range(300):
        pairs = []
        for i in range(rng.randint(1, 6)):
            nik = f"36740157089{i:05d}"
            before = {k: v for k, v in OTHER_STANDING.items() if rng.random() < 0.5}
            before_contact = {k: v for k, v in OTHER_CONTACT.items() if rng.random() < 0.5}
            after = {k: v for k, v in OTHER_STANDING.items() if rng.random() < 0.5}
            after_contact = {k: v for k, v in OTHER_CONTACT.items() if rng.random() < 0.5}
            pairs.append((person(nik, before, before_contact), person(nik, after, after_contact)))
        columns = changed_columns(pairs)
        afters = [a for _, a in pairs]
        written = {c: column_values(afters, c) for c in columns}
        for i, (read, left) in enumerate(pairs):
            row = to_row(read)
            row.update({c: list(v[i]) if isinstance(v[i], tuple) else v[i] for c, v in written.items()})
            assert row == to_row(left)
            if read != left:
                assert columns


def test_a_column_found_changed_late_in_the_batch_is_sent() -> None:
    """The first person changes all columns of their contact but one, the last person that one."""
    first = person("3674015708900001", {}, {})
    last = person("3674015708900002", {}, {"phone": "+6281234567890"})
    pairs = [
        (first, person(first.nik, {}, {"phone": "+6281234567890", "opted_out": True})),
        (last, last),
        (last, person(last.nik, {"reasons": ("DESIL_UNKNOWN",)}, {"phone": "+6281234567890", "on_whatsapp": False})),
    ]
    assert changed_columns(pairs) == ["reasons", "phone", "opted_out", "on_whatsapp"]
