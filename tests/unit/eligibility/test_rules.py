"""Eligibility rules: every reason, every path, combinations, window boundaries in WIB/WITA/WIT."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.domain.rules import Facts, Request, decide
from shared.enums import DecisionReason as R
from shared.enums import FollowUp, Outcome, ReactivationPath
from shared.events import DoctorLetter, Documents, HospitalLetter, VillageLetter
from shared.window import add_months, reactivation_window_closes_at
from testkit.policy import POLICY

JAKARTA = "3674015708900001"  # Banten: WIB
DENPASAR = "5171015708900001"  # Bali: WITA
JAYAPURA = "9171015708900001"  # Kota Jayapura, Papua: WIT
DEACTIVATED = dt.date(2026, 6, 1)
SOON = dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC)
HOSPITAL = Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1"))
CHRONIC_DOCS = Documents(
    doctor_letter=DoctorLetter(register_no="STR-1"), village_letter=VillageLetter(letter_no="470/1", desil=3)
)


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {
        "nik": JAKARTA,
        "deactivated_on": DEACTIVATED,
        "desil": 3,
        "desil_effective_on": dt.date(2026, 6, 20),
        "biometric_recorded": True,
        "id_semesta": "IDS-1",
    }
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def request(path: ReactivationPath = ReactivationPath.REGULAR, **kw: object) -> Request:
    docs = {ReactivationPath.EMERGENCY: HOSPITAL, ReactivationPath.CHRONIC: CHRONIC_DOCS}.get(path, Documents())
    base: dict[str, object] = {
        "request_id": "r1",
        "nik": JAKARTA,
        "path": path,
        "received_at": SOON,
        "documents": docs,
        "facility_registered": True,
    }
    return Request(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("path", list(ReactivationPath))
def test_eligible_person_is_approved_on_every_path(path: ReactivationPath) -> None:
    d = decide(facts(), request(path), POLICY)
    assert (d.outcome, d.reasons) == (Outcome.APPROVED, ())
    assert d.policy_version == "test"


@pytest.mark.parametrize(
    ("facts_kw", "request_kw", "outcome", "reasons"),
    [
        ({"deactivated_on": None}, {}, Outcome.PENDING, (R.NOT_DEACTIVATED,)),  # within the grace period
        ({"deactivated_on": None, "reactivated": True}, {}, Outcome.REJECTED, (R.ALREADY_ACTIVE,)),
        ({"reactivated": True}, {}, Outcome.REJECTED, (R.ALREADY_ACTIVE,)),
        ({"deceased": True}, {}, Outcome.REJECTED, (R.DECEASED,)),
        ({"nik_conflict_open": True}, {}, Outcome.PENDING, (R.NIK_CONFLICT,)),
        ({"desil": None}, {}, Outcome.PENDING, (R.DESIL_UNKNOWN,)),
        ({"desil_effective_on": dt.date(2026, 1, 1)}, {}, Outcome.PENDING, (R.DESIL_UNKNOWN,)),
        ({"desil": 7}, {}, Outcome.REJECTED, (R.DESIL_ABOVE_5,)),
        ({"desil": 6}, {}, Outcome.REJECTED, (R.DESIL_ABOVE_5,)),
        ({"desil": 5}, {}, Outcome.APPROVED, ()),
        ({"biometric_recorded": False}, {}, Outcome.PENDING, (R.BIOMETRIC_MISSING,)),
        ({"desil": None, "biometric_recorded": False}, {}, Outcome.PENDING, (R.DESIL_UNKNOWN, R.BIOMETRIC_MISSING)),
        ({}, {"received_at": dt.datetime(2026, 12, 2, tzinfo=dt.UTC)}, Outcome.REJECTED, (R.WINDOW_EXPIRED,)),
        (
            {"deceased": True, "nik_conflict_open": True, "desil": 8, "biometric_recorded": False},
            {"received_at": dt.datetime(2027, 1, 1, tzinfo=dt.UTC)},
            Outcome.REJECTED,
            (R.WINDOW_EXPIRED, R.DECEASED, R.NIK_CONFLICT, R.DESIL_ABOVE_5, R.BIOMETRIC_MISSING),
        ),
    ],
)
def test_regular_path_reasons(facts_kw: dict, request_kw: dict, outcome: Outcome, reasons: tuple) -> None:
    d = decide(facts(**facts_kw), request(**request_kw), POLICY)
    assert (d.outcome, d.reasons) == (outcome, reasons)


@pytest.mark.parametrize("path", list(ReactivationPath))
def test_unknown_person_waits_for_the_grace_period_then_is_rejected(path: ReactivationPath) -> None:
    unknown, req = facts(deactivated_on=None), request(path)
    grace = POLICY.unknown_person_grace
    waiting = decide(unknown, req, POLICY, SOON + grace - dt.timedelta(seconds=1))
    assert (waiting.outcome, waiting.reasons) == (Outcome.PENDING, (R.NOT_DEACTIVATED,))
    after = decide(unknown, req, POLICY, SOON + grace)
    assert (after.outcome, after.reasons) == (Outcome.REJECTED, (R.NOT_DEACTIVATED,))


def test_grace_period_does_not_hold_back_what_is_already_final() -> None:
    # Known as already reactivated, or known dead: nothing a queued event could change.
    assert decide(facts(deactivated_on=None, reactivated=True), request(), POLICY).outcome is Outcome.REJECTED
    dead = decide(facts(deactivated_on=None, deceased=True), request(), POLICY)
    assert (dead.outcome, dead.reasons) == (Outcome.REJECTED, (R.NOT_DEACTIVATED, R.DECEASED))


def test_emergency_is_not_blocked_by_desil_or_biometric_but_gets_follow_ups() -> None:
    d = decide(facts(desil=7, biometric_recorded=False, id_semesta=None), request(ReactivationPath.EMERGENCY), POLICY)
    assert d.outcome is Outcome.APPROVED
    assert d.follow_ups == (FollowUp.DESIL_REVERIFICATION, FollowUp.BIOMETRIC_RECORDING, FollowUp.SIKS_NG_ENTRY)


@pytest.mark.parametrize(
    ("request_kw", "reasons"),
    [
        ({"documents": Documents()}, (R.DOCUMENT_MISSING,)),
        ({"facility_registered": False}, (R.FACILITY_UNKNOWN,)),
        ({"documents": Documents(), "facility_registered": False}, (R.DOCUMENT_MISSING, R.FACILITY_UNKNOWN)),
    ],
)
def test_emergency_needs_a_hospital_letter_from_a_known_facility(request_kw: dict, reasons: tuple) -> None:
    d = decide(facts(), request(ReactivationPath.EMERGENCY, **request_kw), POLICY)
    assert (d.outcome, d.reasons) == (Outcome.REJECTED, reasons)


def test_emergency_for_deceased_is_rejected() -> None:
    d = decide(facts(deceased=True), request(ReactivationPath.EMERGENCY), POLICY)
    assert (d.outcome, d.reasons) == (Outcome.REJECTED, (R.DECEASED,))


@pytest.mark.parametrize(
    ("documents", "facts_kw", "outcome", "reasons"),
    [
        (Documents(village_letter=VillageLetter(letter_no="1", desil=2)), {}, Outcome.REJECTED, (R.DOCUMENT_MISSING,)),
        (Documents(doctor_letter=DoctorLetter(register_no="S")), {}, Outcome.REJECTED, (R.DOCUMENT_MISSING,)),
        (
            Documents(
                doctor_letter=DoctorLetter(register_no="S"), village_letter=VillageLetter(letter_no="1", desil=6)
            ),
            {},
            Outcome.REJECTED,
            (R.DESIL_ABOVE_5,),
        ),
        (CHRONIC_DOCS, {"biometric_recorded": False}, Outcome.PENDING, (R.BIOMETRIC_MISSING,)),
        (CHRONIC_DOCS, {"desil": None}, Outcome.APPROVED, ()),  # the village letter states the desil
    ],
)
def test_chronic_path(documents: Documents, facts_kw: dict, outcome: Outcome, reasons: tuple) -> None:
    d = decide(facts(**facts_kw), request(ReactivationPath.CHRONIC, documents=documents), POLICY)
    assert (d.outcome, d.reasons) == (outcome, reasons)


def test_approved_without_id_semesta_needs_siks_ng_entry() -> None:
    assert decide(facts(id_semesta=None), request(), POLICY).follow_ups == (FollowUp.SIKS_NG_ENTRY,)


@pytest.mark.parametrize(
    ("nik", "offset_hours"),
    [(JAKARTA, 7), (DENPASAR, 8), (JAYAPURA, 9)],
)
def test_window_closes_at_end_of_day_local_time(nik: str, offset_hours: int) -> None:
    closes = reactivation_window_closes_at(dt.date(2026, 6, 1), nik, 6)
    assert closes.utcoffset() == dt.timedelta(hours=offset_hours)
    assert (closes.date(), closes.time()) == (dt.date(2026, 12, 1), dt.time(23, 59, 59))
    last_valid = closes.astimezone(dt.UTC)
    assert decide(facts(nik=nik), request(nik=nik, received_at=last_valid), POLICY).outcome is Outcome.APPROVED
    late = last_valid + dt.timedelta(seconds=1)
    assert R.WINDOW_EXPIRED in decide(facts(nik=nik), request(nik=nik, received_at=late), POLICY).reasons


def test_same_utc_instant_is_inside_the_window_in_wit_but_not_in_wib() -> None:
    # 1 Dec 23:30 WIB is 2 Dec 01:30 WIT: the Papua window closed 90 minutes earlier.
    instant = dt.datetime(2026, 12, 1, 16, 30, tzinfo=dt.UTC)
    assert decide(facts(nik=JAKARTA), request(nik=JAKARTA, received_at=instant), POLICY).outcome is Outcome.APPROVED
    assert R.WINDOW_EXPIRED in decide(facts(nik=JAYAPURA), request(nik=JAYAPURA, received_at=instant), POLICY).reasons


@pytest.mark.parametrize(
    ("deactivated", "closes"),
    [
        (dt.date(2025, 8, 31), dt.date(2026, 2, 28)),
        (dt.date(2027, 8, 31), dt.date(2028, 2, 29)),  # leap year
        (dt.date(2026, 3, 31), dt.date(2026, 9, 30)),
        (dt.date(2026, 7, 15), dt.date(2027, 1, 15)),
        (dt.date(2026, 12, 31), dt.date(2027, 6, 30)),
    ],
)
def test_month_arithmetic_clamps_to_the_last_day(deactivated: dt.date, closes: dt.date) -> None:
    assert add_months(deactivated, 6) == closes
    assert reactivation_window_closes_at(deactivated, JAKARTA, 6).date() == closes


fact_strategy = st.builds(
    Facts,
    nik=st.sampled_from([JAKARTA, DENPASAR, JAYAPURA]),
    deactivated_on=st.one_of(st.none(), st.dates(dt.date(2025, 1, 1), dt.date(2027, 1, 1))),
    desil=st.one_of(st.none(), st.integers(1, 10)),
    desil_effective_on=st.one_of(st.none(), st.dates(dt.date(2025, 1, 1), dt.date(2027, 1, 1))),
    biometric_recorded=st.booleans(),
    deceased=st.booleans(),
    nik_conflict_open=st.booleans(),
    id_semesta=st.one_of(st.none(), st.just("IDS")),
    reactivated=st.booleans(),
)
instants = st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2028, 1, 1), timezones=st.just(dt.UTC))


@given(fact_strategy, st.sampled_from(list(ReactivationPath)), instants)
def test_every_failing_condition_is_reported(f: Facts, path: ReactivationPath, at: dt.datetime) -> None:
    d = decide(f, request(path, nik=f.nik, received_at=at), POLICY)
    assert (f.deceased) == (R.DECEASED in d.reasons)
    assert f.nik_conflict_open == (R.NIK_CONFLICT in d.reasons)
    if f.deactivated_on is None:
        assert (R.NOT_DEACTIVATED in d.reasons) or (R.ALREADY_ACTIVE in d.reasons)
    if f.deactivated_on is not None and path is not ReactivationPath.EMERGENCY and not f.biometric_recorded:
        assert R.BIOMETRIC_MISSING in d.reasons
    assert (d.outcome is Outcome.APPROVED) == (not d.reasons)


@given(
    fact_strategy,
    st.sampled_from(list(ReactivationPath)),
    instants,
    st.timedeltas(dt.timedelta(0), dt.timedelta(days=400)),
)
def test_moving_a_request_later_never_reopens_an_expired_window(
    f: Facts, path: ReactivationPath, at: dt.datetime, later: dt.timedelta
) -> None:
    first = decide(f, request(path, nik=f.nik, received_at=at), POLICY)
    second = decide(f, request(path, nik=f.nik, received_at=at + later), POLICY)
    if R.WINDOW_EXPIRED in first.reasons:
        assert R.WINDOW_EXPIRED in second.reasons and second.outcome is not Outcome.APPROVED
