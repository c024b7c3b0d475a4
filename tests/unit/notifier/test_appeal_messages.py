"""What a person hears of an appeal: received (with reference and due date), upheld (once, through the
APPROVED decision that carries the appeal id), dismissed, refused; the rejection names the reference
to answer `BANDING <reference>` with. Bahasa Indonesia, NIK masked."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from services.notifier.domain.messages import message_for
from services.notifier.templates import render
from shared.appeals import request_reference
from shared.enums import AppealStatus
from shared.events import AppealUpdated, ReactivationDecided

NIK = "3674015708900001"
T0 = dt.datetime(2026, 11, 24, 3, tzinfo=dt.UTC)
REQUEST = uuid.UUID("3f2a9c1b-0000-4000-8000-000000000001")


def decided(outcome: str, appeal_id: uuid.UUID | None = None, reasons: tuple[str, ...] = ()) -> ReactivationDecided:
    return ReactivationDecided(
        occurred_at=T0,
        source="eligibility",
        nik=NIK,
        decision_id=uuid.uuid4(),
        request_id=REQUEST,
        path="REGULAR",
        channel="DINSOS",
        outcome=outcome,  # type: ignore[arg-type]
        reasons=list(reasons),  # type: ignore[arg-type]
        policy_version="t",
        received_at=T0,
        decided_at=T0,
        appeal_id=appeal_id,
    )


def appeal(status: AppealStatus, reasons: tuple[str, ...] = ()) -> AppealUpdated:
    return AppealUpdated(
        occurred_at=T0,
        source="eligibility",
        nik=NIK,
        appeal_id=uuid.uuid4(),
        request_id=REQUEST,
        status=status,
        reasons=list(reasons),
        channel="WHATSAPP",
        received_at=T0,
        due_at=T0 + dt.timedelta(days=14),
    )


def text_of(event: object) -> str | None:
    message = message_for(event)  # type: ignore[arg-type]
    return None if message is None else render(message.kind, NIK, message.context)


def test_the_rejection_names_the_reference_to_appeal_with() -> None:
    text = text_of(decided("REJECTED", reasons=("DESIL_ABOVE_5",)))
    assert text is not None and f"BANDING {request_reference(REQUEST)}" in text and NIK not in text


def test_an_upheld_appeal_is_told_once_by_its_approval() -> None:
    upheld = text_of(decided("APPROVED", appeal_id=uuid.uuid4()))
    assert upheld is not None and "Banding Anda DIKABULKAN" in upheld and "AKTIF" in upheld
    assert text_of(appeal(AppealStatus.UPHELD)) is None  # not a second message
    assert "DIKABULKAN" not in (text_of(decided("APPROVED")) or "")  # an ordinary approval stays as it was


@pytest.mark.parametrize(
    ("status", "reasons", "expected"),
    [
        (AppealStatus.OPEN, ("DESIL_ABOVE_5",), ["diterima", "3F2A9C1B", "08-12-2026"]),
        (AppealStatus.DISMISSED, ("DESIL_ABOVE_5",), ["tidak dikabulkan", "desil di atas 5"]),
        (AppealStatus.REFUSED, ("ALREADY_APPEALED",), ["tidak dapat diproses", "sudah pernah dibanding"]),
        (AppealStatus.REFUSED, ("UNKNOWN_REQUEST",), ["nomor referensi tidak dikenali"]),
    ],
)
def test_each_appeal_outcome_is_told_in_bahasa_indonesia(
    status: AppealStatus, reasons: tuple[str, ...], expected: list[str]
) -> None:
    text = text_of(appeal(status, reasons))
    assert text is not None and NIK not in text and "3674********0001" in text
    for part in expected:
        assert part in text
