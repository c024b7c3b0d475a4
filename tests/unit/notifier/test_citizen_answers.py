"""What CEK answers (status, masked NIK, days left or closed, what is missing and where to go) and the
other answers: Bahasa Indonesia, no whole NIK, GSM-7, two SMS segments at most; and the standing the
notifier folds from the events it consumes."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.domain import answers
from services.notifier.domain.standing import Standing, fold, names_request
from services.notifier.templates import GSM7
from shared.appeals import request_reference
from shared.enums import DeactivationReason, DecisionReason, FollowUp, Outcome, ParticipantStatus
from shared.events import (
    BiometricRecorded,
    DesilUpdated,
    Event,
    NikConflictResolved,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
)
from shared.regions import REGENCIES

NIK = "3674015708900001"  # Kota Tangerang Selatan (WIB)
MASKED = "3674********0001"
T0 = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)  # 10:00 WIB
S = ParticipantStatus


def deactivated(reason: str = "NO_BIOMETRIC", on: dt.date = dt.date(2026, 11, 1), at: dt.datetime = T0) -> Event:
    return ParticipantDeactivated(occurred_at=at, source="SIKS-NG", nik=NIK, reason=reason, deactivated_on=on)


def decided(outcome: str, reasons: list[str], at: dt.datetime, follow_ups: list[str] | None = None) -> Event:
    return ReactivationDecided(
        occurred_at=at,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        path="REGULAR",
        channel="DINSOS",
        outcome=outcome,
        reasons=reasons,
        follow_ups=follow_ups or [],
        policy_version="v1",
        received_at=at,
        decided_at=at,
    )


def standing(*events: Event) -> Standing:
    s: Standing | None = None
    for event in events:
        s = fold(s, event)
    assert s is not None
    return s


def later(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


@pytest.mark.parametrize(
    ("events", "now", "says", "never_says"),
    [
        (  # deactivated for want of biometrics: the window's days and where to record them
            [deactivated()],
            T0,
            ["NONAKTIF sejak 01-11-2026 (belum rekam biometrik)", "Sisa 158 hari", "s.d. 01-05-2027",
             "rekam biometrik di Disdukcapil Kota Tangerang Selatan (bawa KTP)"],
            ["AKTIF.", "berakhir"],
        ),
        (  # recorded since: nothing missing, apply
            [deactivated(),
             BiometricRecorded(occurred_at=later(1), source="Dukcapil", nik=NIK, recorded_on=dt.date(2026, 11, 20))],
            T0,
            ["Sisa 158 hari", "Ajukan reaktivasi"],
            ["biometrik di"],
        ),
        (  # a request pending on a re-ranking and biometrics: both named, with where to go
            [deactivated("DESIL_ABOVE_5"), ReactivationRequested(occurred_at=later(1), source="intake", nik=NIK,
             request_id=uuid.uuid4(), path="REGULAR", channel="DINSOS", received_at=later(1)),
             decided("PENDING", ["DESIL_UNKNOWN", "BIOMETRIC_MISSING"], later(2))],
            T0,
            ["Permohonan reaktivasi sedang diproses", "pembaruan data DTSEN lewat kelurahan/desa",
             "rekam biometrik di Disdukcapil"],
            ["berakhir"],
        ),
        (  # a re-ranking to desil 3 dated after the deactivation cures DESIL_UNKNOWN until the next decision
            [deactivated("DESIL_ABOVE_5"), decided("PENDING", ["DESIL_UNKNOWN"], later(2)),
             DesilUpdated(occurred_at=later(3), source="DTSEN", nik=NIK, desil=3, effective_on=dt.date(2026, 11, 20))],
            T0,
            ["Tidak ada yang kurang; tunggu keputusan"],
            ["DTSEN"],
        ),
        (  # ... but not one dated the deactivation's own day (DOMAIN.md: that one caused it)
            [deactivated("DESIL_ABOVE_5"), decided("PENDING", ["DESIL_UNKNOWN"], later(2)),
             DesilUpdated(occurred_at=later(3), source="DTSEN", nik=NIK, desil=3, effective_on=dt.date(2026, 11, 1))],
            T0,
            ["pembaruan data DTSEN"],
            [],
        ),
        (  # a NIK conflict resolved since the decision named it
            [deactivated("NIK_CONFLICT"), decided("PENDING", ["NIK_CONFLICT"], later(2)),
             NikConflictResolved(occurred_at=later(3), source="Dukcapil", nik=NIK)],
            T0,
            ["Tidak ada yang kurang"],
            ["NIK ganda di"],
        ),
        (  # approved: active, and the SIKS-NG follow-up so it does not happen again
            [deactivated("NO_ID_SEMESTA"), decided("APPROVED", [], later(2), ["SIKS_NG_ENTRY"])],
            T0,
            ["AKTIF. Kartu bisa dipakai di faskes.", "SIKS-NG"],
            ["Sisa", "NONAKTIF"],
        ),
        (  # the window closed with nobody deciding: closed, apply as a new participant
            [deactivated()],
            dt.datetime(2027, 5, 2, 3, 0, tzinfo=dt.UTC),
            ["Masa reaktivasi 6 bulan sudah berakhir pada 01-05-2027", "peserta baru"],
            ["Sisa"],
        ),
        (  # the last day, in the person's own zone (23:00 WIB on the closing day)
            [deactivated()],
            dt.datetime(2027, 5, 1, 16, 0, tzinfo=dt.UTC),
            ["Hari ini hari terakhir reaktivasi (01-05-2027)"],
            ["Sisa"],
        ),
        (  # rejected for the window: expired
            [deactivated(), decided("REJECTED", ["WINDOW_EXPIRED"], later(2))],
            T0,
            ["sudah berakhir"],
            ["Sisa"],
        ),
        (  # the family's number: no window, no promise
            [deactivated("DECEASED")],
            T0,
            ["tercatat meninggal", "Disdukcapil"],
            ["Sisa", "reaktivasi"],
        ),
        (  # a request seen before anything else about the person
            [ReactivationRequested(occurred_at=T0, source="intake", nik=NIK, request_id=uuid.uuid4(),
             path="REGULAR", channel="DINSOS", received_at=T0)],
            T0,
            ["permohonan reaktivasi Anda sedang diproses"],
            ["NONAKTIF", "tidak ada catatan"],
        ),
        (  # eligibility's window (its policy) wins over the default six months
            [deactivated(), WindowReminderDue(occurred_at=later(1), source="eligibility", nik=NIK,
             window_closes_at=dt.datetime(2027, 2, 1, 16, 59, 59, tzinfo=dt.UTC), days_left=30)],
            T0,
            ["s.d. 01-02-2027", "Sisa 69 hari"],
            [],
        ),
    ],
)  # fmt: skip
def test_status_answer(events: list[Event], now: dt.datetime, says: list[str], never_says: list[str]) -> None:
    text = answers.status_answer(standing(*events), now)
    assert text.startswith(f"PBI JKN NIK {MASKED}:") and NIK not in text
    for part in says:
        assert part in text, text
    for part in never_says:
        assert part not in text, text
    assert _sms_safe(text)


def _sms_safe(text: str) -> bool:
    return len(text) <= answers.MAX_CHARS and set(text) <= GSM7 and not re.search(r"\d{16}", text)


@pytest.mark.parametrize("text", [answers.GENERAL, answers.HELP, answers.RESUMED, answers.APPEAL_USAGE])
def test_fixed_answers_are_short_gsm7_and_name_nobody(text: str) -> None:
    assert _sms_safe(text) and "NIK 3" not in text


def test_help_names_every_command() -> None:
    for word in ("CEK", "BANDING", "BERHENTI", "MULAI"):
        assert word in answers.HELP


def test_the_general_answer_reveals_nothing_about_anyone() -> None:
    assert not re.search(r"\d", answers.GENERAL.replace("KTP", ""))  # no number, no date, no NIK
    for word in ("NONAKTIF", "AKTIF.", "Sisa", "meninggal"):
        assert word not in answers.GENERAL


@pytest.mark.parametrize("reference", ["3F2A9C1B", "3f2a-9c1b", "3f2a9c1b-0e4d-4c2a-9b1e-5d6f7a8b9c0d"])
def test_appeal_received_answer(reference: str) -> None:
    text = answers.appeal_received(reference)
    assert reference.upper() in text and "diproses" in text and _sms_safe(text)


_REGENCY_NIKS = [f"{code}01{'01' if i % 2 else '41'}0190{i % 9000 + 1:04d}" for i, code in enumerate(REGENCIES)]


@given(
    nik=st.sampled_from(_REGENCY_NIKS),
    status=st.sampled_from([*ParticipantStatus, None]),
    reason=st.sampled_from([r.value for r in DeactivationReason]),
    reasons=st.lists(st.sampled_from([r.value for r in DecisionReason]), max_size=6),
    follow_ups=st.lists(st.sampled_from([f.value for f in FollowUp]), max_size=3),
    deceased=st.booleans(),
    request_open=st.booleans(),
    days=st.integers(-400, 400),
)
def test_every_status_answer_is_masked_gsm7_and_two_segments_at_most(
    nik: str,
    status: ParticipantStatus | None,
    reason: str,
    reasons: list[str],
    follow_ups: list[str],
    deceased: bool,
    request_open: bool,
    days: int,
) -> None:
    s = Standing(
        nik,
        status,
        dt.date(2026, 8, 31),
        reason,
        dt.datetime(2027, 2, 28, 16, 59, 59, tzinfo=dt.UTC),
        tuple(reasons),
        tuple(follow_ups),
        deceased=deceased,
        request_open=request_open,
    )
    text = answers.status_answer(s, T0 + dt.timedelta(days=days))
    assert nik not in text and nik[:4] + "********" + nik[-4:] in text
    assert _sms_safe(text), text


# ---------- the fold ----------


def test_a_repeated_or_older_deactivation_never_moves_the_window_back() -> None:
    s = standing(deactivated(on=dt.date(2026, 11, 1)))
    assert fold(s, deactivated(on=dt.date(2026, 11, 1), at=later(5))) == s
    assert fold(s, deactivated(on=dt.date(2026, 6, 1), at=later(5))) == s
    newer = fold(s, deactivated(on=dt.date(2026, 12, 1), at=later(5)))
    assert newer is not None and newer.window_closes_at is not None
    assert newer.window_closes_at.date() == dt.date(2027, 6, 1)


def test_a_decision_older_than_the_status_changes_nothing() -> None:
    s = standing(deactivated(), decided("APPROVED", [], later(5)))
    assert fold(s, decided("PENDING", ["DESIL_UNKNOWN"], later(3))) == s
    assert s.status is S.ACTIVE


def test_a_late_deactivation_fills_in_without_moving_the_status_back() -> None:
    s = standing(decided("APPROVED", [], later(5)), deactivated(at=T0))
    assert s.status is S.ACTIVE and s.deactivated_on == dt.date(2026, 11, 1)


@pytest.mark.parametrize(
    ("outcome", "reasons", "status"),
    [
        ("APPROVED", [], S.ACTIVE),
        ("PENDING", ["DESIL_UNKNOWN"], S.REACTIVATION_PENDING),
        ("REJECTED", ["DESIL_ABOVE_5"], S.INACTIVE),
        ("REJECTED", ["WINDOW_EXPIRED"], S.EXPIRED),
        ("EXPIRED", [], S.EXPIRED),
    ],
)
def test_decisions_set_the_status_as_the_registry_maps_them(outcome: str, reasons: list[str], status: S) -> None:
    assert standing(deactivated(), decided(outcome, reasons, later(1))).status is status


def test_facts_about_someone_never_seen_start_nothing_and_a_wait_for_the_list_neither() -> None:
    fact = BiometricRecorded(occurred_at=T0, source="Dukcapil", nik=NIK, recorded_on=dt.date(2026, 11, 1))
    assert fold(None, fact) is None
    assert fold(None, decided(Outcome.PENDING.value, ["NOT_DEACTIVATED"], T0)) is None


def test_the_latest_requests_are_kept_to_find_the_one_a_banding_reference_names() -> None:
    ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"request-{i}") for i in range(7)]
    s = standing(deactivated())
    for i, request_id in enumerate(ids):
        s = fold(s, _requested(request_id, later(i + 1)))  # type: ignore[assignment]
    assert s.request_ids == tuple(r.hex for r in reversed(ids))[:5]
    assert names_request(s, request_reference(ids[-1])) and not names_request(s, request_reference(ids[0]))
    assert names_request(s, str(ids[-1]).upper())  # the whole id, any case


def _requested(request_id: uuid.UUID, at: dt.datetime) -> Event:
    return ReactivationRequested(
        occurred_at=at,
        source="intake",
        nik=NIK,
        request_id=request_id,
        path="REGULAR",
        channel="DINSOS",
        received_at=at,
    )
