"""The reactivation window under a policy: the date arithmetic and time zones live in shared.window
(the registry shows the same deadline); the number of months is the policy's."""

from __future__ import annotations

import datetime as dt

from services.eligibility.domain.policy import Policy
from shared import window


def reactivation_window_closes_at(deactivated_on: dt.date, nik: str, policy: Policy) -> dt.datetime:
    """23:59:59 local time (WIB/WITA/WIT of the NIK's province), `policy.window_months` calendar
    months after deactivation, clamped to the month's last day (31 Aug + 6 = 28/29 Feb)."""
    return window.reactivation_window_closes_at(deactivated_on, nik, policy.window_months)
