"""The chaos checker counts lost and duplicated work from what clients were told and what the registry,
intake and the provider hold: crafted inputs, one fault each."""

from __future__ import annotations

import uuid
from typing import Any

from testkit.chaos import DECIDED, Acked, Person, Wave, assess, message_refs

ALICE, BUDI = "3674010101900001", "3674010202900002"
ALICE_PHONE, BUDI_PHONE = "+6281200000001", "+6281200000002"
DEACTIVATION = {ALICE: str(uuid.uuid4()), BUDI: str(uuid.uuid4())}
REQUEST = str(uuid.uuid4())  # Alice's emergency request
DECISION = str(uuid.uuid4())  # its final decision's event id


def _wave() -> Wave:
    people = {ALICE: Person(ALICE, ALICE_PHONE, "EMERGENCY"), BUDI: Person(BUDI, BUDI_PHONE, None)}
    events = [{"event_id": DEACTIVATION[n], "type": "participant.deactivated", "nik": n} for n in people]
    return Wave(people, events)


def _acked() -> Acked:
    return Acked(events={DEACTIVATION[ALICE]: ALICE, DEACTIVATION[BUDI]: BUDI}, requests={ALICE: REQUEST})


def _histories() -> dict[str, list[dict[str, Any]] | None]:
    deactivated = {
        nik: {"event_id": event_id, "event_type": "participant.deactivated", "status": "INACTIVE"}
        for nik, event_id in DEACTIVATION.items()
    }
    decided = {"event_id": DECISION, "event_type": DECIDED, "status": "ACTIVE"}
    return {ALICE: [deactivated[ALICE], decided], BUDI: [deactivated[BUDI]]}


def _statuses() -> dict[str, str | None]:
    return {REQUEST: "APPROVED"}


def _ref(event_id: str, kind: str) -> str:
    (ref,) = message_refs(event_id, (kind,))
    return ref


def _messages() -> list[dict[str, Any]]:
    """Everything due when quiet hours are over: both deactivation notices, the request's receipt, its decision."""
    received = str(uuid.uuid5(uuid.UUID(REQUEST), "requested"))
    return [
        {"to": ALICE_PHONE, "reference": _ref(DEACTIVATION[ALICE], "deactivated")},
        {"to": BUDI_PHONE, "reference": _ref(DEACTIVATION[BUDI], "deactivated")},
        {"to": ALICE_PHONE, "reference": _ref(received, "received")},
        {"to": ALICE_PHONE, "reference": _ref(DECISION, "emergency_approved")},
    ]


def test_everything_held_once_is_neither_lost_nor_duplicated() -> None:
    t = assess(_wave(), _acked(), _histories(), _statuses(), _messages(), non_urgent_due=True)
    assert (t.lost, t.duplicated) == (0, 0), t.detail()
    assert (t.events, t.requests, t.messages_due, t.messages_seen) == (2, 1, 4, 4)
    assert t.caught_up and not t.incomplete


def test_an_acknowledged_event_missing_from_the_history_is_lost() -> None:
    histories = _histories()
    histories[BUDI] = []
    t = assess(_wave(), _acked(), histories, _statuses(), _messages(), non_urgent_due=True)
    assert (t.events_lost, t.lost, t.duplicated) == (1, 1, 0)
    assert t.incomplete == {BUDI}


def test_a_history_entry_twice_is_one_duplicate() -> None:
    histories = _histories()
    histories[BUDI] = histories[BUDI] * 2
    t = assess(_wave(), _acked(), histories, _statuses(), _messages(), non_urgent_due=True)
    assert (t.events_duplicated, t.duplicated, t.lost) == (1, 1, 0)


def test_a_second_final_decision_is_a_duplicate() -> None:
    histories = _histories()
    histories[ALICE] = [*histories[ALICE], {"event_id": str(uuid.uuid4()), "event_type": DECIDED, "status": "INACTIVE"}]
    t = assess(_wave(), _acked(), histories, _statuses(), _messages(), non_urgent_due=True)
    assert (t.requests_decided_twice, t.lost) == (1, 0)
    # the second decision is also a history entry of its own, not a copy of the first
    assert (t.events_duplicated, t.duplicated) == (0, 1)


def test_a_pending_decision_is_not_final() -> None:
    histories = _histories()
    histories[ALICE][1]["status"] = "REACTIVATION_PENDING"
    t = assess(_wave(), _acked(), histories, _statuses(), _messages()[:3], non_urgent_due=True)
    assert (t.requests_undecided, t.requests_lost, t.lost) == (1, 1, 1)


def test_a_request_without_decision_or_final_status_is_lost_once() -> None:
    histories = _histories()
    histories[ALICE] = histories[ALICE][:1]
    t = assess(_wave(), _acked(), histories, {REQUEST: "RECEIVED"}, _messages()[:3], non_urgent_due=True)
    assert (t.requests_undecided, t.request_status_missing, t.requests_lost) == (1, 1, 1)
    assert t.lost == 1 and ALICE in t.incomplete


def test_intake_not_showing_the_final_status_loses_the_request() -> None:
    t = assess(_wave(), _acked(), _histories(), {REQUEST: None}, _messages(), non_urgent_due=True)
    assert (t.request_status_missing, t.requests_undecided, t.requests_lost) == (1, 0, 1)


def test_a_due_message_the_provider_never_got_is_lost_and_an_extra_copy_duplicated() -> None:
    messages = _messages()
    t = assess(_wave(), _acked(), _histories(), _statuses(), messages[1:] + [messages[3]], non_urgent_due=True)
    assert (t.messages_lost, t.messages_duplicated) == (1, 1)
    assert (t.lost, t.duplicated) == (1, 1)


def test_in_quiet_hours_only_the_emergency_messages_are_due() -> None:
    messages = _messages()
    t = assess(_wave(), _acked(), _histories(), _statuses(), messages[2:], non_urgent_due=False)
    assert (t.messages_due, t.messages_lost, t.lost) == (2, 0, 0)
    assert not t.non_urgent_checked


def test_messages_to_people_outside_the_wave_are_not_counted() -> None:
    stranger = {"to": "+6281299999999", "reference": _ref(str(uuid.uuid4()), "deactivated")}
    t = assess(_wave(), _acked(), _histories(), _statuses(), [*_messages(), stranger, stranger], non_urgent_due=True)
    assert (t.messages_seen, t.messages_duplicated) == (4, 0)
