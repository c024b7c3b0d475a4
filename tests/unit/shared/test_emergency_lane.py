"""A bulk-only process leaves an emergency's decisions on pbi.decisions.v1 to the urgent process (their copy on
pbi.emergency-decisions.v1); everything else, and every other process, gets every record."""

from __future__ import annotations

import uuid

import pytest

from shared.emergency_lane import handler_for, on_emergency_lane
from shared.events import Event
from shared.settings import Role
from shared.topics import DECISIONS, EMERGENCY_DECISIONS, REACTIVATION_REQUESTS
from testkit.events import NIK, T0, H, decided, emergency

EMERGENCY = decided(NIK, uuid.uuid4(), "APPROVED", T0 + H)
REGULAR = decided(NIK, uuid.uuid4(), "PENDING", T0 + H, reasons=("BIOMETRIC_MISSING",), path="REGULAR")


def test_an_emergency_decision_is_on_the_lane_a_regular_one_and_a_request_are_not() -> None:
    assert on_emergency_lane(EMERGENCY)
    assert not on_emergency_lane(REGULAR)
    assert not on_emergency_lane(emergency())  # a request, on its own lane already


async def test_a_bulk_process_hands_its_decisions_handler_all_but_the_emergencies() -> None:
    got: list[list[Event]] = []

    async def handler(events: list[Event]) -> None:
        got.append(events)

    on_decisions = handler_for(Role.BULK, DECISIONS, handler)
    await on_decisions([REGULAR, EMERGENCY, REGULAR])
    await on_decisions([EMERGENCY])  # a batch of only those: acknowledged, the handler not called
    assert got == [[REGULAR, REGULAR]]


@pytest.mark.parametrize(
    ("role", "spec"),
    [(Role.ALL, DECISIONS), (Role.URGENT, EMERGENCY_DECISIONS), (Role.BULK, REACTIVATION_REQUESTS)],
)
def test_any_other_process_or_topic_gets_the_handler_itself(role: Role, spec: object) -> None:
    async def handler(events: list[Event]) -> None: ...

    assert handler_for(role, spec, handler) is handler  # type: ignore[arg-type]
