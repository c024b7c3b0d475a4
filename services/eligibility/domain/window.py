"""The reactivation window under a policy: the date arithmetic and time zones live in shared.window
(the registry shows the same deadline); the number of months is the policy's."""

from __future__ import annotations

import datetime as dt

from services.eligibility.domain.policy import Policy
from shared import window


def reactivation_window_closes_at(deactivated_on: dt.date, nik: str, policy: Policy) -> dt.datetime:
    """23:59:59 local time (WIB/WITA/WIT of the NIK's province), `policy.window_months` calendar
    months after deactivation, clamped to the month's last day (31 Aug + 6 = 28/29 Feb)."""
    # Remembered by date and province (the zone is the province's, shared.timezones): a wave's people
    # share a handful of dates, and every new deactivation folded asks for its window (its first reminder).
    key = (deactivated_on, nik[:2], policy.window_months)
    closes = _WINDOWS.get(key)
    if closes is None:
        if len(_WINDOWS) >= _REMEMBERED:
            _WINDOWS.clear()
        closes = _WINDOWS[key] = window.reactivation_window_closes_at(deactivated_on, nik, policy.window_months)
    return closes


_REMEMBERED = 10_000
_WINDOWS: dict[tuple[dt.date, str, int], dt.datetime] = {}
