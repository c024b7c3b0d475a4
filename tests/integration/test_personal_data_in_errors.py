"""Database errors never carry the bound values (NIKs, phones) of the statement that failed."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.db import make_engine
from shared.settings import Settings

NIK = "3674015708900001"


async def test_a_failing_statement_does_not_show_its_parameters(settings: Settings) -> None:
    engine = make_engine(settings)
    try:
        with pytest.raises(DBAPIError) as failed:
            async with engine.connect() as conn:
                await conn.execute(text("select 1 / 0 where :nik <> ''"), {"nik": NIK})
    finally:
        await engine.dispose()
    assert "division by zero" in str(failed.value)
    assert NIK not in str(failed.value) and "parameters hidden" in str(failed.value)
