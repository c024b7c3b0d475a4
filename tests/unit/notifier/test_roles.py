"""The notifier's roles: it is on no patient's path to ACTIVE; its urgent process handles what an
emergency's people and the on-call staff hear (emergency requests, an emergency's decisions, SLA
escalations), sends those and takes the providers' webhooks (8082); its bulk process queues and sends a
wave's notices (every decision, window reminders included) and applies erasures, serving only health and
metrics (shared.settings.Role)."""

from __future__ import annotations

import pytest

from services.notifier import app as notifier
from services.notifier.app import BULK, URGENT, consumers
from services.notifier.settings import NotifierSettings
from shared.kafka import _wait_for_records
from shared.settings import Role
from shared.topics import (
    DECISIONS,
    EMERGENCY_DECISIONS,
    EMERGENCY_REQUESTS,
    PARTICIPANT_EVENTS,
    PRIVACY_EVENTS,
    REACTIVATION_REQUESTS,
    TIMER_EVENTS,
    WINDOW_REMINDERS,
)

HEALTH = {"/healthz", "/readyz", "/metrics"}


def names(role: Role) -> set[str]:
    return {spec.name for spec in consumers(role)}


def test_urgent_role_reads_emergency_requests_emergency_decisions_and_sla_events() -> None:
    assert names(Role.URGENT) == {EMERGENCY_REQUESTS.name, EMERGENCY_DECISIONS.name, TIMER_EVENTS.name}


def test_bulk_role_reads_facts_regular_requests_every_decision_window_reminders_and_erasures() -> None:
    assert names(Role.BULK) == {
        PARTICIPANT_EVENTS.name,
        REACTIVATION_REQUESTS.name,
        DECISIONS.name,
        WINDOW_REMINDERS.name,
        PRIVACY_EVENTS.name,
    }


def test_all_role_is_both_and_the_roles_share_no_topic() -> None:
    assert consumers(Role.ALL) == URGENT + BULK
    assert not names(Role.URGENT) & names(Role.BULK)


@pytest.mark.parametrize("role", list(Role))
def test_each_process_subscribes_its_roles_topics(role: Role) -> None:
    app = notifier.create_app(NotifierSettings(), role=role)
    assert {t for s in app.state.broker.subscribers for t in s.topic_names} == names(role)


def test_every_batch_consumer_waits_in_the_fetch_with_no_polling_pace() -> None:
    """What an emergency's people and the on-call staff hear waits for no pause between empty batches, and no
    urgent consumer polls tight for it: every batch consumer waits in the fetch (shared.kafka._wait_for_records),
    whose wait at the broker (500 ms) a record arriving ends at once."""
    subscribers = notifier.create_app(NotifierSettings(), role=Role.ALL).state.broker.subscribers
    batched = [s for s in subscribers if hasattr(s, "batch_timeout_ms")]
    assert {t for s in batched for t in s.topic_names} >= {EMERGENCY_DECISIONS.name, TIMER_EVENTS.name}
    assert all(vars(s)["get_msg"].__func__ is _wait_for_records for s in batched)
    assert {s._connection_args["fetch_max_wait_ms"] for s in subscribers} == {500}


def test_webhooks_are_served_by_the_urgent_process_only() -> None:
    urgent = set(notifier.create_app(NotifierSettings(), role=Role.URGENT).openapi()["paths"])
    bulk = set(notifier.create_app(NotifierSettings(), role=Role.BULK).openapi()["paths"])
    assert bulk == HEALTH
    assert HEALTH < urgent and any(p.startswith("/webhooks") for p in urgent)


@pytest.mark.parametrize("role", list(Role))
def test_each_process_sends_its_own_roles_messages_and_only_a_bulk_one_sweeps(role: Role) -> None:
    """A wave's notices are sent by the bulk process, at its priority; an emergency's by the urgent one
    (tests/integration/test_notifier_claim.py: what each role's claim takes)."""
    sender = notifier.create_app(NotifierSettings(), role=role).state.sender
    assert sender.role is role
    assert bool(sender.sweeps) is role.runs_bulk  # releasing WAITING messages is bulk work
