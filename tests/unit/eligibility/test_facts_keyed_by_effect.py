"""Which facts need an inbox row (domain.facts.keyed_by_effect): a fact keyed by its effect, folded again after
whatever followed it (other facts, an approval, an erasure), changes nothing; each fact claimed in the inbox
instead has a history in which folding it again would undo a later fact."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.eligibility.domain.facts import KEYED_BY_EFFECT, first_deliveries, fold, keyed_by_effect, reactivate
from services.eligibility.domain.records import Person
from services.eligibility.domain.rules import Facts
from shared.events import (
    PARTICIPANT_EVENT_TYPES,
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
)
from shared.privacy import without_contact
from testkit.policy import POLICY

NIK = "3674015708900001"
AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAYS = st.integers(min_value=0, max_value=40).map(lambda d: dt.date(2026, 5, 1) + dt.timedelta(days=d))


def _common() -> dict[str, Any]:
    return {"event_id": uuid.uuid4(), "occurred_at": AT, "source": "test", "nik": NIK}


facts = st.one_of(
    st.builds(
        lambda on, reason, phone: ParticipantDeactivated(**_common(), deactivated_on=on, reason=reason, phone=phone),
        DAYS,
        st.sampled_from(["DESIL_ABOVE_5", "DECEASED"]),
        st.sampled_from([None, "+6281234567890", "+6281298765432"]),
    ),
    st.builds(lambda d, on: DesilUpdated(**_common(), desil=d, effective_on=on), st.integers(1, 10), DAYS),
    st.builds(lambda on: BiometricRecorded(**_common(), recorded_on=on), DAYS),
    st.builds(lambda on: DeathReported(**_common(), died_on=on), DAYS),
    st.builds(lambda: NikConflictReported(**_common())),
    st.builds(lambda: NikConflictResolved(**_common())),
    st.builds(lambda s: IdSemestaAssigned(**_common(), id_semesta=s), st.sampled_from(["A", "B"])),
)
# What else changes a person between a fact and its redelivery: an approval (days after AT), an erasure.
steps = st.one_of(facts, st.integers(0, 60).map(lambda d: ("approve", d)), st.just(("erase", 0)))


def _apply(person: Person, step: Any, erased: bool) -> tuple[Person, bool]:
    facts_, phone = person
    if isinstance(step, tuple):
        kind, days = step
        if kind == "approve":  # the clock moves forward: no approval is stamped before the one on record
            at = max(AT + dt.timedelta(days=days), facts_.reactivated_at or AT)
            return (reactivate(facts_, at), phone), erased
        return (facts_, None), True
    event = without_contact(step) if erased else step  # as the handlers scrub an erased person's facts
    return fold(facts_, phone, event, POLICY), erased


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, min_size=1, max_size=12), st.data())
def test_a_fact_keyed_by_its_effect_folded_again_after_anything_changes_nothing(history: list[Any], data: Any) -> None:
    person, erased = (Facts(NIK), None), False
    for step in history:
        person, erased = _apply(person, step, erased)
    keyed = [s for s in history if not isinstance(s, tuple) and keyed_by_effect(s)]
    if keyed:
        again = data.draw(st.sampled_from(keyed))
        assert _apply(person, again, erased)[0] == person


def _fold_all(*events: Any) -> Facts:
    person: Person = (Facts(NIK), None)
    for e in events:
        person = fold(*person, e, POLICY)
    return person[0]


def _claimed_cases() -> dict[str, tuple[Any, Any]]:
    """For each claimed type, a fact and a later one that folding the first again would undo."""
    on = dt.date(2026, 6, 20)
    return {
        "participant.desil_updated": (
            DesilUpdated(**_common(), desil=7, effective_on=on),
            DesilUpdated(**_common(), desil=3, effective_on=on),
        ),
        "participant.nik_conflict_reported": (NikConflictReported(**_common()), NikConflictResolved(**_common())),
        "participant.nik_conflict_resolved": (NikConflictResolved(**_common()), NikConflictReported(**_common())),
        "participant.id_semesta_assigned": (
            IdSemestaAssigned(**_common(), id_semesta="A"),
            IdSemestaAssigned(**_common(), id_semesta="B"),
        ),
    }


@pytest.mark.parametrize("kind", sorted(set(PARTICIPANT_EVENT_TYPES) - KEYED_BY_EFFECT))
def test_a_claimed_fact_folded_again_would_undo_a_later_one(kind: str) -> None:
    first, later = _claimed_cases()[kind]
    assert not keyed_by_effect(first)
    assert _fold_all(first, later, first) != _fold_all(first, later)


def test_a_record_delivered_twice_in_a_batch_counts_at_its_first_place() -> None:
    a, b = NikConflictReported(**_common()), NikConflictResolved(**_common())
    assert first_deliveries([a, b, a]) == [a, b]
