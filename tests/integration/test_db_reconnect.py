"""A service's database pool (shared.db.make_engine) rides out what a primary failover does to it, on the real
PostgreSQL: every pooled connection killed by the server (pg_terminate_backend, as a restart or a CloudNativePG
switchover does) is replaced when next checked out, so the next unit of work succeeds; a unit of work that was using
the connection fails with an error the consumers retry (transient), never dead-letter; and every connection
insists on a writable primary (target_session_attrs=read-write), so a demoted primary is never written to.
The suite's shared PostgreSQL is never restarted: only this test's own database's connections are terminated."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from shared.db import make_engine, make_sessions, transaction
from shared.errors import is_transient
from shared.settings import Settings
from testkit.infra import Infra
from testkit.polling import eventually, eventually_none

pytestmark = pytest.mark.integration


async def terminate_others(admin_url: str, database: str, until_gone: bool = False) -> int:
    """pg_terminate_backend for every connection to `database` (the test's own), as a failover would;
    `until_gone`: also wait until those server processes have ended (pg_terminate_backend only signals them)."""
    admin = create_async_engine(admin_url)
    try:
        async with admin.connect() as conn:
            others = text(  # materialized: pg_terminate_backend never sees this connection's own pid
                "with o as materialized (select pid from pg_stat_activity where datname = :d"
                " and pid <> pg_backend_pid()) select pid from o where pg_terminate_backend(pid)"
            )
            pids = list((await conn.execute(others, {"d": database})).scalars())
            if until_gone:

                async def still_running() -> list[int]:
                    await conn.commit()  # pg_stat_activity is a snapshot per transaction
                    left = text("select pid from pg_stat_activity where pid = any(:pids)")
                    return list((await conn.execute(left, {"pids": pids})).scalars())

                await eventually_none(still_running, timeout=30, interval=0.01)
        return len(pids)
    finally:
        await admin.dispose()


async def backend_pids(
    sessions: async_sessionmaker[AsyncSession], n: int, drivers: list[Any] | None = None
) -> set[int]:
    """Check n connections out at once (the pool keeps them), each saying which server process it is; `drivers`
    collects their asyncpg connections."""

    async def one() -> int:
        async with transaction(sessions) as session:
            pid = await session.scalar(text("select pg_backend_pid()"))
            await session.execute(text("select pg_sleep(0.05)"))
            if drivers is not None:
                pooled = (await session.connection()).sync_connection
                assert pooled is not None
                drivers.append(pooled.connection.driver_connection)
            return int(pid)

    return set(await asyncio.gather(*(one() for _ in range(n))))


async def all_closed(drivers: list[Any]) -> bool:
    return all(d.is_closed() for d in drivers)


async def test_the_next_unit_of_work_succeeds_after_the_server_killed_every_pooled_connection(
    database_url: str, infra: Infra
) -> None:
    settings = Settings(pbi_env="local", database_url=database_url, db_pool_size=3)
    engine = make_engine(settings)
    sessions = make_sessions(engine)
    try:
        drivers: list[Any] = []
        before = await backend_pids(sessions, 3, drivers)
        assert len(before) == 3 and engine.pool.checkedin() == 3  # type: ignore[attr-defined]
        killed = await terminate_others(infra.database_url, engine.url.database or "", until_gone=True)
        assert killed >= 3
        # The server's FATAL and the end of the stream are read in separate turns of the loop: wait for the ends
        # (the next test covers a connection checked out between the two).
        await eventually(lambda: all_closed(drivers), timeout=30, interval=0.01)
        # Checked out with no round trip: asyncpg read the end of each stream (shared.db._refuse_closed).
        after = await backend_pids(sessions, 3)
        assert after and not after & before  # new server processes: the dead ones were replaced, not used
    finally:
        await engine.dispose()


async def test_a_unit_of_work_cut_off_mid_transaction_fails_as_transient_and_the_retry_succeeds(
    database_url: str, infra: Infra
) -> None:
    engine = make_engine(Settings(pbi_env="local", database_url=database_url))
    sessions = make_sessions(engine)
    try:
        with pytest.raises(DBAPIError) as cut:
            async with transaction(sessions) as session:
                await session.execute(text("select 1"))
                await terminate_others(infra.database_url, engine.url.database or "")
                await session.execute(text("select 2"))
        assert is_transient(cut.value)  # shared.kafka retries it forever instead of dead-lettering the batch
        async with transaction(sessions) as session:
            assert await session.scalar(text("select 3")) == 3
    finally:
        await engine.dispose()


def fatal(sqlstate: str, message: str) -> bytes:
    """A FATAL ErrorResponse as PostgreSQL's wire protocol frames it ('E', length, fields)."""
    fields = b"".join(
        kind + value.encode() + b"\0" for kind, value in ((b"S", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    return b"E" + struct.pack("!i", len(fields) + 5) + fields + b"\0"


async def test_a_connection_that_read_its_servers_goodbye_but_not_the_end_is_replaced_as_transient(
    database_url: str,
) -> None:
    """The server's FATAL (pg_terminate_backend) read while the connection sat in the pool, the end of the stream
    not yet: asyncpg's protocol waits for a sync point that never comes and is_closed() is still False, so the
    checkout hands it out. Its first statement fails; the connection is invalidated and the failure is transient
    (SQLAlchemy's asyncpg dialect finds it closed once the statement failed), so a consumer retries it on a new
    connection instead of dead-lettering valid data. CI20 met this state in the test above: the server processes
    gone, the next checkout came one turn of the event loop before asyncpg read the end of a stream."""
    engine = make_engine(Settings(pbi_env="local", database_url=database_url, db_pool_size=1))
    sessions = make_sessions(engine)
    try:
        async with transaction(sessions) as session:
            first = await session.scalar(text("select pg_backend_pid()"))
            pooled = (await session.connection()).sync_connection
            assert pooled is not None
            driver = pooled.connection.driver_connection
        # What the loop delivers first when the server is killed: its last words, the socket still open.
        driver._protocol.data_received(fatal("57P01", "terminating connection due to administrator command"))
        assert not driver.is_closed()
        with pytest.raises(DBAPIError, match="cannot switch to state") as wedged:
            async with transaction(sessions) as session:
                await session.execute(text("select 1"))
        assert wedged.value.connection_invalidated and is_transient(wedged.value)
        async with transaction(sessions) as session:
            assert await session.scalar(text("select pg_backend_pid()")) != first
    finally:
        await engine.dispose()


async def test_connections_insist_on_a_writable_primary(database_url: str) -> None:
    engine = make_engine(Settings(pbi_env="local", database_url=database_url))
    try:
        _, kwargs = engine.dialect.create_connect_args(engine.url)
        assert kwargs.get("target_session_attrs", "read-write") == "read-write"
        async with engine.connect() as conn:
            assert await conn.scalar(text("show transaction_read_only")) == "off"
    finally:
        await engine.dispose()
    # The setting really reaches asyncpg: asking for a standby, the local primary is refused.
    standby = make_engine(Settings(pbi_env="local", database_url=database_url + "?target_session_attrs=standby"))
    try:
        with pytest.raises(DBAPIError, match="target attribute"):
            async with standby.connect() as conn:
                await conn.scalar(text("select 1"))
    finally:
        await standby.dispose()
