"""Folding participant events into the facts the rules read (pure)."""

from __future__ import annotations

from dataclasses import replace

from services.eligibility.domain.rules import Facts
from shared.events import (
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
    ParticipantEvent,
)


def apply_fact(facts: Facts, event: ParticipantEvent) -> Facts:
    match event:
        case ParticipantDeactivated():
            # A new deactivation opens a new window; an earlier reactivation no longer counts.
            return replace(
                facts,
                deactivated_on=event.deactivated_on,
                reactivated=False,
                deceased=facts.deceased or event.reason == "DECEASED",
            )
        case DesilUpdated():
            if facts.desil_effective_on and event.effective_on < facts.desil_effective_on:
                return facts  # an older ranking arriving late does not replace a newer one
            return replace(facts, desil=event.desil, desil_effective_on=event.effective_on)
        case BiometricRecorded():
            return replace(facts, biometric_recorded=True)
        case DeathReported():
            return replace(facts, deceased=True)
        case NikConflictReported():
            return replace(facts, nik_conflict_open=True)
        case NikConflictResolved():
            return replace(facts, nik_conflict_open=False)
        case IdSemestaAssigned():
            return replace(facts, id_semesta=event.id_semesta)
    return facts
