"""Where "today" starts: local midnight, not UTC midnight (which is already 07:00 WIB)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from shared.timezones import WIB


def start_of_local_day(now: dt.datetime, zone: ZoneInfo = WIB) -> dt.datetime:
    """The instant the day containing `now` began in `zone` (WIB for the national view), as UTC."""
    local = now.astimezone(zone)
    midnight = dt.datetime.combine(local.date(), dt.time(), tzinfo=zone)
    return midnight.astimezone(dt.UTC)
