"""Notifier rules: templates for every kind and reason, quiet hours by time zone, opt-out words."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.domain.messages import held_until, is_opt_out, send_after
from services.notifier.signatures import twilio_signature, valid, whatsapp_signature
from services.notifier.templates import KINDS, render
from shared.enums import DeactivationReason, DecisionReason

NIK = "3674015708900001"
GSM_TWO_SEGMENTS = 306


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reason", [r.value for r in DecisionReason] + [r.value for r in DeactivationReason])
def test_every_template_renders_short_masked_and_with_a_next_step(kind: str, reason: str) -> None:
    text = render(
        kind,
        NIK,
        {
            "reasons": [reason],
            "reason": reason,
            "deactivated_on": "2026-08-31",
            "days_left": 30,
            "window_closes_at": dt.datetime(2027, 2, 28, 23, 59, 59),
        },
    )
    assert NIK not in text and "3674********0001" in text
    assert len(text) <= GSM_TWO_SEGMENTS
    assert "{" not in text and "None" not in text


def test_rejection_names_the_reason_and_what_to_do() -> None:
    text = render("rejected", NIK, {"reasons": ["WINDOW_EXPIRED"]})
    assert "lewat 6 bulan" in text and "peserta baru" in text


@pytest.mark.parametrize(
    ("nik", "utc_time", "held_until_utc"),
    [
        (
            NIK,
            dt.datetime(2026, 11, 24, 15, 0, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 25, 0, 0, tzinfo=dt.UTC),
        ),  # 22:00 WIB
        (
            NIK,
            dt.datetime(2026, 11, 24, 23, 30, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 25, 0, 0, tzinfo=dt.UTC),
        ),  # 06:30 WIB
        (NIK, dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC), None),  # 10:00 WIB: at once
        (
            "9171015708900001",  # Kota Jayapura
            dt.datetime(2026, 11, 24, 12, 30, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 24, 22, 0, tzinfo=dt.UTC),
        ),  # 21:30 WIT -> 07:00 WIT next day
        ("5171015708900001", dt.datetime(2026, 11, 24, 12, 30, tzinfo=dt.UTC), None),  # 20:30 WITA: at once
    ],
)
def test_quiet_hours_hold_non_urgent_messages_in_local_time(
    nik: str, utc_time: dt.datetime, held_until_utc: dt.datetime | None
) -> None:
    assert send_after(nik, False, utc_time) == (held_until_utc or utc_time)


# One NIK per zone: Banten (WIB, UTC+7), Bali (WITA, UTC+8), Papua / Kota Jayapura (WIT, UTC+9).
ZONES = {"WIB": ("3674015708900001", 7), "WITA": ("5171015708900001", 8), "WIT": ("9171015708900001", 9)}


def _local(zone: str, hour: int, minute: int) -> dt.datetime:
    """2026-11-24 at hour:minute local time in `zone`, as UTC (what the injected clock returns)."""
    offset = dt.timezone(dt.timedelta(hours=ZONES[zone][1]))
    return dt.datetime(2026, 11, 24, hour, minute, tzinfo=offset).astimezone(dt.UTC)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize(
    ("local", "held_until_local"),
    [
        ((20, 59), None),  # the last minute of the day: sent
        ((21, 0), (1, 7, 0)),  # quiet hours begin: held to 07:00 the next day
        ((23, 59), (1, 7, 0)),
        ((0, 0), (0, 7, 0)),
        ((6, 59), (0, 7, 0)),  # still quiet: held to 07:00 the same day
        ((7, 0), None),  # quiet hours over: sent
    ],
)
def test_quiet_hours_decision_at_the_boundaries_in_each_zone(
    zone: str, local: tuple[int, int], held_until_local: tuple[int, int, int] | None
) -> None:
    nik = ZONES[zone][0]
    now = _local(zone, *local)
    expected = None
    if held_until_local is not None:
        days, hour, minute = held_until_local
        expected = _local(zone, hour, minute) + dt.timedelta(days=days)
    assert held_until(nik, False, now) == expected
    assert send_after(nik, False, now) == (expected or now)
    assert held_until(nik, True, now) is None  # emergency-related messages go at any hour


@given(
    now=st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)),
    zone=st.sampled_from(sorted(ZONES)),
)
def test_a_non_urgent_message_never_goes_out_in_quiet_hours_and_waits_at_most_ten_hours(
    now: dt.datetime, zone: str
) -> None:
    nik, offset = ZONES[zone]
    release = send_after(nik, False, now)
    local = release.astimezone(dt.timezone(dt.timedelta(hours=offset))).time()
    assert dt.time(7, 0) <= local < dt.time(21, 0)
    assert dt.timedelta(0) <= release - now <= dt.timedelta(hours=10)
    assert (held_until(nik, False, now) is None) == (release == now)


def test_emergency_messages_ignore_quiet_hours() -> None:
    night = dt.datetime(2026, 11, 24, 16, 0, tzinfo=dt.UTC)  # 23:00 WIB
    assert send_after(NIK, True, night) == night


@pytest.mark.parametrize(
    ("text", "opt_out"),
    [("BERHENTI", True), (" stop ", True), ("Berhenti", True), ("berhenti dulu", False), ("ok", False)],
)
def test_opt_out_words(text: str, opt_out: bool) -> None:
    assert is_opt_out(text) is opt_out


def test_signatures_match_and_reject_tampering() -> None:
    sig = whatsapp_signature("secret", b'{"a":1}')
    assert valid(sig, whatsapp_signature("secret", b'{"a":1}')) and not valid(sig, whatsapp_signature("secret", b"{}"))
    t = twilio_signature("tok", "https://x/webhooks/twilio", {"b": "2", "a": "1"})
    assert t == twilio_signature("tok", "https://x/webhooks/twilio", {"a": "1", "b": "2"})
    assert not valid(t, None)
