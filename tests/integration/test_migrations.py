"""Migrations are history: every schema upgrades an empty database one revision at a time to a result
equal to today's models (no drift), and downgrades back to nothing. A new model change needs its own
revision; a revision that creates what 0001 already has, or misses what the models say, fails here."""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection

from pbi_cli.db import SCHEMAS, Migrated, current_revision, revisions, upgrade_to
from shared.db import alembic_config, make_engine
from shared.settings import Settings
from testkit.system import PBI

# What the comparison leaves out, each with its reason (documented in docs/operations.md, Migrations).
IGNORED_TABLES = {"alembic_version"}  # Alembic's own bookkeeping, one per schema


def drift(conn: Connection, m: Migrated, metadata: MetaData) -> list[Any]:
    def wanted(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "table" and name in IGNORED_TABLES)

    ctx = MigrationContext.configure(
        conn,
        opts={
            "include_schemas": True,
            "include_name": lambda name, type_, parent: type_ != "schema" or name == m.schema,
            "include_object": wanted,
            "compare_type": True,
            "compare_server_default": True,
        },
    )
    return compare_metadata(ctx, metadata)


def explain(m: Migrated, diffs: list[Any]) -> str:
    lines = "\n".join(f"  {d!r}" for d in diffs)
    return (
        f"schema {m.schema!r}: after upgrading an empty database through {revisions(m)} the database differs "
        f"from the models in {m.module} ({len(diffs)} differences: what the models have and no revision "
        f"creates is `add_*`, what a revision creates and the models lack is `remove_*`):\n{lines}\n"
        f"Add a revision in {m.migrations}/versions (explicit op.add_column/op.create_index...; no IF NOT "
        "EXISTS: 0001 is frozen) chained onto the newest head."
    )


@pytest.mark.parametrize("m", SCHEMAS, ids=lambda m: m.schema)
async def test_empty_database_upgrades_revision_by_revision_to_the_models(settings: Settings, m: Migrated) -> None:
    chain = revisions(m)  # fails on a second head, naming both
    engine = make_engine(settings)
    try:
        for rev in chain:
            async with engine.begin() as conn:
                await conn.run_sync(upgrade_to, m, rev)
                assert await conn.run_sync(current_revision, m.schema) == rev
        async with engine.connect() as conn:
            diffs = await conn.run_sync(drift, m, m.metadata())
        assert not diffs, explain(m, diffs)

        # And back: every downgrade runs, leaving only Alembic's own table.
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(m.migrations, m.schema, c), "base"))
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names(schema=m.schema)))
        assert left <= IGNORED_TABLES, f"{m.schema}: downgrade to base left {sorted(left - IGNORED_TABLES)}"
    finally:
        await engine.dispose()


def test_every_schema_has_one_line_of_history() -> None:
    for m in SCHEMAS:
        chain = revisions(m)
        assert chain[0] == "0001" or chain[0].startswith("0001"), f"{m.schema}: history starts at {chain[0]}"


async def test_pbi_db_upgrades_and_tells_where_each_schema_stands(settings: Settings) -> None:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PBI_ENV": "local", "COLUMNS": "200"}

    def pbi(*args: str) -> str:
        done = subprocess.run([PBI, "db", *args], env=env, capture_output=True, text=True, check=True)
        return done.stdout + done.stderr

    before = await asyncio.to_thread(pbi, "current")
    await asyncio.to_thread(pbi, "upgrade", "--schema", "registry", "--revision", "0001")
    await asyncio.to_thread(pbi, "upgrade")
    after = await asyncio.to_thread(pbi, "current")
    history = await asyncio.to_thread(pbi, "history", "--schema", "notifier")
    for m in SCHEMAS:
        assert m.schema in before and m.schema in after
    assert before.count("(empty)") == len(SCHEMAS)
    assert "(empty)" not in after and "no:" not in after, after
    assert "0001: Initial notifier schema" in history
