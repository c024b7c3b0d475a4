"""The dashboard's 'decisions today' counts from 00:00 WIB (17:00 UTC the day before), with the clock injected."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert

from services.registry import queries
from services.registry.store import MIGRATIONS, RQ, SCHEMA
from testkit.engines import migrated_engine


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def request(decided_at: dt.datetime, status: str = "APPROVED") -> dict:
    return {
        "request_id": uuid.uuid4(),
        "nik": "3674015708900001",
        "path": "REGULAR",
        "channel": "VILLAGE",
        "province": "36",
        "regency": "3674",
        "district": "367401",
        "status": status,
        "reasons": [],
        "received_at": decided_at - dt.timedelta(minutes=5),
        "decided_at": decided_at,
    }


async def test_decisions_today_count_from_midnight_wib(database_url: str) -> None:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        async with engine.begin() as conn:
            await conn.execute(
                insert(RQ),
                [
                    request(utc(2026, 11, 30, 16, 59, 59)),  # 23:59:59 WIB on the 30th: yesterday
                    request(utc(2026, 11, 30, 17, 0, 0)),  # 00:00 WIB on 1 December
                    request(utc(2026, 11, 30, 18, 0, 0), status="REJECTED"),  # 01:00 WIB
                    request(utc(2026, 11, 30, 18, 0, 0), status="PENDING"),  # not a decision
                ],
            )
        # 23:59 UTC is 06:59 WIB on 1 December: the UTC day began 7 hours before the WIB one.
        after_midnight = await queries.dashboard_snapshot(engine, now=utc(2026, 11, 30, 23, 59))
        # 00:30 UTC is 07:30 WIB: UTC's midnight has passed, the WIB day has not changed.
        after_utc_midnight = await queries.dashboard_snapshot(engine, now=utc(2026, 12, 1, 0, 30))
    assert after_midnight["headline"]["decisions_today"] == 2
    assert after_utc_midnight["headline"]["decisions_today"] == 2
