"""shared.db.autocommit, on the real PostgreSQL: each statement commits on its own, with no BEGIN or COMMIT sent
(the outbox relay's read and delete: two round trips a statement fewer), and the pooled connection goes back to
transactions for whoever checks it out next."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import autocommit, make_engine, make_sessions, transaction
from shared.settings import Settings


async def simple_statements(conn: AsyncConnection) -> list[str]:
    """What the connection sends by the simple protocol from now on (BEGIN, COMMIT; asyncpg's query logger)."""
    raw: Any = (await conn.get_raw_connection()).driver_connection
    sent: list[str] = []
    raw.add_query_logger(lambda record: sent.append(record.query.split()[0].strip(";").upper()))
    return sent


async def test_each_statement_commits_on_its_own_with_no_begin_or_commit(database_url: str) -> None:
    engine = make_engine(Settings(pbi_env="local", database_url=database_url, db_pool_size=1))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table relayed (id int primary key)"))
        async with autocommit(engine) as conn:
            sent = await simple_statements(conn)
            await conn.execute(text("insert into relayed values (1), (2)"))
            async with engine.connect() as other:  # committed already: another connection sees it
                assert await other.scalar(text("select count(*) from relayed")) == 2
            await conn.commit()  # the relay's commits send nothing here
            await conn.execute(text("delete from relayed where id = 1"))
            await conn.commit()
            assert sent == []
        async with transaction(make_sessions(engine)) as session:  # the same pooled connection, transactions again
            sent = await simple_statements(await session.connection())
            assert await session.scalar(text("select count(*) from relayed")) == 1
            assert await session.scalar(text("select current_setting('transaction_isolation')")) == "read committed"
        assert sent[0] == "BEGIN" and sent[-1] == "COMMIT"
    finally:
        await engine.dispose()
