"""Which durable timers a decision sets, and which SLA state it publishes (pure): the handlers store
the timers, the timer loop fires them. Window expiry and reminders have no timer rows: the loop
sweeps pending requests by `requests.window_closes_at` and people by `facts.next_reminder_at`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.eligibility.domain.policy import Policy
from services.eligibility.domain.rules import Decision, Request
from shared.enums import DecisionReason, Outcome, ReactivationPath, SlaState

# Timer kinds; the subject is the request id. (REMINDER and EXPIRE rows are gone: migrations 0003-0004;
# EXPIRE still names the expiry sweep in metrics.)
REMINDER, EXPIRE, RECHECK, SLA_WARNING, SLA_BREACH = "REMINDER", "EXPIRE", "RECHECK", "SLA_WARNING", "SLA_BREACH"


def timer(kind: str, subject: str, nik: str, due_at: dt.datetime, **data: Any) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "nik": nik, "due_at": due_at, "data": data}


def request_timers(request: Request, decision: Decision, policy: Policy) -> list[dict[str, Any]]:
    """A PENDING request is rejected when the grace period for a not-yet-seen deactivation ends, and
    (emergency) warns at 12 h and breaches at 24 h. (It expires when its window closes: the sweep.)

    While it waits for its deactivation, the SLA timers due after the recheck are not set yet: the request
    is decided again before they are due, and that decision sets them if it still needs them (the
    deactivation landed and something else holds it: a NIK conflict), or it is final (approved, or
    rejected by the recheck) and needs none. An emergency that overtook its deactivation writes one
    timer row, not three."""
    if decision.outcome is not Outcome.PENDING:
        return []
    subject, nik = request.request_id, request.nik
    timers: list[dict[str, Any]] = []
    recheck = None
    if DecisionReason.NOT_DEACTIVATED in decision.reasons:
        recheck = request.received_at + policy.unknown_person_grace
        timers.append(timer(RECHECK, subject, nik, recheck))
    if request.path is ReactivationPath.EMERGENCY:
        for kind, after in ((SLA_WARNING, policy.emergency_warning), (SLA_BREACH, policy.emergency_sla)):
            due = request.received_at + after
            if recheck is None or due <= recheck:
                timers.append(timer(kind, subject, nik, due))
    return timers


def sla_state(decision: Decision, first: bool) -> SlaState | None:
    """The SLA state an emergency's decision publishes on the timer topic: OK when its first decision leaves
    it PENDING (the clock starts). What a final decision does to the clock (approved: MET, or BREACHED when
    late; rejected or expired: CLOSED, its SLA timers deleted in the same transaction, so no WARNING or
    BREACHED follows) is the decision's own: every reader folds it from the decision (shared.sla
    sla_of_decision: the registry, intake's read model; the notifier escalates only WARNING and BREACHED).
    Published apart as well, it was one more record per emergency, and a transaction in each of three
    consumers, that changed nothing (issue 20)."""
    return SlaState.OK if first and decision.outcome is Outcome.PENDING else None
