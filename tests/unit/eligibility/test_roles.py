"""Eligibility's roles: the urgent process decides emergencies and fires the request timers, the bulk
process everything else; `all` is both (shared.settings.Role)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.eligibility import app as eligibility
from services.eligibility.app import BULK, URGENT, RoleTimers, consumers
from services.eligibility.timers import TimerLoop
from shared.settings import EligibilitySettings, Role
from shared.topics import APPEALS, EMERGENCY_REQUESTS, PARTICIPANT_EVENTS, PRIVACY_EVENTS, REACTIVATION_REQUESTS

HEALTH = {"/healthz", "/readyz", "/metrics"}


def topics(role: Role) -> list[str]:
    return [c.spec.name for c in consumers(role)]


def test_urgent_role_reads_only_emergency_requests() -> None:
    assert topics(Role.URGENT) == [EMERGENCY_REQUESTS.name]


def test_bulk_role_reads_facts_regular_requests_appeals_and_erasures() -> None:
    expected = (PARTICIPANT_EVENTS, REACTIVATION_REQUESTS, APPEALS, PRIVACY_EVENTS)
    assert set(topics(Role.BULK)) == {s.name for s in expected}


def test_all_role_is_both_and_the_roles_share_no_topic_or_consumer_group() -> None:
    assert consumers(Role.ALL) == URGENT + BULK
    assert not {c.spec.name for c in URGENT} & {c.spec.name for c in BULK}
    groups = [c.group for c in consumers(Role.ALL)]
    assert len(groups) == len(set(groups))


class Recorder(TimerLoop):
    """The three passes of the loop, recorded instead of run against a database."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    async def fire_due(self) -> int:
        self.ran.append("request timers")
        return 0

    async def expire_pending(self) -> int:
        self.ran.append("expiry sweep")
        return 0

    async def sweep_reminders(self) -> int:
        self.ran.append("reminder sweep")
        return 0


class Timers(RoleTimers, Recorder):
    def __init__(self, role: Role) -> None:
        Recorder.__init__(self)
        self.role = role


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (Role.URGENT, ["request timers"]),
        (Role.BULK, ["expiry sweep", "reminder sweep"]),
        (Role.ALL, ["request timers", "expiry sweep", "reminder sweep"]),
    ],
)
def test_timer_passes_run_in_their_role(role: Role, expected: list[str]) -> None:
    timers = Timers(role)

    async def one_tick() -> None:
        await timers.fire_due()
        await timers.expire_pending()
        await timers.sweep_reminders()

    asyncio.run(one_tick())
    assert timers.ran == expected


def paths(app: Any) -> set[str]:
    return set(app.openapi()["paths"])


@pytest.mark.parametrize("role", list(Role))
def test_every_role_serves_health_and_metrics_and_reports_its_consumers(role: Role) -> None:
    app = eligibility.create_app(EligibilitySettings(), role=role)
    assert HEALTH <= paths(app)
    assert app.state.role is role
    subscribed = {t for s in app.state.broker.subscribers for t in s.topic_names}
    assert subscribed == set(topics(role))


@pytest.mark.parametrize("role", [Role.BULK, Role.ALL])
def test_regular_requests_are_read_by_two_consumers_of_one_group_in_the_process(role: Role) -> None:
    """While one batch's transaction waits for PostgreSQL, the other consumer's batch is decided."""
    app = eligibility.create_app(EligibilitySettings(), role=role)
    readers = [s for s in app.state.broker.subscribers if REACTIVATION_REQUESTS.name in s.topic_names]
    assert len(readers) == 2
    assert len({s.group_id for s in readers}) == 1


@pytest.mark.parametrize(("role", "at_once"), [(Role.URGENT, True), (Role.BULK, False), (Role.ALL, False)])
def test_only_an_urgent_process_publishes_its_decisions_at_once(role: Role, at_once: bool) -> None:
    """In the all role the relay, woken at each commit, publishes everything in commit order."""
    handlers = eligibility.create_app(EligibilitySettings(), role=role).state.handlers
    assert (handlers.publish_now is not None) is at_once
