"""Deciding after the window closed, the policy's window length, and folding facts in order."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.eligibility.app import load_policy
from services.eligibility.domain.facts import apply_fact
from services.eligibility.domain.rules import Facts, Request, decide, expired, redecide
from services.eligibility.domain.window import reactivation_window_closes_at
from shared.enums import DecisionReason as R
from shared.enums import Outcome, ReactivationPath
from shared.events import (
    BiometricRecorded,
    DesilUpdated,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
)
from testkit.policy import POLICY

NIK = "3674015708900001"  # Banten, WIB
DEACTIVATED = dt.date(2026, 6, 1)
CLOSES = dt.datetime(2026, 12, 1, 16, 59, 59, tzinfo=dt.UTC)  # 1 Dec 23:59:59 WIB
IN_TIME = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
AT = dt.datetime(2026, 6, 2, tzinfo=dt.UTC)


def complete(**kw: object) -> Facts:
    base: dict[str, object] = {
        "nik": NIK,
        "deactivated_on": DEACTIVATED,
        "desil": 3,
        "desil_effective_on": dt.date(2026, 6, 20),
        "biometric_recorded": True,
        "id_semesta": "IDS-1",
    }
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def regular(received_at: dt.datetime = IN_TIME) -> Request:
    return Request("r1", NIK, ReactivationPath.REGULAR, received_at)


def test_window_follows_the_policy_length() -> None:
    assert reactivation_window_closes_at(DEACTIVATED, NIK, POLICY) == CLOSES
    three = reactivation_window_closes_at(DEACTIVATED, NIK, dataclasses.replace(POLICY, window_months=3))
    assert three == dt.datetime(2026, 9, 1, 16, 59, 59, tzinfo=dt.UTC)


def test_shipped_policy_file_holds_the_domain_numbers() -> None:
    policy = load_policy()
    assert policy.version == "2026.2"
    assert (policy.desil_cutoff, policy.window_months) == (5, 6)
    assert (policy.emergency_warning_hours, policy.emergency_sla_hours) == (12, 24)
    assert policy.reminder_days_before_close == (30, 7)


def test_request_completed_by_facts_in_time_is_approved() -> None:
    d = decide(complete(), regular(), POLICY, now=CLOSES)
    assert (d.outcome, d.reasons) == (Outcome.APPROVED, ())


def test_pending_request_whose_facts_arrive_after_the_window_closed_is_expired() -> None:
    # It was waiting for a fact when the window closed: it expires with the window (redecide).
    d = redecide(complete(), regular(), POLICY, now=CLOSES + dt.timedelta(seconds=1))
    assert (d.outcome, d.reasons) == (Outcome.EXPIRED, (R.WINDOW_EXPIRED,))


def test_pending_request_decided_after_close_is_expired_listing_what_was_missing() -> None:
    f = complete(desil=None, biometric_recorded=False, nik_conflict_open=True)
    d = decide(f, regular(), POLICY, now=CLOSES + dt.timedelta(days=1))
    assert d.outcome is Outcome.EXPIRED
    assert d.reasons == (R.WINDOW_EXPIRED, R.NIK_CONFLICT, R.DESIL_UNKNOWN, R.BIOMETRIC_MISSING)
    assert expired(f, regular(), POLICY, CLOSES) == d


def test_request_rejected_for_a_hard_reason_stays_rejected_after_close() -> None:
    d = decide(complete(deceased=True), regular(), POLICY, now=CLOSES + dt.timedelta(days=1))
    assert (d.outcome, d.reasons) == (Outcome.REJECTED, (R.DECEASED,))


def test_request_received_after_close_is_rejected_not_expired() -> None:
    late = CLOSES + dt.timedelta(seconds=1)
    d = decide(complete(), regular(late), POLICY, now=late)
    assert (d.outcome, d.reasons) == (Outcome.REJECTED, (R.WINDOW_EXPIRED,))


@given(
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.integers(1, 10)),
    st.timedeltas(dt.timedelta(seconds=1), dt.timedelta(days=800)),
)
def test_no_pending_request_is_approved_once_the_window_has_closed(
    biometric: bool, conflict: bool, desil: int | None, after: dt.timedelta
) -> None:
    f = complete(biometric_recorded=biometric, nik_conflict_open=conflict, desil=desil)
    for path in ReactivationPath:
        d = redecide(f, Request("r", NIK, path, IN_TIME), POLICY, now=CLOSES + after)
        assert d.outcome in (Outcome.EXPIRED, Outcome.REJECTED)
        assert R.WINDOW_EXPIRED in d.reasons or d.outcome is Outcome.REJECTED


def _event(cls: type, **kw: object):  # type: ignore[no-untyped-def]
    return cls(event_id=uuid.uuid4(), occurred_at=AT, source="test", nik=NIK, **kw)


def test_an_older_ranking_arriving_late_does_not_replace_a_newer_one() -> None:
    f = Facts(NIK)
    f = apply_fact(f, _event(DesilUpdated, desil=3, effective_on=dt.date(2026, 7, 1)))
    f = apply_fact(f, _event(DesilUpdated, desil=8, effective_on=dt.date(2026, 6, 1)))
    assert (f.desil, f.desil_effective_on) == (3, dt.date(2026, 7, 1))


def test_a_new_deactivation_opens_a_new_window_after_a_reactivation() -> None:
    f = Facts(NIK, deactivated_on=dt.date(2025, 1, 1), reactivated=True)
    f = apply_fact(f, _event(ParticipantDeactivated, deactivated_on=DEACTIVATED, reason="NO_BIOMETRIC"))
    assert (f.deactivated_on, f.reactivated, f.deceased) == (DEACTIVATED, False, False)


@pytest.mark.parametrize(
    ("events", "conflict", "biometric"),
    [
        ([(NikConflictReported, {})], True, False),
        ([(NikConflictReported, {}), (NikConflictResolved, {})], False, False),
        ([(BiometricRecorded, {"recorded_on": dt.date(2026, 6, 3)})], False, True),
    ],
)
def test_facts_apply_in_order(events: list, conflict: bool, biometric: bool) -> None:
    f = Facts(NIK)
    for cls, kw in events:
        f = apply_fact(f, _event(cls, **kw))
    assert (f.nik_conflict_open, f.biometric_recorded) == (conflict, biometric)


def test_deactivation_for_death_marks_the_person_deceased() -> None:
    f = apply_fact(Facts(NIK), _event(ParticipantDeactivated, deactivated_on=DEACTIVATED, reason="DECEASED"))
    assert f.deceased
    assert decide(f, regular(), POLICY).reasons[0] is R.DECEASED


INSTANTS = st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))


@given(INSTANTS, st.one_of(st.none(), INSTANTS))
def test_a_new_decision_is_always_stamped_after_the_one_it_replaces(
    now: dt.datetime, previous: dt.datetime | None
) -> None:
    from services.eligibility.domain.rules import decided_after

    stamped = decided_after(now, previous)
    assert stamped >= now
    if previous is not None:
        assert stamped > previous
    if previous is None or now > previous:
        assert stamped == now  # the clock is used as it is whenever it already moved on
