"""Which timers a decision sets (the grace recheck, the emergency SLA; none once final) and
which SLA state it publishes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from services.eligibility.domain.batch import Batch
from services.eligibility.domain.records import RequestRecord
from services.eligibility.domain.rules import Decision, Facts, Request
from services.eligibility.domain.schedule import request_timers, sla_state
from shared.enums import DecisionReason as R
from shared.enums import Outcome, ReactivationPath, SlaState
from shared.events import Documents, HospitalLetter, ReactivationRequested
from shared.sla import sla_of_decision
from testkit.policy import POLICY

NIK = "3674015708900001"
AT = dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC)
CLOSES = dt.datetime(2026, 12, 1, 16, 59, 59, tzinfo=dt.UTC)


def timers(path: ReactivationPath, outcome: Outcome, reasons: tuple[R, ...], closes: dt.datetime | None) -> dict:
    request = Request("r1", NIK, path, AT)
    found = request_timers(request, Decision(outcome, reasons, (), "test", closes), POLICY)
    assert all(t["subject"] == "r1" and t["nik"] == NIK for t in found)
    return {t["kind"]: t["due_at"] for t in found}


def test_a_pending_request_needs_no_timer_row_to_expire() -> None:
    # The expiry sweep reads requests.window_closes_at (timers.TimerLoop.expire_pending).
    assert timers(ReactivationPath.REGULAR, Outcome.PENDING, (R.DESIL_UNKNOWN,), CLOSES) == {}


def test_unknown_person_is_rechecked_when_the_grace_period_ends() -> None:
    assert timers(ReactivationPath.REGULAR, Outcome.PENDING, (R.NOT_DEACTIVATED,), None) == {
        "RECHECK": AT + dt.timedelta(minutes=10)
    }


def test_pending_emergency_warns_at_12_hours_and_breaches_at_24() -> None:
    found = timers(ReactivationPath.EMERGENCY, Outcome.PENDING, (R.NIK_CONFLICT,), CLOSES)
    assert found == {
        "SLA_WARNING": AT + dt.timedelta(hours=12),
        "SLA_BREACH": AT + dt.timedelta(hours=24),
    }


def test_a_request_still_pending_when_decided_again_sets_only_the_timers_still_to_come() -> None:
    """A fired timer's row is deleted: a later PENDING decision must not set it again (it would fire twice);
    one already due was set by an earlier PENDING decision, so only those still to come are asked for."""
    request = ReactivationRequested(
        occurred_at=AT, source="intake", nik=NIK, request_id=uuid.uuid4(), path="EMERGENCY", channel="HOSPITAL",
        received_at=AT, sla_deadline=AT + dt.timedelta(hours=24), facility_registered=True,
        documents=Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1")),
    )  # fmt: skip
    record = RequestRecord(request, "PENDING", ("NIK_CONFLICT",), AT, CLOSES)
    later = AT + dt.timedelta(hours=13)
    batch = Batch({NIK: (Facts(NIK, deactivated_on=dt.date(2026, 6, 1), nik_conflict_open=True), None)}, POLICY, later)
    batch.record(record, Decision(Outcome.PENDING, (R.NIK_CONFLICT, R.DOCUMENT_MISSING), (), "test", CLOSES), later)
    assert [(t["kind"], t["due_at"]) for t in batch.changes.timers] == [("SLA_BREACH", AT + dt.timedelta(hours=24))]


def test_an_emergency_waiting_for_its_deactivation_sets_only_the_recheck() -> None:
    """The recheck decides it again before its SLA timers are due: rejected (final), or, once the deactivation
    landed, the re-decision sets the SLA timers it still needs (next test)."""
    found = timers(ReactivationPath.EMERGENCY, Outcome.PENDING, (R.NOT_DEACTIVATED, R.NIK_CONFLICT), None)
    assert found == {"RECHECK": AT + dt.timedelta(minutes=10)}
    # a warning due before the recheck stays
    long_grace = dataclasses.replace(POLICY, unknown_person_grace_minutes=13 * 60)
    request = Request("r1", NIK, ReactivationPath.EMERGENCY, AT)
    decision = Decision(Outcome.PENDING, (R.NOT_DEACTIVATED,), (), "test", None)
    assert {t["kind"] for t in request_timers(request, decision, long_grace)} == {"RECHECK", "SLA_WARNING"}


@pytest.mark.parametrize("outcome", [Outcome.APPROVED, Outcome.REJECTED, Outcome.EXPIRED])
def test_a_final_decision_sets_no_timer(outcome: Outcome) -> None:
    assert timers(ReactivationPath.EMERGENCY, outcome, (), CLOSES) == {}


@pytest.mark.parametrize(
    ("outcome", "first", "state"),
    [
        (Outcome.PENDING, True, SlaState.OK),  # the clock starts
        (Outcome.PENDING, False, None),  # still pending for other reasons: the clock runs on
        # A final decision carries its SLA state itself (shared.sla.sla_of_decision): nothing apart.
        (Outcome.APPROVED, True, None),
        (Outcome.APPROVED, False, None),
        (Outcome.REJECTED, True, None),
        (Outcome.REJECTED, False, None),
        (Outcome.EXPIRED, False, None),
    ],
)
def test_only_an_emergency_s_first_pending_decision_publishes_an_sla_state(
    outcome: Outcome, first: bool, state: SlaState | None
) -> None:
    assert sla_state(Decision(outcome, (), (), "test", CLOSES), first) is state


@pytest.mark.parametrize(
    ("outcome", "late", "state"),
    [
        (Outcome.APPROVED, False, SlaState.MET),
        (Outcome.APPROVED, True, SlaState.BREACHED),  # met late
        (Outcome.REJECTED, False, SlaState.CLOSED),
        (Outcome.EXPIRED, True, SlaState.CLOSED),
    ],
)
def test_what_a_final_decision_does_to_the_clock_is_read_from_the_decision(
    outcome: Outcome, late: bool, state: SlaState
) -> None:
    deadline = CLOSES
    decided_at = deadline + dt.timedelta(minutes=1) if late else deadline - dt.timedelta(minutes=1)
    assert sla_of_decision(outcome, decided_at, deadline) is state
