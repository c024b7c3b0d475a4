"""Which event becomes which message, the deactivation next steps, GSM-7 texts, the rate limit."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from types import SimpleNamespace

import pytest

from services.notifier import sender
from services.notifier.domain.messages import message_for
from services.notifier.sender import RateLimit
from services.notifier.templates import DEACTIVATION_STEP, GSM7, KINDS, render
from shared.enums import DeactivationReason, DecisionReason, Outcome
from shared.events import (
    BiometricRecorded,
    EmergencySlaChanged,
    ParticipantDeactivated,
    ReactivationDecided,
    ReactivationRequested,
    WindowReminderDue,
)

NIK = "3674015708900001"
AT = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)
REQUEST = uuid.UUID("00000000-0000-0000-0000-000000000001")


def decided(outcome: Outcome, path: str = "REGULAR", **kw: object) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=AT,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid5(REQUEST, outcome),
        request_id=REQUEST,
        path=path,
        channel="DINSOS",
        outcome=outcome,
        policy_version="1",
        received_at=AT,
        decided_at=AT,
        **kw,
    )


def requested(path: str) -> ReactivationRequested:
    return ReactivationRequested(
        occurred_at=AT, source="intake", nik=NIK, request_id=REQUEST, path=path, channel="DINSOS", received_at=AT
    )


@pytest.mark.parametrize(
    ("event", "kind", "urgent"),
    [
        (
            ParticipantDeactivated(
                occurred_at=AT, source="s", nik=NIK, deactivated_on=dt.date(2026, 11, 1), reason="NO_BIOMETRIC"
            ),
            "deactivated",
            False,
        ),
        (requested("REGULAR"), "received", False),
        (requested("EMERGENCY"), "received", True),
        (decided(Outcome.PENDING, reasons=["DESIL_UNKNOWN"]), "pending", False),
        (decided(Outcome.APPROVED), "approved", False),
        (decided(Outcome.APPROVED, path="EMERGENCY"), "emergency_approved", True),
        (decided(Outcome.REJECTED, reasons=["DECEASED"]), "rejected", False),
        (decided(Outcome.EXPIRED), "expired", False),
        (
            WindowReminderDue(occurred_at=AT, source="e", nik=NIK, window_closes_at=AT, days_left=7),
            "window_closing",
            False,
        ),
    ],
)
def test_each_event_becomes_its_message_kind(event: object, kind: str, urgent: bool) -> None:
    message = message_for(event)  # type: ignore[arg-type]
    assert message is not None and message.kind == kind and message.urgent is urgent
    assert message.kind in KINDS
    assert message.message_id == message_for(event).message_id  # type: ignore[arg-type, union-attr]
    assert message.message_id == uuid.uuid5(
        uuid.UUID("9a3e1c55-0d7f-4b8e-b5d2-2f6c8e4a7b19"), f"{event.event_id}:{kind}"
    )  # type: ignore[attr-defined]


def test_a_death_gets_its_own_notice_and_every_other_reason_the_usual_one() -> None:
    for reason in DeactivationReason:
        event = ParticipantDeactivated(
            occurred_at=AT, source="s", nik=NIK, deactivated_on=dt.date(2026, 11, 1), reason=reason
        )
        message = message_for(event)
        assert message is not None and not message.urgent
        assert message.kind == ("deactivated_deceased" if reason is DeactivationReason.DECEASED else "deactivated")


def test_the_notice_to_a_deceased_persons_family_promises_no_reactivation() -> None:
    text = render("deactivated_deceased", NIK, {"reason": "DECEASED", "deactivated_on": dt.date(2026, 11, 1)})
    lowered = text.lower()
    assert "berduka cita" in lowered and "meninggal" in lowered  # condolence, and why
    assert "tidak perlu melakukan apa pun" in lowered  # what the family has to do: nothing
    assert "bila data ini keliru" in lowered and "dinsos" in lowered  # and whom to tell if it is wrong
    words = set(re.findall(r"[a-z]+", lowered))  # "dinonaktifkan" (deactivated) is fine; "diaktifkan" is not
    assert not words & {"reaktivasi", "aktifkan", "diaktifkan", "mengaktifkan", "darurat", "segera"}
    for promise in ("aktif kembali", "24 jam", "6 bulan"):
        assert promise not in lowered, promise
    assert "3674********0001" in text and NIK not in text and "01-11-2026" in text
    assert set(text) <= GSM7 and len(text) <= 160 * 2


def test_facts_and_sla_ticks_send_nothing() -> None:
    assert message_for(BiometricRecorded(occurred_at=AT, source="s", nik=NIK, recorded_on=dt.date(2026, 1, 1))) is None
    sla = EmergencySlaChanged(
        occurred_at=AT, source="e", nik=NIK, request_id=REQUEST, sla_state="WARNING", sla_deadline=AT, received_at=AT
    )
    assert message_for(sla) is None


def test_a_request_held_for_a_deactivation_on_its_way_sends_nothing_yet() -> None:
    assert message_for(decided(Outcome.PENDING, reasons=["NOT_DEACTIVATED"])) is None
    rejected = message_for(decided(Outcome.REJECTED, reasons=["NOT_DEACTIVATED"]))
    assert rejected is not None and rejected.kind == "rejected"


@pytest.mark.parametrize("reason", list(DeactivationReason))
def test_deactivation_notice_says_which_office_and_document(reason: DeactivationReason) -> None:
    text = render("deactivated", NIK, {"reason": reason.value, "deactivated_on": dt.date(2026, 11, 1)})
    assert DEACTIVATION_STEP[reason.value] in text and "01-11-2026" in text
    assert any(office in text for office in ("Disdukcapil", "kelurahan", "Dinsos", "SIKS-NG"))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reasons", [[r.value] for r in DecisionReason] + [[r.value for r in DecisionReason]])
def test_texts_use_only_the_gsm7_alphabet_and_fit_two_segments(kind: str, reasons: list[str]) -> None:
    text = render(kind, NIK, {"reasons": reasons, "reason": "OTHER", "days_left": 30, "window_closes_at": AT})
    assert set(text) <= GSM7, set(text) - GSM7
    assert len(text) <= 306 and NIK not in text


def test_approval_with_siks_ng_follow_up_tells_the_person() -> None:
    assert "SIKS-NG" in render("approved", NIK, {"follow_ups": ["SIKS_NG_ENTRY"]})
    assert "SIKS-NG" not in render("approved", NIK, {"follow_ups": []})


def test_rate_limit_spaces_sends_beyond_the_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a clock the test owns (sleeping moves it), so a loaded machine's pauses do not count."""
    import asyncio

    now, slept = [1000.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    # (sender's own names for the clock and the sleep, nobody else's)
    monkeypatch.setattr(sender, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(sender, "asyncio", SimpleNamespace(sleep=sleep))
    limit = RateLimit(per_s=100)

    async def take(n: int) -> float:
        start = now[0]
        for _ in range(n):
            await limit.take()
        return now[0] - start

    assert asyncio.run(take(100)) == 0 and slept == []  # the burst
    assert asyncio.run(take(30)) == pytest.approx(0.30)  # then 100 per second
    assert slept == pytest.approx([0.01] * 30)  # each waits once, for its own slot
