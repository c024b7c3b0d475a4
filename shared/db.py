"""PostgreSQL plumbing: async engine (asyncpg), sessions, and Alembic migrations per service schema.

Each service owns one schema in the shared database (`eligibility`, `registry`, ...) with its
own Alembic history (version table inside that schema), so services never touch each
other's tables and migrate independently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.settings import Settings


def make_engine(settings: Settings, **kwargs: object) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
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
