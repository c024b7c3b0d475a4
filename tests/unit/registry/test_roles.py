"""The registry's roles: the urgent process mirrors what moves an emergency to ACTIVE and serves the
API and dashboard (8081); the bulk process mirrors the rest and sweeps closed windows, serving only
health and metrics; `all` is both (shared.settings.Role)."""

from __future__ import annotations

import pytest

from services.registry import app as registry
from services.registry.app import BULK, URGENT, consumers, relays
from shared.settings import RegistrySettings, Role, port_for
from shared.topics import (
    DECISIONS,
    EMERGENCY_DECISIONS,
    EMERGENCY_REQUESTS,
    NOTIFICATION_EVENTS,
    PARTICIPANT_EVENTS,
    REACTIVATION_REQUESTS,
    TIMER_EVENTS,
)

HEALTH = {"/healthz", "/readyz", "/metrics"}


def names(role: Role) -> set[str]:
    return {spec.name for spec in consumers(role)}


def test_urgent_role_mirrors_emergency_decisions_emergency_requests_and_sla_events() -> None:
    """Not pbi.decisions.v1: a wave's regular decisions are the bulk process's; an emergency's come on its copy."""
    assert names(Role.URGENT) == {EMERGENCY_DECISIONS.name, EMERGENCY_REQUESTS.name, TIMER_EVENTS.name}


def test_bulk_role_mirrors_facts_regular_requests_every_decision_and_notifications() -> None:
    assert names(Role.BULK) == {
        PARTICIPANT_EVENTS.name,
        REACTIVATION_REQUESTS.name,
        DECISIONS.name,
        NOTIFICATION_EVENTS.name,
    }


def test_all_role_is_both_and_the_roles_share_no_topic() -> None:
    assert consumers(Role.ALL) == URGENT + BULK
    assert not names(Role.URGENT) & names(Role.BULK)


def test_only_a_process_running_bulk_relays_the_outbox() -> None:
    """A wave's status changes are the relay's work: an urgent-only process keeps to emergencies."""
    assert relays(Role.BULK) and relays(Role.ALL) and not relays(Role.URGENT)


def paths(role: Role) -> set[str]:
    return set(registry.create_app(RegistrySettings(), role=role).openapi()["paths"])


@pytest.mark.parametrize("role", [Role.URGENT, Role.ALL])
def test_the_urgent_or_all_process_serves_the_api_and_the_dashboard(role: Role) -> None:
    served = paths(role)
    assert HEALTH <= served
    assert "/v1/participants/{nik}" in served and "/dashboard/snapshot" in served


def test_a_bulk_process_serves_only_health_and_metrics_on_its_own_port() -> None:
    assert paths(Role.BULK) == HEALTH
    assert port_for(RegistrySettings().http_port, Role.BULK) == 8181
    assert port_for(RegistrySettings().http_port, Role.URGENT) == 8081


@pytest.mark.parametrize("role", list(Role))
def test_each_process_subscribes_its_roles_topics(role: Role) -> None:
    app = registry.create_app(RegistrySettings(), role=role)
    assert {t for s in app.state.broker.subscribers for t in s.topic_names} == names(role)
    assert app.state.role is role
