"""PostgreSQL plumbing: async engine (asyncpg), sessions, and Alembic migrations per service schema.

Each service owns one schema in the shared database (`eligibility`, `registry`, ...) with its
own Alembic history (version table inside that schema), so services never touch each
other's tables and migrate independently.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, ColumnElement, Connection, Table, TextClause, any_, literal, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as SQLAlchemySession
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.settings import Settings


def make_engine(settings: Settings, **kwargs: object) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        # Bound values (NIKs, phones) stay out of error texts and tracebacks: "[SQL parameters hidden]".
        hide_parameters=True,
        **kwargs,  # type: ignore[arg-type]
    )


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("select 1"))


def alembic_config(migrations_dir: Path, schema: str, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.attributes["schema"] = schema
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine, migrations_dir: Path, schema: str) -> None:
    """Bring `schema` to the newest revision. Safe when several replicas start at once."""

    def upgrade(conn: Connection) -> None:
        command.upgrade(alembic_config(migrations_dir, schema, conn), "head")

    async with engine.begin() as conn:
        # One migrator at a time per schema; the others wait, then find nothing to do.
        await conn.execute(text("select pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
        await conn.execute(text(f'create schema if not exists "{schema}"'))
        await conn.run_sync(upgrade)


# --- bulk writes -------------------------------------------------------------------------------
# One INSERT ... SELECT FROM unnest(<one array per column>) per table and batch: a single statement,
# a single round trip and no per-row SQL rendering for thousands of rows (executemany costs a server
# execution per row; SQLAlchemy's insertmanyvalues renders every row's placeholders in Python).
_SEP = "\x1f"  # unit separator: joins a text[] cell into one string (unnest would flatten 2-D arrays)


@lru_cache(maxsize=64)
def _unnest_insert(table: Table, columns: tuple[str, ...], on_conflict: str) -> TextClause:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    args, selects = [], []
    for i, name in enumerate(columns):
        col_type = table.c[name].type
        if isinstance(col_type, ARRAY):
            args.append(f"cast(:p{i} as text[])")
            selects.append(f"string_to_array(u.c{i}, chr(31))")
        elif isinstance(col_type, JSON):  # JSONB too
            args.append(f"cast(:p{i} as text[])")
            selects.append(f"cast(u.c{i} as {col_type.compile(dialect=dialect)})")
        else:
            args.append(f"cast(:p{i} as {col_type.compile(dialect=dialect)}[])")
            selects.append(f"u.c{i}")
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    return text(
        f"insert into {table.schema}.{table.name} ({', '.join(columns)}) "
        f"select {', '.join(selects)} from unnest({', '.join(args)}) as u({aliases}) {on_conflict}"
    )


def any_of(column: ColumnElement[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY(:values)`: the values travel as one array parameter. SQLAlchemy's `in_()` turns
    them into one bound parameter each and processes them again on every execution; with the
    hundreds of NIKs of a batch that was 15% of eligibility's bulk CPU (py-spy)."""
    return column == any_(literal(list(values), ARRAY(column.type)))


def upsert_clause(key: str, columns: Sequence[str]) -> str:
    """ON CONFLICT (key) DO UPDATE SET every other column to the new row's value."""
    return f"on conflict ({key}) do update set " + ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)


def _json_cell(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else json.dumps(value)


async def bulk_insert(
    session: SQLAlchemySession | AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], on_conflict: str = ""
) -> None:
    """Insert rows (all with the same keys) in one statement. A JSON cell may be given already
    serialized, as bytes (e.g. pydantic's model_dump_json); anything else is serialized here."""
    if not rows:
        return
    columns = tuple(rows[0])
    params: dict[str, list[Any]] = {}
    for i, name in enumerate(columns):
        values = [row[name] for row in rows]
        col_type = table.c[name].type
        if isinstance(col_type, ARRAY):
            values = [_SEP.join(v) for v in values]
        elif isinstance(col_type, JSON):
            values = [_json_cell(v) for v in values]
        params[f"p{i}"] = values
    await session.execute(_unnest_insert(table, columns, on_conflict), params)
