"""domain.requests.FIXED: the cells every row of a source holds whatever its event, which the unit of work
writes as one value per statement (uow.PgUnitOfWork._write_requests). Each row builder is held to them, for
regular and emergency events, and the statement written with them names every column of the table."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.registry.domain.requests import FIXED, Row, decision_row, request_row, sla_row
from services.registry.store import RQ
from services.registry.uow import _upsert_requests
from shared.events import EmergencySlaChanged, ReactivationDecided, ReactivationRequested

NIK = "3674015708900001"
T0 = dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC)
REGION = ("Banten", "Tangerang Selatan", "Serpong")
LETTER = {"hospital_letter": {"facility_code": "RS-01", "letter_no": "12/IGD"}}


def requested(path: str) -> ReactivationRequested:
    emergency = path == "EMERGENCY"
    return ReactivationRequested.model_validate(
        {
            "occurred_at": T0,
            "source": "intake",
            "nik": NIK,
            "request_id": uuid.uuid4(),
            "path": path,
            "channel": "HOSPITAL" if emergency else "VILLAGE",
            "received_at": T0,
            "documents": LETTER if emergency else {},
            "sla_deadline": T0 + dt.timedelta(hours=24) if emergency else None,
        }
    )


def decided(path: str, outcome: str) -> ReactivationDecided:
    emergency = path == "EMERGENCY"
    return ReactivationDecided.model_validate(
        {
            "occurred_at": T0,
            "source": "eligibility",
            "nik": NIK,
            "decision_id": uuid.uuid4(),
            "request_id": uuid.uuid4(),
            "path": path,
            "channel": "HOSPITAL" if emergency else "VILLAGE",
            "outcome": outcome,
            "reasons": ["BIOMETRIC_MISSING"] if outcome == "PENDING" else [],
            "policy_version": "t",
            "received_at": T0,
            "decided_at": T0 + dt.timedelta(minutes=1),
            "sla_deadline": T0 + dt.timedelta(hours=24) if emergency else None,
        }
    )


def sla_changed(state: str) -> EmergencySlaChanged:
    return EmergencySlaChanged.model_validate(
        {
            "occurred_at": T0,
            "source": "eligibility",
            "nik": NIK,
            "request_id": uuid.uuid4(),
            "sla_state": state,
            "sla_deadline": T0 + dt.timedelta(hours=24),
            "received_at": T0,
        }
    )


def holds(row: Row, fixed: Row) -> bool:
    return {c: row[c] for c in fixed} == fixed and set(row) == set(RQ.c.keys())


@pytest.mark.parametrize("path", ["REGULAR", "EMERGENCY"])
def test_every_request_row_holds_the_requests_fixed_cells(path: str) -> None:
    assert holds(request_row(requested(path), REGION), FIXED["request"])


@pytest.mark.parametrize("path", ["REGULAR", "EMERGENCY"])
@pytest.mark.parametrize("outcome", ["PENDING", "APPROVED", "REJECTED"])
def test_every_decision_row_holds_the_decisions_fixed_cells(path: str, outcome: str) -> None:
    assert holds(decision_row(decided(path, outcome), REGION), FIXED["decision"])


@pytest.mark.parametrize("state", ["OK", "WARNING", "BREACHED"])
def test_every_sla_row_holds_the_sla_fixed_cells(state: str) -> None:
    assert holds(sla_row(sla_changed(state), REGION, state), FIXED["sla"])
    assert holds(sla_row(decided("EMERGENCY", "APPROVED"), REGION, "MET"), FIXED["sla"])


def test_the_statement_writes_every_column_sent_or_fixed() -> None:
    sent, fixed = (
        ("request_id", "nik", "reasons"),
        tuple(c for c in RQ.c.keys() if c not in ("request_id", "nik", "reasons")),
    )
    sql = str(_upsert_requests(sent, fixed, "on conflict do nothing"))
    assert f"insert into registry.requests ({', '.join(RQ.c.keys())}) select u.request_id, u.nik, " in sql
    assert "string_to_array(u.reasons, chr(31))" in sql and "cast(:fixed_status as VARCHAR)" in sql
    assert "as u(request_id, nik, reasons) on conflict do nothing" in sql
