"""Body fingerprints, deterministic ids, the SLA shown for a request, and read-model order rules."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.idempotency import body_hash, event_id_for, event_id_text, import_event_id, sla_state
from services.intake.domain.read_model import (
    furthest_sla,
    in_rounds,
    sla_changes,
    sla_states_below,
    statuses_a_decision_may_replace,
)
from shared.enums import Outcome, SlaState
from shared.events import EmergencySlaChanged, ReactivationDecided

T0 = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
RID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_body_hash_ignores_key_order_but_not_values() -> None:
    assert body_hash({"a": 1, "b": [1, 2]}) == body_hash({"b": [1, 2], "a": 1})
    assert body_hash({"a": 1, "b": [1, 2]}) != body_hash({"a": 1, "b": [2, 1]})
    assert body_hash({"a": "1"}) != body_hash({"a": 1})


def test_event_id_ignores_a_given_event_id_field_and_depends_on_content() -> None:
    raw = {"nik": "3674015708900001", "type": "participant.death_reported", "died_on": "2026-11-01"}
    assert event_id_for(raw) == event_id_for({**raw, "event_id": None})
    assert event_id_for(raw) != event_id_for({**raw, "died_on": "2026-11-02"})


def test_import_event_id_is_stable_per_row() -> None:
    a = import_event_id("3674015708900001", "2026-11-01", "DESIL_ABOVE_5")
    assert a == import_event_id("3674015708900001", "2026-11-01", "DESIL_ABOVE_5")
    assert a != import_event_id("3674015708900001", "2026-11-01", "NO_BIOMETRIC")
    assert a != import_event_id("3674015708900002", "2026-11-01", "DESIL_ABOVE_5")


@pytest.mark.parametrize(
    ("status", "stored", "now", "expected"),
    [
        ("RECEIVED", "OK", T0 + H, SlaState.OK),
        ("RECEIVED", "OK", T0 + 12 * H, SlaState.WARNING),  # the clock, even before the timer event arrives
        ("PENDING", "WARNING", T0 + 13 * H, SlaState.WARNING),
        ("PENDING", "OK", T0 + 24 * H, SlaState.BREACHED),
        ("PENDING", "BREACHED", T0 + H, SlaState.BREACHED),  # stored state never goes back
        ("APPROVED", "WARNING", T0 + 30 * H, SlaState.MET),
        ("APPROVED", "MET", T0 + 30 * H, SlaState.MET),
        ("APPROVED", "BREACHED", T0 + 30 * H, SlaState.BREACHED),  # approved after the breach: met late
        ("REJECTED", "MET", T0 + 30 * H, SlaState.CLOSED),
        ("REJECTED", "BREACHED", T0 + 30 * H, SlaState.CLOSED),  # off the board, not breached
        ("EXPIRED", "WARNING", T0 + 30 * H, SlaState.CLOSED),
    ],
)
def test_sla_state_shown(status: str, stored: str, now: dt.datetime, expected: SlaState) -> None:
    assert sla_state(status, stored, T0 + 24 * H, 12 * H, T0, now) is expected


def test_an_approval_after_the_deadline_shows_breached_even_before_its_state_is_stored() -> None:
    assert sla_state("APPROVED", "WARNING", T0 + 24 * H, 12 * H, T0, T0 + 31 * H, T0 + 30 * H) is SlaState.BREACHED
    assert sla_state("APPROVED", "WARNING", T0 + 24 * H, 12 * H, T0, T0 + 31 * H, T0 + 20 * H) is SlaState.MET


def test_no_sla_without_deadline() -> None:
    assert sla_state("RECEIVED", None, None, 12 * H, T0, T0) is None


def test_pending_never_reopens_a_decided_request() -> None:
    assert "APPROVED" not in statuses_a_decision_may_replace(Outcome.PENDING)
    assert "REJECTED" not in statuses_a_decision_may_replace(Outcome.PENDING)
    assert set(statuses_a_decision_may_replace(Outcome.PENDING)) == {"RECEIVED", "PENDING"}
    assert {"RECEIVED", "PENDING", "REJECTED"} <= set(statuses_a_decision_may_replace(Outcome.APPROVED))


def test_sla_only_moves_forward() -> None:
    assert sla_states_below(SlaState.OK) == []
    assert sla_states_below(SlaState.WARNING) == ["OK"]
    assert set(sla_states_below(SlaState.MET)) == {"OK", "WARNING"}
    assert set(sla_states_below(SlaState.BREACHED)) == {"OK", "WARNING", "MET"}  # BREACHED absorbs MET
    assert set(sla_states_below(SlaState.CLOSED)) == {"OK", "WARNING", "MET", "BREACHED"}


def _decision(outcome: Outcome, at: dt.datetime, deadline: dt.datetime | None) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik="3674015708900001",
        decision_id=uuid.uuid4(),
        request_id=RID,
        path="EMERGENCY" if deadline else "REGULAR",
        channel="HOSPITAL",
        outcome=outcome,
        policy_version="t",
        received_at=T0,
        decided_at=at,
        sla_deadline=deadline,
    )


def _timer(state: SlaState, at: dt.datetime) -> EmergencySlaChanged:
    return EmergencySlaChanged(
        occurred_at=at,
        source="eligibility",
        nik="3674015708900001",
        request_id=RID,
        sla_state=state,
        sla_deadline=T0 + 24 * H,
        received_at=T0,
    )


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([_timer(SlaState.WARNING, T0 + 12 * H), _timer(SlaState.MET, T0 + 13 * H)], SlaState.MET),
        ([_decision(Outcome.APPROVED, T0 + 30 * H, T0 + 24 * H)], SlaState.BREACHED),  # approved late
        ([_timer(SlaState.MET, T0 + 30 * H)], SlaState.BREACHED),  # a MET stamped after the deadline
        ([_timer(SlaState.BREACHED, T0 + 24 * H), _timer(SlaState.MET, T0 + 30 * H)], SlaState.BREACHED),
        ([_decision(Outcome.REJECTED, T0 + H, T0 + 24 * H), _timer(SlaState.BREACHED, T0 + 24 * H)], SlaState.CLOSED),
        ([_decision(Outcome.EXPIRED, T0 + 30 * H, T0 + 24 * H)], SlaState.CLOSED),
    ],
)
def test_a_batch_folds_timer_events_and_final_decisions(events: list, expected: SlaState) -> None:  # type: ignore[type-arg]
    assert furthest_sla(sla_changes(events)) == {RID: expected}
    assert furthest_sla(sla_changes(list(reversed(events)))) == {RID: expected}


def test_pending_and_non_emergency_decisions_say_nothing_of_the_sla() -> None:
    assert sla_changes([_decision(Outcome.PENDING, T0 + 30 * H, T0 + 24 * H)]) == []
    assert sla_changes([_decision(Outcome.APPROVED, T0 + H, None)]) == []


def test_a_request_with_an_idempotency_key_has_one_id_per_caller_and_key() -> None:
    from services.intake.domain.idempotency import request_id_for

    assert request_id_for("key-a", "simrs-1") == request_id_for("key-a", "simrs-1")
    assert request_id_for("key-a", "simrs-1") != request_id_for("key-b", "simrs-1")  # keys are per caller
    assert request_id_for("key-a", "simrs-1") != request_id_for("key-a", "simrs-2")
    assert request_id_for("key-a", None) != request_id_for("key-a", None)  # no key: a new request each time


@given(st.lists(st.sampled_from("abcd"), max_size=30))
def test_rounds_hold_each_request_once_and_keep_its_order(request_ids: list[str]) -> None:
    rounds = in_rounds(request_ids)
    assert sorted(p for r in rounds for p in r) == list(range(len(request_ids)))
    for r in rounds:
        assert len({request_ids[p] for p in r}) == len(r)
    for rid in set(request_ids):
        # The k-th event of a request is in round k.
        positions = [p for p, x in enumerate(request_ids) if x == rid]
        assert [next(k for k, r in enumerate(rounds) if p in r) for p in positions] == list(range(len(positions)))


def test_furthest_sla_only_moves_forward_whatever_the_order() -> None:
    states = [("a", SlaState.WARNING), ("a", SlaState.OK), ("b", SlaState.MET), ("b", SlaState.BREACHED)]
    assert furthest_sla(states) == {"a": SlaState.WARNING, "b": SlaState.BREACHED}
    assert furthest_sla(list(reversed(states))) == furthest_sla(states)


# Small documents: what matters is every kind of value and nesting, not size (an unbounded recursive
# strategy took over 300 s to draw on a busy machine).
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60)
@given(st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=6), st.sampled_from([None, "", "given"]))
def test_an_event_id_as_text_is_the_uuid5_of_its_content(event: dict, given_id: str | None) -> None:  # type: ignore[type-arg]
    """A batch derives its ids as text without UUID objects: the very same ids (a resend must keep its id)."""
    if given_id is not None:
        event = {**event, "event_id": given_id}
    assert event_id_text(event) == str(event_id_for(event))
    content = {k: v for k, v in event.items() if k != "event_id"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert event_id_for(event) == uuid.uuid5(uuid.UUID("3b8d0f7e-2c64-4c1f-a6f2-0e6b1f2d9a45"), canonical)
