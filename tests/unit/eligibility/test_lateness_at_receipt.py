"""Lateness is judged at receipt (DOMAIN.md): a request received inside the window is never
WINDOW_EXPIRED because it was decided late; a request waiting for a fact expires with the window."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.domain.rules import Facts, Request, decide, redecide
from shared.enums import DecisionReason as R
from shared.enums import FollowUp, Outcome, ReactivationPath
from shared.events import Documents, HospitalLetter
from testkit.policy import POLICY

NIK = "3674015708900001"  # Banten, WIB
JAYAPURA = "9171015708900001"  # Kota Jayapura, WIT
DEACTIVATED = dt.date(2026, 6, 1)
CLOSES = dt.datetime(2026, 12, 1, 16, 59, 59, tzinfo=dt.UTC)  # 1 Dec 23:59:59 WIB
HOSPITAL = Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1"))
SECOND = dt.timedelta(seconds=1)


def eligible(nik: str = NIK, **kw: object) -> Facts:
    base: dict[str, object] = {
        "nik": nik,
        "deactivated_on": DEACTIVATED,
        "desil": 3,
        "desil_effective_on": dt.date(2026, 6, 20),
        "biometric_recorded": True,
        "id_semesta": "IDS-1",
    }
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def request(path: ReactivationPath, received_at: dt.datetime, nik: str = NIK) -> Request:
    docs = HOSPITAL if path is ReactivationPath.EMERGENCY else Documents()
    return Request("r1", nik, path, received_at, docs, facility_registered=True)


@pytest.mark.parametrize("path", [ReactivationPath.REGULAR, ReactivationPath.EMERGENCY])
@pytest.mark.parametrize(
    ("received_at", "decided_at", "outcome", "reasons"),
    [
        (CLOSES - dt.timedelta(hours=1), CLOSES - dt.timedelta(minutes=1), Outcome.APPROVED, ()),
        (CLOSES - dt.timedelta(hours=1), CLOSES + SECOND, Outcome.APPROVED, ()),  # processing lag
        (CLOSES, CLOSES + dt.timedelta(days=3), Outcome.APPROVED, ()),  # the last second counts
        (CLOSES + SECOND, CLOSES + SECOND, Outcome.REJECTED, (R.WINDOW_EXPIRED,)),  # received late
        (CLOSES + SECOND, CLOSES + dt.timedelta(days=1), Outcome.REJECTED, (R.WINDOW_EXPIRED,)),
    ],
)
def test_first_decision_judges_lateness_at_receipt(
    path: ReactivationPath, received_at: dt.datetime, decided_at: dt.datetime, outcome: Outcome, reasons: tuple
) -> None:
    d = decide(eligible(), request(path, received_at), POLICY, now=decided_at)
    assert (d.outcome, d.reasons) == (outcome, reasons)


def test_emergency_approved_late_still_carries_its_follow_ups() -> None:
    f = eligible(desil=None, biometric_recorded=False, id_semesta=None)
    d = decide(f, request(ReactivationPath.EMERGENCY, CLOSES - SECOND), POLICY, now=CLOSES + dt.timedelta(hours=5))
    assert d.outcome is Outcome.APPROVED
    assert d.follow_ups == (FollowUp.DESIL_REVERIFICATION, FollowUp.BIOMETRIC_RECORDING, FollowUp.SIKS_NG_ENTRY)


@pytest.mark.parametrize(
    ("facts_kw", "now", "outcome", "reasons"),
    [
        # Waiting for the re-ranking; it arrives before the close: approved.
        ({}, CLOSES - SECOND, Outcome.APPROVED, ()),
        # It arrives after the close: the request was PENDING when the window closed, so it expired.
        ({}, CLOSES + SECOND, Outcome.EXPIRED, (R.WINDOW_EXPIRED,)),
        # Still missing after the close: expired, naming what was missing.
        ({"desil": None}, CLOSES + SECOND, Outcome.EXPIRED, (R.WINDOW_EXPIRED, R.DESIL_UNKNOWN)),
        # A hard reason still rejects (death is not a matter of the window).
        ({"deceased": True}, CLOSES + SECOND, Outcome.REJECTED, (R.DECEASED,)),
        # Before the close, still missing: stays pending.
        ({"desil": None}, CLOSES - SECOND, Outcome.PENDING, (R.DESIL_UNKNOWN,)),
    ],
)
def test_a_pending_request_decided_again_expires_with_the_window(
    facts_kw: dict, now: dt.datetime, outcome: Outcome, reasons: tuple
) -> None:
    d = redecide(eligible(**facts_kw), request(ReactivationPath.REGULAR, CLOSES - dt.timedelta(days=10)), POLICY, now)
    assert (d.outcome, d.reasons) == (outcome, reasons)


def test_a_first_decision_that_would_wait_for_a_fact_after_the_close_is_expired() -> None:
    # Received in time, decided after the close, a fact still missing: it would have been PENDING at
    # the close and expired then, so the lag changes nothing for it either.
    d = decide(eligible(desil=None), request(ReactivationPath.REGULAR, CLOSES - SECOND), POLICY, CLOSES + SECOND)
    assert (d.outcome, d.reasons) == (Outcome.EXPIRED, (R.WINDOW_EXPIRED, R.DESIL_UNKNOWN))


def test_the_close_is_judged_in_the_participants_local_time() -> None:
    # 1 Dec 23:30 WIB is 2 Dec 01:30 WIT: received then, Jayapura's request was late, Jakarta's not.
    instant = dt.datetime(2026, 12, 1, 16, 30, tzinfo=dt.UTC)
    later = instant + dt.timedelta(days=2)
    jakarta = decide(eligible(), request(ReactivationPath.REGULAR, instant), POLICY, later)
    jayapura = decide(eligible(JAYAPURA), request(ReactivationPath.REGULAR, instant, JAYAPURA), POLICY, later)
    assert (jakarta.outcome, jayapura.outcome) == (Outcome.APPROVED, Outcome.REJECTED)


instants = st.datetimes(dt.datetime(2026, 6, 1), dt.datetime(2027, 6, 1), timezones=st.just(dt.UTC))
lags = st.timedeltas(dt.timedelta(0), dt.timedelta(days=200))
facts_in_window = st.builds(
    eligible,
    nik=st.sampled_from([NIK, JAYAPURA]),
    desil=st.one_of(st.none(), st.integers(1, 10)),
    biometric_recorded=st.booleans(),
    deceased=st.booleans(),
    nik_conflict_open=st.booleans(),
)


@given(facts_in_window, st.sampled_from(list(ReactivationPath)), instants, lags)
def test_lateness_is_judged_at_receipt_whatever_the_processing_lag(
    f: Facts, path: ReactivationPath, received_at: dt.datetime, lag: dt.timedelta
) -> None:
    """WINDOW_EXPIRED among the reasons of a first decision iff the request was received after the
    close; an answer that is final at receipt (approved or rejected) is the same however late."""
    r = request(path, received_at, f.nik)
    on_time, late = decide(f, r, POLICY), decide(f, r, POLICY, now=received_at + lag)
    closes = decide(f, r, POLICY).window_closes_at
    assert closes is not None
    if late.outcome is not Outcome.EXPIRED:
        assert (R.WINDOW_EXPIRED in late.reasons) == (received_at > closes)
    if on_time.outcome is not Outcome.PENDING:
        assert late == on_time
    else:  # waiting for a fact: still waiting, or expired with the window (never rejected for it)
        assert late.outcome in (Outcome.PENDING, Outcome.EXPIRED)
        assert (late.outcome is Outcome.EXPIRED) == (received_at + lag > closes)


any_facts = st.builds(
    Facts,
    nik=st.just(NIK),
    deactivated_on=st.one_of(st.none(), st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 1))),
    desil=st.one_of(st.none(), st.integers(1, 10)),
    desil_effective_on=st.one_of(st.none(), st.dates(dt.date(2026, 1, 1), dt.date(2026, 12, 1))),
    biometric_recorded=st.booleans(),
    deceased=st.booleans(),
    nik_conflict_open=st.booleans(),
    reactivated=st.booleans(),
)


@given(any_facts, st.sampled_from(list(ReactivationPath)), instants, lags, st.booleans())
def test_never_approved_with_an_open_conflict_or_without_a_deactivation(
    f: Facts, path: ReactivationPath, received_at: dt.datetime, lag: dt.timedelta, again: bool
) -> None:
    """DOMAIN.md: an open NIK conflict holds the request PENDING (or it expires/is rejected for
    another reason); no deactivation on record is PENDING for the grace period, then REJECTED."""
    decide_now = redecide if again else decide
    d = decide_now(f, request(path, received_at), POLICY, received_at + lag)
    if f.nik_conflict_open:
        assert d.outcome is not Outcome.APPROVED and R.NIK_CONFLICT in d.reasons
        if d.reasons == (R.NIK_CONFLICT,):
            assert d.outcome is Outcome.PENDING
    if f.deactivated_on is None:
        assert d.outcome in (Outcome.PENDING, Outcome.REJECTED)
        if d.outcome is Outcome.PENDING:
            assert d.reasons == (R.NOT_DEACTIVATED,) or R.NIK_CONFLICT in d.reasons
            assert lag < POLICY.unknown_person_grace
