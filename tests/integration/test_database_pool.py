"""The session's throwaway databases (testkit.infra.DatabasePool): a database given back and taken again is as
empty as a new one, and one whose privileges a test changed is never handed out again."""

from __future__ import annotations

import uuid

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from testkit.infra import DatabasePool, Infra

USER_SCHEMAS = "select count(*) from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema'"


async def scalar(url: str, sql: str) -> object:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            return await conn.scalar(text(sql))
    finally:
        await engine.dispose()


async def run(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_a_database_given_back_is_empty_when_taken_again_even_with_a_connection_left_open(infra: Infra) -> None:
    prefix = f"pbi_tpool_{uuid.uuid4().hex[:6]}_"  # its own: the other test may run on another xdist worker
    pool = DatabasePool(infra.database_url, prefix=prefix)
    try:
        url = await pool.take()
        fresh = await scalar(url, USER_SCHEMAS)
        await run(url, "create schema registry", "create table registry.people (nik text primary key)")
        await run(url, "insert into registry.people values ('3674015708900001')")
        left_open = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
        await left_open.execute("begin; select 1 from registry.people for update")  # a lock, never committed
        await pool.give_back(url)
        left_open.terminate()  # its backend was ended by give_back
        again = await pool.take()
        assert again == url  # the same database, reused
        assert await scalar(again, USER_SCHEMAS) == fresh
        assert await scalar(again, "select to_regclass('registry.people') is null")
    finally:
        await pool.close()
    assert not await scalar(
        infra.database_url, f"select exists (select from pg_database where datname like '{prefix}%')"
    )


async def test_a_database_whose_privileges_changed_is_dropped_not_reused(infra: Infra) -> None:
    pool = DatabasePool(infra.database_url, prefix=f"pbi_tpool_{uuid.uuid4().hex[:6]}_")
    try:
        url = await pool.take()
        name = make_url(url).database
        await run(url, f'revoke all on database "{name}" from public')
        await pool.give_back(url)
        assert not await scalar(infra.database_url, f"select exists (select from pg_database where datname = '{name}')")
        assert await pool.take() != url
    finally:
        await pool.close()
