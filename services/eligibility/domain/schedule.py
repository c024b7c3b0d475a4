"""Which durable timers a deactivation or a decision sets (pure): the handlers store them, the timer
loop fires them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.eligibility.domain.policy import Policy
from services.eligibility.domain.rules import Decision, Request
from services.eligibility.domain.window import reactivation_window_closes_at
from shared.enums import DecisionReason, Outcome, ReactivationPath

# Timer kinds. REMINDER's subject is the NIK; every other kind's is the request id.
REMINDER, EXPIRE, RECHECK, SLA_WARNING, SLA_BREACH = "REMINDER", "EXPIRE", "RECHECK", "SLA_WARNING", "SLA_BREACH"


def timer(kind: str, subject: str, nik: str, due_at: dt.datetime, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "nik": nik, "due_at": due_at, "data": data}


def reminders(nik: str, deactivated_on: dt.date, policy: Policy) -> list[dict[str, Any]]:
    """Reminders before the window closes (dropped when the person asks, skipped if reactivated)."""
    closes = reactivation_window_closes_at(deactivated_on, nik, policy)
    return [
        timer(REMINDER, nik, nik, closes - dt.timedelta(days=days), days_left=days, window_closes_at=closes.isoformat())
        for days in policy.reminder_days_before_close
    ]


def request_timers(request: Request, decision: Decision, policy: Policy) -> list[dict[str, Any]]:
    """A PENDING request expires when its window closes, is rejected when the grace period for a
    not-yet-seen deactivation ends, and (emergency) warns at 12 h and breaches at 24 h."""
    if decision.outcome is not Outcome.PENDING:
        return []
    subject, nik = request.request_id, request.nik
    timers: list[dict[str, Any]] = []
    if decision.window_closes_at is not None:
        timers.append(timer(EXPIRE, subject, nik, decision.window_closes_at))
    if DecisionReason.NOT_DEACTIVATED in decision.reasons:
        timers.append(timer(RECHECK, subject, nik, request.received_at + policy.unknown_person_grace))
    if request.path is ReactivationPath.EMERGENCY:
        timers.append(timer(SLA_WARNING, subject, nik, request.received_at + policy.emergency_warning))
        timers.append(timer(SLA_BREACH, subject, nik, request.received_at + policy.emergency_sla))
    return timers
