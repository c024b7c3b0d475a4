"""Which timers a decision sets: expiry, the grace recheck, the emergency SLA; none once final."""

from __future__ import annotations

import datetime as dt

import pytest

from services.eligibility.domain.policy import Policy
from services.eligibility.domain.rules import Decision, Request
from services.eligibility.domain.schedule import reminders, request_timers
from shared.enums import DecisionReason as R
from shared.enums import Outcome, ReactivationPath

POLICY = Policy("test")
NIK = "3674015708900001"
AT = dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC)
CLOSES = dt.datetime(2026, 12, 1, 16, 59, 59, tzinfo=dt.UTC)


def timers(path: ReactivationPath, outcome: Outcome, reasons: tuple[R, ...], closes: dt.datetime | None) -> dict:
    request = Request("r1", NIK, path, AT)
    found = request_timers(request, Decision(outcome, reasons, (), "test", closes), POLICY)
    assert all(t["subject"] == "r1" and t["nik"] == NIK for t in found)
    return {t["kind"]: t["due_at"] for t in found}


def test_pending_request_expires_when_its_window_closes() -> None:
    assert timers(ReactivationPath.REGULAR, Outcome.PENDING, (R.DESIL_UNKNOWN,), CLOSES) == {"EXPIRE": CLOSES}


def test_unknown_person_is_rechecked_when_the_grace_period_ends() -> None:
    assert timers(ReactivationPath.REGULAR, Outcome.PENDING, (R.NOT_DEACTIVATED,), None) == {
        "RECHECK": AT + dt.timedelta(minutes=10)
    }


def test_pending_emergency_warns_at_12_hours_and_breaches_at_24() -> None:
    found = timers(ReactivationPath.EMERGENCY, Outcome.PENDING, (R.NIK_CONFLICT,), CLOSES)
    assert found == {
        "EXPIRE": CLOSES,
        "SLA_WARNING": AT + dt.timedelta(hours=12),
        "SLA_BREACH": AT + dt.timedelta(hours=24),
    }


@pytest.mark.parametrize("outcome", [Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED])
def test_a_final_decision_sets_no_timer(outcome: Outcome) -> None:
    assert timers(ReactivationPath.EMERGENCY, outcome, (), CLOSES) == {}


def test_reminders_come_30_and_7_days_before_the_window_closes() -> None:
    found = reminders(NIK, dt.date(2026, 6, 1), POLICY)
    assert [(t["kind"], t["subject"], t["due_at"], t["data"]["days_left"]) for t in found] == [
        ("REMINDER", NIK, CLOSES - dt.timedelta(days=30), 30),
        ("REMINDER", NIK, CLOSES - dt.timedelta(days=7), 7),
    ]
