"""Rows written, as PostgreSQL counts them (pg_stat_user_tables: n_tup_ins, n_tup_upd, n_tup_del per table),
for the benchmarks that measure a service's writes per event (bench.eligibility_rows, bench.notifier_rows):
`table_counts` before and after a phase (whose engines are disposed first, so their backends flush their
statistics), `writes` the difference."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from shared.db import make_engine
from shared.settings import Settings

Counts = tuple[int, int, int]  # inserted, updated, deleted
STATS = text(
    "select relname, n_tup_ins, n_tup_upd, n_tup_del from pg_stat_user_tables "
    "where schemaname = :s and relname <> 'alembic_version' order by relname"
)


async def table_counts(url: str, schema: str) -> dict[str, Counts]:
    """Per table of `schema` (inserted, updated, deleted) once every backend has flushed its statistics."""
    engine = make_engine(Settings(database_url=url))
    last: dict[str, Counts] | None = None
    try:
        for _ in range(100):
            async with engine.connect() as conn:
                now = {name: (i, u, d) for name, i, u, d in (await conn.execute(STATS, {"s": schema})).all()}
            if now == last:
                return now
            last = now
            await asyncio.sleep(0.6)  # statistics are flushed at most once a second per backend
        raise RuntimeError("statistics never settled")
    finally:
        await engine.dispose()


def writes(before: dict[str, Counts], after: dict[str, Counts]) -> dict[str, Counts]:
    """The tables written between two counts, with what was written to each."""
    diff = {t: tuple(a - b for a, b in zip(after[t], before.get(t, (0, 0, 0)), strict=True)) for t in after}
    return {t: (d[0], d[1], d[2]) for t, d in diff.items() if any(d)}
