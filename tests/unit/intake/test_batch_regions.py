"""A government system's batch with NIKs from every region is accepted whole (Kemendagri's codes)."""

from __future__ import annotations

import pytest

from services.intake.events_body import MAX_BATCH, InvalidBody, parse_events
from shared.events import ParticipantDeactivated


def tangsel(i: int) -> str:
    """The i-th distinct valid NIK of Kota Tangerang Selatan (born 17.08.1990: serials 0001-9999, then 17.08.1991)."""
    return f"36740157089{i // 9999}{i % 9999 + 1:04d}"


def deactivation(nik: str) -> dict:
    return {
        "type": "participant.deactivated",
        "occurred_at": "2026-11-01T08:00:00+07:00",
        "source": "SIKS-NG",
        "nik": nik,
        "deactivated_on": "2026-11-01",
        "reason": "DESIL_ABOVE_5",
    }


@pytest.mark.parametrize(
    "papua",
    [
        "9111015708900001",  # Kabupaten Keerom
        "9208015708900001",  # Kabupaten Kaimana
        "9271015708900001",  # Kota Sorong, issued before Papua Barat Daya (2022)
        "9101015708900001",  # Kabupaten Merauke, issued before Papua Selatan (2022)
    ],
)
def test_one_papua_nik_no_longer_refuses_a_batch_of_ten_thousand(papua: str) -> None:
    wave = [deactivation(tangsel(i)) for i in range(MAX_BATCH)]
    wave[5000] = deactivation(papua)
    events = parse_events({"events": wave})
    assert len(events) == MAX_BATCH == 10_000
    assert isinstance(events[5000], ParticipantDeactivated) and events[5000].nik == papua


def test_an_unknown_regency_is_still_named_by_index_and_field() -> None:
    wave = [deactivation(tangsel(i)) for i in range(3)]
    wave[1] = deactivation("9471015708900001")  # a BPS-like code no NIK carries
    with pytest.raises(InvalidBody) as exc:
        parse_events({"events": wave})
    [error] = exc.value.errors()
    assert error["loc"] == ("body", "events", 1, "participant.deactivated", "nik")
    assert "unknown regency code 9471 in province 94 (Papua Tengah)" in error["msg"]
