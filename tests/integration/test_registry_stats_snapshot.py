"""The registry's stats (and so the dashboard's headline and `make demo`'s summary) are counted from one
committed state: a batch that commits while the counting statements run is in all of them or in none.

Seen in CI before: the demo's summary counted two approvals among the decisions while their people were still
INACTIVE among the statuses (the statuses were counted first, the batch committed, then the decisions)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert

from services.registry import queries
from services.registry.store import MIGRATIONS, SCHEMA, P
from testkit.engines import migrated_engine


def person(nik: str, status: str = "INACTIVE") -> dict[str, Any]:
    region = {"province": "36", "regency": "3674", "district": "367401"}
    return {"nik": nik, "status": status, "deactivated_on": dt.date(2026, 11, 2), **region}


@pytest.mark.parametrize("read", ["stats", "dashboard"])
async def test_a_batch_committed_between_the_counts_is_in_all_of_them_or_none(
    database_url: str, monkeypatch: pytest.MonkeyPatch, read: str
) -> None:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        async with engine.begin() as conn:
            await conn.execute(insert(P), [person("3674015708900001"), person("3674015708900002", "ACTIVE")])

        # Another transaction commits a new person right after the first count (by status) has run.
        counted = queries._grouped
        calls = 0

        async def count_then_commit_a_batch(conn, *columns):  # type: ignore[no-untyped-def]
            nonlocal calls
            rows = await counted(conn, *columns)
            calls += 1
            if calls == 1:
                async with engine.begin() as other:
                    await other.execute(insert(P), [person("3674015708900003")])
            return rows

        monkeypatch.setattr(queries, "_grouped", count_then_commit_a_batch)
        if read == "stats":
            s = await queries.stats(engine)
            inactive, by_region = s["by_status"]["INACTIVE"], sum(r["count"] for r in s["by_region"])
        else:
            d = await queries.dashboard_snapshot(engine)
            inactive, by_region = d["headline"]["inactive"], sum(r["deactivated"] for r in d["regions"])
        assert calls >= 2, "the batch was not committed between two counts"
        # Counted before the batch: the later counts (the regions) do not see it either.
        assert (inactive, by_region) == (1, 2)
        # Committed all the same: the next read counts it.
        assert (await queries.stats(engine))["by_status"]["INACTIVE"] == 2
