"""Registry state machine: every transition and every anomaly."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.registry.domain.status import (
    STILL_OUT,
    WINDOW_CLOSED,
    Participant,
    apply,
    window_closed,
    window_closes_at,
)
from shared.enums import ParticipantStatus as S
from shared.events import (
    BiometricRecorded,
    DeathReported,
    DesilUpdated,
    IdSemestaAssigned,
    NikConflictReported,
    NikConflictResolved,
    ParticipantDeactivated,
    ReactivationDecided,
    Region,
    WindowReminderDue,
)

NIK = "3674015708900001"
T0 = dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)
REGION = ("Banten", "TANGERANG SELATAN", "367401")


def deactivated(at: dt.datetime = T0, **kw: object) -> ParticipantDeactivated:
    return ParticipantDeactivated(
        occurred_at=at,
        source="SIKS-NG",
        nik=NIK,
        deactivated_on=dt.date(2026, 6, 1),
        reason=kw.pop("reason", "DESIL_ABOVE_5"),
        **kw,
    )  # type: ignore[arg-type]


def decided(
    outcome: str, reasons: tuple[str, ...] = (), at: dt.datetime = T0 + dt.timedelta(days=1)
) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        path="REGULAR",
        channel="VILLAGE",
        outcome=outcome,
        reasons=list(reasons),
        policy_version="t",
        received_at=at,
        decided_at=at,
    )


def person(status: S, **kw: object) -> Participant:
    return Participant(NIK, status, *REGION, last_status_event_at=T0, **kw)  # type: ignore[arg-type]


def test_deactivation_of_a_new_person_makes_them_inactive_with_window_and_region() -> None:
    r = apply(
        None,
        deactivated(region=Region(province="Banten", regency="Kota Tangerang Selatan", district="Serpong")),
        REGION,
    )
    assert r.participant and r.participant.status is S.INACTIVE
    assert r.participant.district == "Serpong"
    assert r.participant.window_closes_at == dt.datetime(
        2026, 12, 1, 23, 59, 59, tzinfo=r.participant.window_closes_at.tzinfo
    )
    assert r.history and (r.history.previous_status, r.history.status) == (None, S.INACTIVE)
    assert r.status_changed


def test_region_is_derived_from_the_nik_when_the_event_has_none() -> None:
    r = apply(None, deactivated(), REGION)
    assert r.participant and (r.participant.province, r.participant.regency) == ("Banten", "TANGERANG SELATAN")


@pytest.mark.parametrize(
    ("start", "outcome", "reasons", "end"),
    [
        (S.INACTIVE, "PENDING", ("DESIL_UNKNOWN",), S.REACTIVATION_PENDING),
        (S.INACTIVE, "APPROVED", (), S.ACTIVE),
        (S.REACTIVATION_PENDING, "APPROVED", (), S.ACTIVE),
        (S.REACTIVATION_PENDING, "REJECTED", ("DESIL_ABOVE_5",), S.INACTIVE),
        (S.INACTIVE, "REJECTED", ("DOCUMENT_MISSING",), S.INACTIVE),
        (S.INACTIVE, "REJECTED", ("WINDOW_EXPIRED",), S.EXPIRED),
        (S.REACTIVATION_PENDING, "EXPIRED", ("WINDOW_EXPIRED",), S.EXPIRED),
        (S.ACTIVE, "REJECTED", ("ALREADY_ACTIVE",), S.ACTIVE),
        (S.EXPIRED, "REJECTED", ("WINDOW_EXPIRED",), S.EXPIRED),
    ],
)
def test_decision_transitions(start: S, outcome: str, reasons: tuple[str, ...], end: S) -> None:
    r = apply(person(start), decided(outcome, reasons), REGION)
    assert r.anomaly is None
    assert r.participant and r.participant.status is end
    assert r.history and r.history.reasons == reasons and r.history.previous_status is start


def test_deactivation_after_reactivation_makes_inactive_again() -> None:
    r = apply(person(S.ACTIVE), deactivated(at=T0 + dt.timedelta(days=30)), REGION)
    assert r.participant and r.participant.status is S.INACTIVE and r.status_changed


@pytest.mark.parametrize(
    ("event", "field", "value"),
    [
        (DesilUpdated(occurred_at=T0, source="DTSEN", nik=NIK, desil=4, effective_on=dt.date(2026, 7, 1)), "desil", 4),
        (
            BiometricRecorded(occurred_at=T0, source="DUKCAPIL", nik=NIK, recorded_on=dt.date(2026, 7, 1)),
            "biometric_recorded",
            True,
        ),
        (DeathReported(occurred_at=T0, source="DUKCAPIL", nik=NIK, died_on=dt.date(2026, 5, 1)), "deceased", True),
        (IdSemestaAssigned(occurred_at=T0, source="SIKS-NG", nik=NIK, id_semesta="IDS-9"), "id_semesta", "IDS-9"),
        (NikConflictReported(occurred_at=T0, source="DUKCAPIL", nik=NIK), "nik_conflict_open", True),
    ],
)
def test_facts_update_fields_without_changing_status(event: object, field: str, value: object) -> None:
    r = apply(person(S.INACTIVE), event, REGION)  # type: ignore[arg-type]
    assert r.participant and getattr(r.participant, field) == value and r.participant.status is S.INACTIVE
    assert r.history and not r.status_changed


def test_conflict_resolution_clears_the_flag() -> None:
    r = apply(
        person(S.INACTIVE, nik_conflict_open=True), NikConflictResolved(occurred_at=T0, source="D", nik=NIK), REGION
    )
    assert r.participant and r.participant.nik_conflict_open is False


def test_fact_about_a_never_deactivated_person_records_them_as_active() -> None:
    r = apply(None, BiometricRecorded(occurred_at=T0, source="D", nik=NIK, recorded_on=dt.date(2026, 7, 1)), REGION)
    assert r.participant and r.participant.status is S.ACTIVE


def test_approval_for_unknown_nik_is_an_anomaly_and_applied_as_if_inactive() -> None:
    r = apply(None, decided("APPROVED"), REGION)
    assert r.anomaly and r.anomaly.kind == "APPROVAL_FOR_UNKNOWN_NIK"
    assert r.participant and r.participant.status is S.ACTIVE and r.participant.deactivated_on is None
    assert r.history and (r.history.previous_status, r.history.status) == (None, S.ACTIVE) and r.status_changed


@pytest.mark.parametrize("outcome", ["REJECTED", "PENDING"])
def test_decision_that_nobody_is_deactivated_is_no_anomaly_and_creates_nobody(outcome: str) -> None:
    r = apply(None, decided(outcome, ("NOT_DEACTIVATED",)), REGION)
    assert (r.participant, r.history, r.anomaly) == (None, None, None)


def test_approval_for_deceased_is_an_anomaly_and_not_applied() -> None:
    r = apply(person(S.INACTIVE, deceased=True), decided("APPROVED"), REGION)
    assert r.anomaly and r.anomaly.kind == "APPROVAL_FOR_DECEASED"
    assert r.participant and r.participant.status is S.INACTIVE and r.history is None


def test_stale_decision_is_an_anomaly() -> None:
    r = apply(person(S.ACTIVE), decided("PENDING", at=T0 - dt.timedelta(days=2)), REGION)
    assert r.anomaly and r.anomaly.kind == "STALE_EVENT" and r.participant and r.participant.status is S.ACTIVE


def test_the_same_deactivation_from_another_source_earlier_changes_nothing() -> None:
    known = person(S.ACTIVE, deactivated_on=dt.date(2026, 6, 1), deactivation_reason="DESIL_ABOVE_5")
    r = apply(known, deactivated(at=T0 - dt.timedelta(days=1), reason="NO_BIOMETRIC"), REGION)
    assert (r.participant, r.history, r.anomaly) == (known, None, None)


JUNE_1 = dt.date(2026, 6, 1)


def _again(on: dt.date, at: dt.datetime, source: str = "BPJS", reason: str = "DESIL_ABOVE_5") -> ParticipantDeactivated:
    return ParticipantDeactivated(occurred_at=at, source=source, nik=NIK, deactivated_on=on, reason=reason)  # type: ignore[arg-type]


def _reactivated() -> Participant:
    """Deactivated on 1 June, then approved: ACTIVE, the June window on record."""
    inactive = apply(None, deactivated(), REGION).participant
    active = apply(inactive, decided("APPROVED", at=T0 + dt.timedelta(days=3)), REGION).participant
    assert active and active.status is S.ACTIVE
    return active


@pytest.mark.parametrize(
    "event",
    [
        _again(JUNE_1, T0),  # the same event content from a second source
        _again(JUNE_1, T0 + dt.timedelta(days=10), source="SIKS-NG"),  # a resend after the approval
        _again(JUNE_1, T0 + dt.timedelta(days=10), reason="NO_BIOMETRIC"),  # same date, another reason code
        _again(dt.date(2026, 5, 1), T0 + dt.timedelta(days=10)),  # an older deactivation, arriving late
        _again(dt.date(2026, 5, 31), T0 - dt.timedelta(days=40)),
    ],
    ids=["second-source", "resend-after-approval", "other-reason", "older-date-late", "older-date"],
)
def test_a_repeated_or_older_deactivation_after_a_reactivation_changes_nothing(event: ParticipantDeactivated) -> None:
    active = _reactivated()
    r = apply(active, event, REGION)
    assert r.participant == active  # still ACTIVE, same window, same reason
    assert r.history is None and not r.status_changed


@pytest.mark.parametrize("start", [S.INACTIVE, S.REACTIVATION_PENDING, S.EXPIRED])
def test_a_repeated_deactivation_changes_nothing_in_any_status(start: S) -> None:
    known = person(start, deactivated_on=JUNE_1, deactivation_reason="DESIL_ABOVE_5")
    r = apply(known, _again(JUNE_1, T0 + dt.timedelta(days=5)), REGION)
    assert (r.participant, r.history) == (known, None)


def test_an_older_deactivation_never_moves_the_window_back() -> None:
    later = apply(None, _again(dt.date(2026, 8, 31), T0), REGION).participant
    assert later and later.window_closes_at and later.window_closes_at.date() == dt.date(2027, 2, 28)
    r = apply(later, _again(JUNE_1, T0 + dt.timedelta(days=1)), REGION)  # posted later, dated earlier
    assert r.participant == later and r.history is None
    assert r.anomaly and r.anomaly.kind == "STALE_EVENT"  # visible: a source sent an outdated list


def test_a_newer_deactivation_after_a_reactivation_deactivates_again() -> None:
    active = _reactivated()
    r = apply(active, _again(dt.date(2026, 12, 1), T0 + dt.timedelta(days=180), reason="NO_BIOMETRIC"), REGION)
    assert r.participant and r.participant.status is S.INACTIVE and r.status_changed
    assert r.participant.deactivated_on == dt.date(2026, 12, 1) and r.participant.deactivation_reason == "NO_BIOMETRIC"
    assert r.participant.window_closes_at and r.participant.window_closes_at.date() == dt.date(2027, 6, 1)


def test_a_newer_deactivation_older_than_the_approval_only_fills_in_its_window() -> None:
    """Posted before the approval (eligibility decided with it), seen after: the status stays ACTIVE."""
    active = _reactivated()
    r = apply(active, _again(dt.date(2026, 6, 15), T0 + dt.timedelta(days=2)), REGION)
    assert r.participant and r.participant.status is S.ACTIVE and not r.status_changed
    assert r.participant.deactivated_on == dt.date(2026, 6, 15)


def test_late_deactivation_after_its_decision_fills_details_and_keeps_the_newer_status() -> None:
    pending = apply(None, decided("PENDING", ("DESIL_UNKNOWN",)), REGION).participant
    r = apply(pending, deactivated(), REGION)  # occurred a day before the decision
    assert r.anomaly is None and r.participant and r.participant.status is S.REACTIVATION_PENDING
    assert r.participant.deactivation_reason == "DESIL_ABOVE_5" and r.participant.deactivated_on == dt.date(2026, 6, 1)
    assert r.participant.window_closes_at and r.participant.window_closes_at.date() == dt.date(2026, 12, 1)
    assert pending and r.participant.last_status_event_at == pending.last_status_event_at
    assert r.history and r.history.status is S.REACTIVATION_PENDING and not r.status_changed


def test_pending_while_active_is_an_unexpected_decision() -> None:
    r = apply(person(S.ACTIVE), decided("PENDING"), REGION)
    assert r.anomaly and r.anomaly.kind == "UNEXPECTED_DECISION"


@pytest.mark.parametrize(
    ("outcome", "reasons", "status"),
    [
        ("PENDING", ("DESIL_UNKNOWN",), S.REACTIVATION_PENDING),
        ("EXPIRED", ("WINDOW_EXPIRED",), S.EXPIRED),
        ("REJECTED", ("DOCUMENT_MISSING",), S.INACTIVE),
    ],
)
def test_other_decisions_for_an_unknown_nik_are_anomalies_applied_as_if_inactive(
    outcome: str, reasons: tuple[str, ...], status: S
) -> None:
    r = apply(None, decided(outcome, reasons), REGION)
    assert r.anomaly and r.anomaly.kind == "DECISION_FOR_UNKNOWN_NIK"
    assert r.participant and r.participant.status is status and r.participant.province == "Banten"
    assert r.history and r.history.reasons == reasons


def test_rejection_as_invalid_nik_for_an_unknown_nik_creates_nobody() -> None:
    r = apply(None, decided("REJECTED", ("NIK_INVALID",)), REGION)
    assert (r.participant, r.history, r.anomaly) == (None, None, None)


@pytest.mark.parametrize(
    ("start", "outcome", "reasons", "end"),
    [
        (S.INACTIVE, "EXPIRED", ("WINDOW_EXPIRED",), S.EXPIRED),
        (S.INACTIVE, "EXPIRED", (), S.EXPIRED),
        (S.REACTIVATION_PENDING, "PENDING", ("BIOMETRIC_MISSING",), S.REACTIVATION_PENDING),
        (S.REACTIVATION_PENDING, "REJECTED", ("DESIL_ABOVE_5", "WINDOW_EXPIRED"), S.EXPIRED),
        (S.EXPIRED, "EXPIRED", ("WINDOW_EXPIRED",), S.EXPIRED),
        (S.EXPIRED, "REJECTED", ("DOCUMENT_MISSING",), S.EXPIRED),
    ],
)
def test_more_decision_transitions(start: S, outcome: str, reasons: tuple[str, ...], end: S) -> None:
    r = apply(person(start), decided(outcome, reasons), REGION)
    assert r.anomaly is None
    assert r.participant and r.participant.status is end and r.participant.last_status_event_at > T0
    assert r.history and r.history.status is end and r.status_changed is (start is not end)


def test_approval_after_the_window_expired_is_an_anomaly_and_not_applied() -> None:
    r = apply(person(S.EXPIRED), decided("APPROVED"), REGION)
    assert r.anomaly and r.anomaly.kind == "APPROVAL_AFTER_EXPIRY"
    assert r.participant and r.participant.status is S.EXPIRED and r.history is None


def test_pending_after_expiry_is_an_unexpected_decision() -> None:
    r = apply(person(S.EXPIRED), decided("PENDING", ("DESIL_UNKNOWN",)), REGION)
    assert r.anomaly and r.anomaly.kind == "UNEXPECTED_DECISION" and r.history is None


def test_approval_after_death_reported_later_in_the_stream_is_refused() -> None:
    dead = apply(
        person(S.REACTIVATION_PENDING),
        DeathReported(occurred_at=T0, source="DUKCAPIL", nik=NIK, died_on=dt.date(2026, 6, 20)),
        REGION,
    ).participant
    r = apply(dead, decided("APPROVED"), REGION)
    assert r.anomaly and r.anomaly.kind == "APPROVAL_FOR_DECEASED"
    assert r.participant and r.participant.status is S.REACTIVATION_PENDING


def test_deactivation_as_deceased_marks_the_person_deceased() -> None:
    r = apply(None, deactivated(reason="DECEASED"), REGION)
    assert r.participant and r.participant.deceased and r.participant.deactivation_reason == "DECEASED"


def test_redeactivation_restarts_the_window_from_the_new_date() -> None:
    first = apply(None, deactivated(), REGION).participant
    later = ParticipantDeactivated(
        occurred_at=T0 + dt.timedelta(days=200),
        source="SIKS-NG",
        nik=NIK,
        deactivated_on=dt.date(2027, 1, 31),
        reason="NO_BIOMETRIC",
    )
    r = apply(first, later, REGION)
    assert r.participant and r.participant.deactivation_reason == "NO_BIOMETRIC"
    assert r.participant.window_closes_at and r.participant.window_closes_at.date() == dt.date(2027, 7, 31)
    assert r.history and r.history.reasons == ("NO_BIOMETRIC",) and not r.status_changed


def test_event_without_a_status_rule_is_an_unhandled_anomaly() -> None:
    reminder = WindowReminderDue(
        occurred_at=T0, source="eligibility", nik=NIK, window_closes_at=T0 + dt.timedelta(days=7), days_left=7
    )
    r = apply(person(S.INACTIVE), reminder, REGION)
    assert r.anomaly and r.anomaly.kind == "UNHANDLED_EVENT" and r.history is None
    assert r.participant == person(S.INACTIVE)


def test_history_entry_names_the_causing_event() -> None:
    event = decided("REJECTED", ("DESIL_ABOVE_5",))
    r = apply(person(S.REACTIVATION_PENDING), event, REGION)
    assert r.history is not None
    assert (r.history.event_id, r.history.event_type, r.history.occurred_at, r.history.source) == (
        event.event_id,
        "reactivation.decided",
        event.occurred_at,
        "eligibility",
    )


@pytest.mark.parametrize(
    ("deactivated_on", "nik", "closes"),
    [
        (dt.date(2026, 8, 31), NIK, dt.datetime(2027, 2, 28, 23, 59, 59, tzinfo=ZoneInfo("Asia/Jakarta"))),
        (dt.date(2027, 8, 31), NIK, dt.datetime(2028, 2, 29, 23, 59, 59, tzinfo=ZoneInfo("Asia/Jakarta"))),
        (
            dt.date(2026, 1, 15),
            "7371015708900001",
            dt.datetime(2026, 7, 15, 23, 59, 59, tzinfo=ZoneInfo("Asia/Makassar")),
        ),
        (
            dt.date(2026, 3, 31),
            "9171015708900001",
            dt.datetime(2026, 9, 30, 23, 59, 59, tzinfo=ZoneInfo("Asia/Jayapura")),
        ),
    ],
)
def test_window_closes_six_months_later_at_local_end_of_day_clamped(
    deactivated_on: dt.date, nik: str, closes: dt.datetime
) -> None:
    got = window_closes_at(deactivated_on, nik)
    assert got == closes and got.utcoffset() == closes.utcoffset()


CLOSES = dt.datetime(2026, 12, 1, 23, 59, 59, tzinfo=ZoneInfo("Asia/Jakarta"))


def _expired_at_window_close() -> Participant:
    return replace(person(S.EXPIRED, deactivated_on=JUNE_1, window_closes_at=CLOSES), last_status_event_at=CLOSES)


@pytest.mark.parametrize(
    ("received", "decided_at", "applied"),
    [
        (CLOSES - dt.timedelta(hours=1), CLOSES + dt.timedelta(hours=5), True),  # decided after the close
        (CLOSES - dt.timedelta(hours=1), CLOSES - dt.timedelta(minutes=5), True),  # decided before, seen after
        (CLOSES, CLOSES + dt.timedelta(days=2), True),  # the last second of the window
        (CLOSES + dt.timedelta(seconds=1), CLOSES + dt.timedelta(days=2), False),  # received too late
        (dt.datetime(2026, 5, 20, tzinfo=dt.UTC), CLOSES + dt.timedelta(days=2), False),  # an earlier cycle's request
    ],
)
def test_an_approval_of_a_request_received_in_the_window_undoes_the_expiry_at_window_close(
    received: dt.datetime, decided_at: dt.datetime, applied: bool
) -> None:
    approval = decided("APPROVED", at=decided_at).model_copy(update={"received_at": received})
    r = apply(_expired_at_window_close(), approval, REGION)
    if applied:
        assert r.anomaly is None and r.participant and r.participant.status is S.ACTIVE and r.status_changed
        assert r.participant.last_status_event_at == max(CLOSES, decided_at)
    else:
        assert r.anomaly and r.anomaly.kind == "APPROVAL_AFTER_EXPIRY"
        assert r.participant and r.participant.status is S.EXPIRED and r.history is None


# --- window close -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "now", "expired"),
    [
        (S.INACTIVE, CLOSES + dt.timedelta(seconds=1), True),  # never asked
        (S.REACTIVATION_PENDING, CLOSES + dt.timedelta(seconds=1), True),  # asked, never approved
        (S.INACTIVE, CLOSES, False),  # 23:59:59 local: the last second of the window
        (S.INACTIVE, CLOSES - dt.timedelta(days=1), False),
        (S.ACTIVE, CLOSES + dt.timedelta(days=1), False),  # got back in
        (S.EXPIRED, CLOSES + dt.timedelta(days=1), False),  # already expired by a decision
    ],
)
def test_at_window_close_whoever_is_still_out_expires(status: S, now: dt.datetime, expired: bool) -> None:
    p = replace(person(status, deactivated_on=JUNE_1, window_closes_at=CLOSES), last_status_event_at=T0)
    r = window_closed(p, now)
    if not expired:
        assert (r.participant, r.history) == (p, None)
        return
    assert r.participant and r.participant.status is S.EXPIRED and r.status_changed
    assert r.history and r.history.previous_status is status and r.history.reasons == ("WINDOW_EXPIRED",)
    # Stamped at the close, whenever the sweep ran: a late sweep changes nothing, and the same id twice.
    assert r.history.occurred_at == CLOSES and r.participant.last_status_event_at == CLOSES
    assert r.history.event_type == WINDOW_CLOSED and r.history.source == "registry"
    assert window_closed(p, now + dt.timedelta(days=30)).history == r.history


def test_a_window_closes_at_local_end_of_day_in_every_zone() -> None:
    for nik, zone in [
        ("3674015708900001", "Asia/Jakarta"),
        ("5171015708900001", "Asia/Makassar"),
        ("9171015708900001", "Asia/Jayapura"),
    ]:
        closes = window_closes_at(JUNE_1, nik)
        p = replace(Participant(nik, S.INACTIVE, *REGION, deactivated_on=JUNE_1, window_closes_at=closes))
        local_midnight = dt.datetime(2026, 12, 2, tzinfo=ZoneInfo(zone))
        assert window_closed(p, local_midnight - dt.timedelta(seconds=1)).history is None
        assert window_closed(p, local_midnight).participant.status is S.EXPIRED  # type: ignore[union-attr]


def test_no_window_no_expiry() -> None:
    p = person(S.INACTIVE)  # a decision seen before any deactivation: no window known yet
    assert window_closed(p, CLOSES + dt.timedelta(days=400)).history is None


# --- property: facts late and twice ---------------------------------------------------------------

_DATES = [dt.date(2026, 3, 1), dt.date(2026, 3, 31), dt.date(2026, 6, 1), dt.date(2026, 8, 31)]


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("deactivated"), st.sampled_from(_DATES), st.sampled_from(["SIKS-NG", "BPJS"])),
            st.tuples(st.just("approved"), st.none(), st.none()),
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(_DATES),
)
def test_the_window_follows_the_newest_deactivation_and_repeats_change_nothing(steps, repeat_on) -> None:  # type: ignore[no-untyped-def]
    p: Participant | None = None
    at = T0
    for kind, on, source in steps:
        at += dt.timedelta(hours=1)
        event = _again(on, at, source) if kind == "deactivated" else decided("APPROVED", at=at)
        p = apply(p, event, REGION).participant or p
    seen = [on for kind, on, _ in steps if kind == "deactivated"]
    if not seen:
        return
    assert p and p.deactivated_on == max(seen)  # never moved back by an older list
    assert p.window_closes_at == window_closes_at(max(seen), NIK)
    # Any deactivation not newer than the current one, from any source, at any later time: nothing.
    if repeat_on <= p.deactivated_on:
        r = apply(p, _again(repeat_on, at + dt.timedelta(days=1), "SIKS-NG"), REGION)
        assert r.participant == p and r.history is None and not r.status_changed


def test_the_sweeps_index_predicate_names_exactly_the_people_still_out() -> None:
    from services.registry.store import STILL_OUT_SQL

    assert STILL_OUT_SQL == "status in (" + ", ".join(f"'{s.value}'" for s in STILL_OUT) + ")"
