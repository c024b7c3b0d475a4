"""The people the notifier holds, one row each (pure): the contact its messages go to (number, opt-out,
WhatsApp or not) and the standing CEK answers from (domain/standing.py), folded through a batch together so
that a person costs one row written per batch at most, and none when the batch changed nothing of theirs.

A person is held from the first event that gives their number or starts their standing; a fact about
someone not held (a nationwide re-ranking) adds no row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.notifier.domain.intents import OnFile
from services.notifier.domain.standing import Standing, concerns, fold
from shared.events import Event

NO_CONTACT = OnFile(None)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs 3x, made for each person a batch changes
class Person:
    """Treated as immutable."""

    contact: OnFile
    standing: Standing

    @property
    def nik(self) -> str:
        return self.standing.nik


@dataclass(slots=True)
class PeopleChanges:
    new: list[Person] = field(default_factory=list)  # people the notifier did not hold
    changed: list[Person] = field(default_factory=list)  # held people the batch changed, as they now are


def file_numbers(on_file: Mapping[str, OnFile], phones: Mapping[str, str]) -> dict[str, OnFile]:
    """The contacts once the batch's numbers are filed (NIK -> the number its latest event gives). A new
    number may well be on WhatsApp: what was learnt of the old one is forgotten; the same number changes
    nothing, and an opt-out by NIK stays."""
    filed = dict(on_file)
    for nik, phone in phones.items():
        old = filed.get(nik)
        if old is None:
            filed[nik] = OnFile(phone)
        elif old.phone != phone:
            filed[nik] = OnFile(phone, old.opted_out, None)
    return filed


def fold_people(held: Mapping[str, Person], on_file: Mapping[str, OnFile], events: Iterable[Event]) -> PeopleChanges:
    """The batch's people after it: `on_file` their contacts with the batch's numbers filed
    (`file_numbers`), `events` the batch's events applied now (each once), folded onto the standings held."""
    standings: dict[str, Standing | None] = {nik: p.standing for nik, p in held.items()}
    for event in events:
        if concerns(event):
            standings[event.nik] = fold(standings.get(event.nik), event)
    changes = PeopleChanges()
    for nik in on_file.keys() | standings.keys():
        contact, standing = on_file.get(nik, NO_CONTACT), standings.get(nik)
        before = held.get(nik)
        if before is None:
            if standing is not None or contact.phone:
                changes.new.append(Person(contact, standing or Standing(nik)))
        elif contact != before.contact or (standing is not None and standing != before.standing):
            changes.changed.append(Person(contact, standing or before.standing))
    return changes


def deactivation_seen(person: Person | None) -> bool:
    return person is not None and person.standing.deactivated_on is not None
