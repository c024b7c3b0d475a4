"""Eligibility in integration tests: its settings from a test's, waiting until a person's facts are stored,
and whether its outbox has published everything."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, func, select

from services.eligibility.store import FactsRow, outbox
from shared.db import make_engine
from shared.settings import EligibilitySettings, Settings
from testkit.events import NIK
from testkit.polling import eventually


def eligibility_settings(settings: Settings) -> EligibilitySettings:
    return EligibilitySettings(**settings.model_dump())


async def facts_applied(settings: Settings, nik: str = NIK, **expected: object) -> None:
    """Facts and requests travel on different topics: wait until the person's facts are in (with the
    `expected` column values) before asking."""
    engine = make_engine(settings)
    table = FactsRow.__table__  # type: ignore[attr-defined]

    async def check() -> bool:
        async with engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.nik == nik))).mappings().first()
        return row is not None and all(row[k] == v for k, v in expected.items())

    try:
        await eventually(check, timeout=60)  # the first facts after a start wait for the group join too
    finally:
        await engine.dispose()


async def outbox_empty(settings: Settings) -> bool:
    """Whether eligibility's outbox holds nothing left to publish (the relay deletes what it published)."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == 0
    finally:
        await engine.dispose()


async def count_rows(settings: Settings, table: Table, *where: ColumnElement[bool]) -> int:
    """Rows of one of eligibility's tables (matching `where`), on a connection of its own."""
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar() or 0
    finally:
        await engine.dispose()
