"""Intake's roles: the urgent process is the contract's HTTP API on 8080 (its big batches validated in
a worker process it owns); the bulk process runs the read-model consumer (decisions and SLA states),
serving only health and metrics; `all` is both (shared.settings.Role)."""

from __future__ import annotations

import pytest

from services.intake import app as intake
from services.intake.app import consumers
from shared.settings import IntakeSettings, Role
from shared.topics import DECISIONS, TIMER_EVENTS

HEALTH = {"/healthz", "/readyz", "/metrics"}


def test_the_api_process_has_no_consumer_and_the_bulk_one_the_read_model() -> None:
    assert consumers(Role.URGENT) == ()
    assert consumers(Role.BULK) == consumers(Role.ALL) == (DECISIONS, TIMER_EVENTS)


@pytest.mark.parametrize("role", list(Role))
def test_each_process_subscribes_its_roles_topics(role: Role) -> None:
    app = intake.create_app(IntakeSettings(), role=role)
    assert {t for s in app.state.broker.subscribers for t in s.topic_names} == {s.name for s in consumers(role)}


@pytest.mark.parametrize("role", [Role.URGENT, Role.ALL])
def test_the_urgent_or_all_process_serves_the_contract(role: Role) -> None:
    paths = set(intake.create_app(IntakeSettings(), role=role).openapi()["paths"])
    assert {"/v1/events", "/v1/reactivations"} <= paths and HEALTH <= paths


def test_a_bulk_process_serves_only_health_and_metrics() -> None:
    assert set(intake.create_app(IntakeSettings(), role=Role.BULK).openapi()["paths"]) == HEALTH
