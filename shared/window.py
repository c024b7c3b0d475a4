"""The reactivation window (DOMAIN.md): it closes at 23:59:59 local time (WIB/WITA/WIT from the NIK's
province) on the day N calendar months after deactivation, clamped to the month's last day.
Eligibility decides with it; the registry shows it to operators."""

from __future__ import annotations

import calendar
import datetime as dt

from shared.timezones import zone_for_nik


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def reactivation_window_closes_at(deactivated_on: dt.date, nik: str, months: int = 6) -> dt.datetime:
    return dt.datetime.combine(add_months(deactivated_on, months), dt.time(23, 59, 59), tzinfo=zone_for_nik(nik))
