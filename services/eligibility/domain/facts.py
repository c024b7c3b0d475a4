"""Folding participant events into the facts the rules read (pure).

Facts arrive from several sources, late and twice (DOMAIN.md): a deactivation counts only when it
is newer than the one on record and than the reactivation that cured it; a repeat (same date, from
another source or resent after a reactivation) or an older one arriving late changes nothing, except
that a death it reports is kept (nobody dead is ever reactivated).

Some facts are keyed by their effect (`keyed_by_effect`): folding one again, however late, changes nothing,
so they need no inbox row; the others are claimed in the inbox (services/eligibility/handlers.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import TypeVar

from services.eligibility.domain.policy import Policy
from services.eligibility.domain.reminders import first_reminder
from services.eligibility.domain.rules import Facts
from shared.events import (
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    Event,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
    ParticipantEvent,
)
from shared.timezones import zone_for_nik

E = TypeVar("E", bound=Event)

# Folding one of these again, at any later point, changes nothing: a deactivation counts only when newer
# than the one on record and than the reactivation that cured it, and folded again it only fills in what
# it brought already (a death, a missing number; an erased one is scrubbed off first); a biometric
# recording and a death set a flag that nothing clears. So a redelivery or another source's repeat needs
# no inbox row to be harmless. The other facts would undo a later one if applied again (a re-ranking of
# the same date replaces another, a NIK conflict reported again after its resolution reopens it, an
# earlier ID Semesta replaces a newer one): those are claimed in the inbox.
# (Compared by type name: isinstance against pydantic classes goes through ABCMeta, per event.)
KEYED_BY_EFFECT = frozenset({"participant.deactivated", "participant.biometric_recorded", "participant.death_reported"})


def keyed_by_effect(event: ParticipantEvent) -> bool:
    """Whether folding the event again changes nothing whatever came since (no inbox row needed)."""
    return getattr(event, "type", "") in KEYED_BY_EFFECT


def first_deliveries(events: Iterable[E]) -> list[E]:
    """The batch without repeated event ids, each event at the place of its first delivery."""
    first: dict[uuid.UUID, E] = {}
    for e in events:
        first.setdefault(e.event_id, e)
    return list(first.values())


def fold(facts: Facts, phone: str | None, event: ParticipantEvent, policy: Policy) -> tuple[Facts, str | None]:
    """apply_fact, plus what a new deactivation starts: its reminders, and its contact number (a
    repeat or an older list does not replace the number on file, only fills in a missing one)."""
    new = apply_fact(facts, event, policy)
    # The event's number, if its kind has one (a field's value is in the model's __dict__: getattr with a
    # default on a kind without the field costs pydantic's __getattr__ and an AttributeError, 2 us a fact).
    if new.deactivated_on != facts.deactivated_on:  # (only a deactivation moves it)
        return new, event.__dict__.get("phone") or phone
    return new, phone or event.__dict__.get("phone")


def reactivate(facts: Facts, at: dt.datetime) -> Facts:
    """Approved at `at`: active again, and no more reminders in this cycle."""
    return facts.but(reactivated=True, reactivated_at=at, next_reminder_at=None)


def apply_fact(facts: Facts, event: ParticipantEvent, policy: Policy | None = None) -> Facts:
    """The facts with the event's; with a `policy` (fold), a new deactivation also sets its first reminder."""
    match event:
        case ParticipantDeactivated():
            deceased = facts.deceased or event.reason == "DECEASED"
            if not starts_new_cycle(facts, event.deactivated_on):
                return facts if deceased == facts.deceased else facts.but(deceased=deceased)
            # A new deactivation opens a new window; an earlier reactivation no longer counts. One copy:
            # a wave folds millions of them.
            return facts.but(
                deactivated_on=event.deactivated_on,
                reactivated=False,
                reactivated_at=None,
                deceased=deceased,
                next_reminder_at=None
                if policy is None
                else first_reminder(event.deactivated_on, facts.nik, deceased, policy),
            )
        case DesilUpdated():
            if facts.desil_effective_on and event.effective_on < facts.desil_effective_on:
                return facts  # an older ranking arriving late does not replace a newer one
            return facts.but(desil=event.desil, desil_effective_on=event.effective_on)
        case BiometricRecorded():
            return facts.but(biometric_recorded=True)
        case DeathReported():
            return facts.but(deceased=True)
        case NikConflictReported():
            return facts.but(nik_conflict_open=True)
        case NikConflictResolved():
            return facts.but(nik_conflict_open=False)
        case IdSemestaAssigned():
            return facts.but(id_semesta=event.id_semesta)
    return facts


def starts_new_cycle(facts: Facts, deactivated_on: dt.date) -> bool:
    """Whether a deactivation dated `deactivated_on` is a new one: later than the deactivation on
    record, and (once reactivated) later than the local day of that reactivation."""
    if facts.deactivated_on is not None and deactivated_on <= facts.deactivated_on:
        return False  # the same one again, or an older one arriving late
    if facts.reactivated and facts.reactivated_at is not None:
        return deactivated_on > facts.reactivated_at.astimezone(zone_for_nik(facts.nik)).date()
    return True
