"""Typed events the tests produce straight to Kafka, as the services would: a deactivation, reactivation
requests (regular, emergency), decisions and emergencies' SLA states, for one person unless told otherwise."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TypeVar

from shared.events import (
    Documents,
    EmergencySlaChanged,
    Event,
    HospitalLetter,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
)

NIK = "3674015708900001"  # a valid NIK of Kota Tangerang Selatan (WIB)
# "now" for events whose time only has to be recent (fixed for the test session: in a loaded run's later tests
# more than eligibility's 10-minute grace period ago, so a request held for that grace on an app's real clock
# is received at the real now)
NOW = dt.datetime.now(dt.UTC)
T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)  # a fixed receipt time, for tests that move time themselves
H = dt.timedelta(hours=1)

E = TypeVar("E", bound=Event)


def deactivated(nik: str = NIK) -> ParticipantDeactivated:
    """Deactivated 30 days ago (the reactivation window is open)."""
    return ParticipantDeactivated(
        occurred_at=NOW,
        source="SIKS-NG",
        nik=nik,
        reason="DESIL_ABOVE_5",
        deactivated_on=(NOW - dt.timedelta(days=30)).date(),
    )


def regular(nik: str = NIK) -> ReactivationRequested:
    """A regular request from the village office, received now."""
    return ReactivationRequested(
        occurred_at=NOW,
        source="intake",
        nik=nik,
        request_id=uuid.uuid4(),
        path="REGULAR",
        channel="VILLAGE",
        received_at=NOW,
    )


def emergency(nik: str = NIK, received_at: dt.datetime = NOW) -> ReactivationRequested:
    """A hospital emergency from a registered facility, its SLA deadline 24 hours after receipt."""
    return ReactivationRequested(
        occurred_at=received_at,
        source="intake",
        nik=nik,
        request_id=uuid.uuid4(),
        path="EMERGENCY",
        channel="HOSPITAL",
        received_at=received_at,
        sla_deadline=received_at + dt.timedelta(hours=24),
        documents=Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1")),
        facility_registered=True,
    )


def decided(
    nik: str,
    rid: uuid.UUID,
    outcome: str,
    at: dt.datetime,
    reasons: tuple[str, ...] = (),
    follow_ups: tuple[str, ...] = (),
    path: str = "EMERGENCY",
) -> ReactivationDecided:
    """Eligibility's decision on request `rid` (received at T0), with the id eligibility gives it."""
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=nik,
        decision_id=uuid.uuid5(rid, outcome),
        request_id=rid,
        path=path,  # type: ignore[arg-type]
        channel="HOSPITAL" if path == "EMERGENCY" else "VILLAGE",  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        reasons=list(reasons),  # type: ignore[arg-type]
        follow_ups=list(follow_ups),  # type: ignore[arg-type]
        policy_version="t",
        received_at=T0,
        decided_at=at,
        sla_deadline=T0 + 24 * H if path == "EMERGENCY" else None,
    )


def sla_changed(
    nik: str,
    rid: uuid.UUID,
    state: str,
    at: dt.datetime = T0 + 3 * H,
    facility_code: str | None = None,
    received_at: dt.datetime = T0,
) -> EmergencySlaChanged:
    """Eligibility's SLA state of emergency `rid` (received at `received_at`, due 24 hours later) as of `at`."""
    return EmergencySlaChanged(
        occurred_at=at,
        source="eligibility",
        nik=nik,
        request_id=rid,
        sla_state=state,  # type: ignore[arg-type]
        sla_deadline=received_at + 24 * H,
        received_at=received_at,
        facility_code=facility_code,
    )


def again(e: E) -> E:
    """The same event re-sent under a new event id (a re-decision, a replay from the outbox, another source's
    copy of an SLA state)."""
    return e.model_copy(update={"event_id": uuid.uuid4()})
