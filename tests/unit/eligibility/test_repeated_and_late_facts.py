"""Facts arrive from several sources, late and twice (DOMAIN.md): a repeated or older deactivation
changes nothing; a newer one after a reactivation starts a new cycle; a desil re-ranking counts only
if dated after the deactivation it would cure."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.domain.facts import apply_fact, fold, reactivate, starts_new_cycle
from services.eligibility.domain.reminders import first_reminder_at
from services.eligibility.domain.rules import Facts, Request, decide, rerank_desil
from shared.enums import DecisionReason as R
from shared.enums import FollowUp, Outcome, ReactivationPath
from shared.events import Documents, HospitalLetter, ParticipantDeactivated
from testkit.policy import POLICY

NIK = "3674015708900001"  # WIB
JAYAPURA = "9171015708900001"  # Kota Jayapura: WIT
JUNE_1 = dt.date(2026, 6, 1)
AT = dt.datetime(2026, 6, 2, tzinfo=dt.UTC)
APPROVED_AT = dt.datetime(2026, 7, 1, 3, tzinfo=dt.UTC)  # 1 Jul 10:00 WIB
REQUEST = Request("r1", NIK, ReactivationPath.REGULAR, dt.datetime(2026, 6, 25, tzinfo=dt.UTC))


def deactivation(on: dt.date, reason: str = "DESIL_ABOVE_5", nik: str = NIK, phone: str | None = None):  # type: ignore[no-untyped-def]
    return ParticipantDeactivated(
        event_id=uuid.uuid4(), occurred_at=AT, source="SIKS-NG", nik=nik, deactivated_on=on, reason=reason, phone=phone
    )


def deactivated(on: dt.date = JUNE_1, nik: str = NIK) -> Facts:
    facts, _ = fold(Facts(nik), None, deactivation(on, nik=nik), POLICY)
    return facts


# --- desil re-ranking dated after the deactivation ------------------------------------------


@pytest.mark.parametrize(
    ("desil", "effective_on", "outcome", "reasons"),
    [
        (7, JUNE_1, Outcome.PENDING, (R.DESIL_UNKNOWN,)),  # the ranking that caused the deactivation
        (3, JUNE_1, Outcome.PENDING, (R.DESIL_UNKNOWN,)),  # dated that day either way
        (7, dt.date(2026, 5, 1), Outcome.PENDING, (R.DESIL_UNKNOWN,)),  # older still
        (7, dt.date(2026, 6, 2), Outcome.REJECTED, (R.DESIL_ABOVE_5,)),  # a re-ranking after it counts
        (3, dt.date(2026, 6, 2), Outcome.APPROVED, ()),
    ],
)
def test_a_re_ranking_counts_only_if_dated_after_the_deactivation(
    desil: int, effective_on: dt.date, outcome: Outcome, reasons: tuple
) -> None:
    f = Facts(NIK, JUNE_1, desil, effective_on, biometric_recorded=True, id_semesta="IDS")
    d = decide(f, REQUEST, POLICY)
    assert (d.outcome, d.reasons) == (outcome, reasons)


def test_an_emergency_whose_only_ranking_caused_its_deactivation_needs_desil_reverification() -> None:
    f = Facts(NIK, JUNE_1, 7, JUNE_1, biometric_recorded=True, id_semesta="IDS")
    docs = Documents(hospital_letter=HospitalLetter(facility_code="3674R001", letter_no="IGD/1"))
    d = decide(f, Request("r", NIK, ReactivationPath.EMERGENCY, REQUEST.received_at, docs, True), POLICY)
    assert (d.outcome, d.follow_ups) == (Outcome.APPROVED, (FollowUp.DESIL_REVERIFICATION,))
    assert rerank_desil(f) is None


# --- repeated, older and newer deactivations -------------------------------------------------


@pytest.mark.parametrize(
    ("before", "on", "new_cycle"),
    [
        (Facts(NIK), JUNE_1, True),  # the first one
        (Facts(NIK, JUNE_1), JUNE_1, False),  # the same again (another source, a resend)
        (Facts(NIK, JUNE_1), dt.date(2026, 5, 1), False),  # an older one arriving late
        (Facts(NIK, JUNE_1), dt.date(2026, 7, 1), True),  # a later list, never reactivated
        (reactivate(Facts(NIK, JUNE_1), APPROVED_AT), JUNE_1, False),  # the same after the approval
        (reactivate(Facts(NIK, JUNE_1), APPROVED_AT), dt.date(2026, 7, 1), False),  # the approval's day
        (reactivate(Facts(NIK, JUNE_1), APPROVED_AT), dt.date(2026, 7, 2), True),  # after it: new cycle
        (Facts(NIK, JUNE_1, reactivated=True), dt.date(2026, 6, 2), True),  # approval time unknown
    ],
)
def test_only_a_newer_deactivation_starts_a_new_cycle(before: Facts, on: dt.date, new_cycle: bool) -> None:
    assert starts_new_cycle(before, on) is new_cycle
    after = apply_fact(before, deactivation(on))
    if new_cycle:
        assert (after.deactivated_on, after.reactivated) == (on, False)
    else:
        assert after == before


def test_the_approvals_day_is_the_participants_local_day() -> None:
    # 30 Jun 16:30 UTC is 30 Jun 23:30 WIB but 1 Jul 01:30 WIT.
    at = dt.datetime(2026, 6, 30, 16, 30, tzinfo=dt.UTC)
    july_1 = dt.date(2026, 7, 1)
    assert starts_new_cycle(reactivate(Facts(NIK, JUNE_1), at), july_1)
    assert not starts_new_cycle(reactivate(Facts(JAYAPURA, JUNE_1), at), july_1)


def test_a_repeated_deactivation_after_approval_leaves_the_person_active_and_unreminded() -> None:
    approved = reactivate(deactivated(), APPROVED_AT)
    again, phone = fold(approved, "+6281234567890", deactivation(JUNE_1, phone="+6289999999999"), POLICY)
    assert again == approved and phone == "+6281234567890"
    d = decide(again, REQUEST, POLICY)
    assert d.outcome is Outcome.REJECTED and d.reasons[0] is R.ALREADY_ACTIVE
    assert again.next_reminder_at is None


def test_a_new_cycle_schedules_its_reminders_and_takes_the_new_number() -> None:
    approved = reactivate(deactivated(), APPROVED_AT)
    later = dt.date(2026, 9, 1)
    new, phone = fold(approved, "+6281234567890", deactivation(later, phone="+6289999999999"), POLICY)
    assert (new.deactivated_on, new.reactivated, new.reactivated_at) == (later, False, None)
    assert new.next_reminder_at == first_reminder_at(new, POLICY) is not None
    assert phone == "+6289999999999"


def test_a_repeated_deactivation_for_death_still_records_the_death() -> None:
    # Never reactivate someone reported dead, even when the report came on a repeated list.
    f = apply_fact(deactivated(), deactivation(JUNE_1, "DECEASED"))
    assert f.deceased and f.deactivated_on == JUNE_1


dates = st.dates(dt.date(2025, 1, 1), dt.date(2027, 12, 31))
approvals = st.one_of(
    st.none(), st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2028, 1, 1), timezones=st.just(dt.UTC))
)


@given(dates, approvals, st.integers(0, 400), st.sampled_from(["DESIL_ABOVE_5", "NO_BIOMETRIC", "OTHER"]))
def test_a_repeated_or_older_deactivation_changes_nothing(
    current: dt.date, approved_at: dt.datetime | None, days_older: int, reason: str
) -> None:
    facts = deactivated(current)
    if approved_at is not None:
        facts = reactivate(facts, approved_at)
    older = current - dt.timedelta(days=days_older)
    after, phone = fold(facts, "+6281234567890", deactivation(older, reason, phone="+6289999999999"), POLICY)
    assert (after, phone) == (facts, "+6281234567890")


@given(dates, st.lists(st.integers(-200, 200), min_size=1, max_size=8))
def test_the_window_never_moves_back(first: dt.date, shifts: list[int]) -> None:
    """Whatever order deactivations arrive in, the window belongs to the latest date seen."""
    facts = deactivated(first)
    for shift in shifts:
        facts = apply_fact(facts, deactivation(first + dt.timedelta(days=shift)))
    assert facts.deactivated_on == max([first, *(first + dt.timedelta(days=s) for s in shifts)])
