"""The registry's hot tables (written per deactivation and per decision) keep only the indexes a query
reads: each index is one more entry per row inserted or updated (migrations 0009, 0010). The SLA board
reads its partial index of emergencies even in a prepared statement's generic plan."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from services.registry import queries
from services.registry.store import MIGRATIONS, SCHEMA
from testkit.engines import migrated_engine

# What reads each one: the primary keys (the locks, upserts, items by id; history's (nik, id): a person's
# history in order); the window sweep; the history's de-duplication and its expiries at window close; the
# board and the dashboard's decisions over time; the worklist's open items by kind (API, summary), by
# region (bound keys), by person (facts closing them).
EXPECTED = {
    "participants": {"participants_pkey", "ix_registry_participants_window_open"},
    "history": {"history_pkey", "history_event_id_nik_key", "ix_registry_history_window_closed"},
    "requests": {"requests_pkey", "ix_registry_requests_emergency", "ix_registry_requests_decided"},
    "worklist_items": {
        "worklist_items_pkey",
        "ix_registry_worklist_open",
        "ix_registry_worklist_region",
        "ix_registry_worklist_open_nik",
    },
}


async def test_hot_tables_keep_only_the_indexes_queries_read(database_url: str) -> None:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("select tablename, indexname from pg_indexes where schemaname = :s"), {"s": SCHEMA}
            )
            found: dict[str, set[str]] = {}
            for table, index in rows.all():
                found.setdefault(table, set()).add(index)
    assert {t: found.get(t, set()) for t in EXPECTED} == EXPECTED


async def test_the_sla_board_reads_the_emergency_index_in_a_generic_plan(database_url: str) -> None:
    async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
        async with engine.connect() as conn:
            query = queries.sla_board_query(dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
            compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
            values = ", ".join(_literal(compiled.params[name]) for name in compiled.positiontup or ())
            await conn.exec_driver_sql("set plan_cache_mode = force_generic_plan")
            await conn.exec_driver_sql("set enable_seqscan = off")  # an empty table: only a usable index wins
            await conn.exec_driver_sql(f"prepare board as {compiled}")
            plan = "\n".join(r[0] for r in await conn.exec_driver_sql(f"explain execute board({values})"))
    assert "ix_registry_requests_emergency" in plan, plan


def _literal(value: object) -> str:
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'::timestamptz"
    return str(value) if isinstance(value, int) else f"'{value}'"
