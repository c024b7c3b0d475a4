"""'Decisions today' starts at local midnight: 00:00 WIB is 17:00 UTC of the day before."""

from __future__ import annotations

import datetime as dt

import pytest

from services.registry.domain.today import start_of_local_day
from shared.timezones import WIT, WITA


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("now", "zone", "start"),
    [
        (utc(2026, 11, 30, 16, 59, 59), None, utc(2026, 11, 29, 17)),  # 23:59:59 WIB on the 30th
        (utc(2026, 11, 30, 17), None, utc(2026, 11, 30, 17)),  # 00:00 WIB on 1 December: a new day
        (utc(2026, 12, 1, 0, 30), None, utc(2026, 11, 30, 17)),  # 07:30 WIB: UTC's midnight is no boundary
        (utc(2026, 11, 30, 16), WITA, utc(2026, 11, 30, 16)),  # 00:00 WITA
        (utc(2026, 11, 30, 14, 59), WIT, utc(2026, 11, 29, 15)),  # 23:59 WIT
        (dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=7))), None, utc(2026, 11, 30, 17)),
    ],
)
def test_the_day_starts_at_local_midnight(now: dt.datetime, zone, start: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    got = start_of_local_day(now) if zone is None else start_of_local_day(now, zone)
    assert got == start
    assert got.tzinfo == dt.UTC
