"""PostgreSQL plumbing: async engine (asyncpg), sessions, and Alembic migrations per service schema.

Each service owns one schema in the shared database (`eligibility`, `registry`, ...) with its
own Alembic history (version table inside that schema), so services never touch each
other's tables and migrate independently.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, ColumnElement, Connection, Table, TextClause, any_, event, literal, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from shared import tracing
from shared.settings import Settings


def connect_options(database_url: str) -> tuple[str, dict[str, Any]]:
    """libpq's `sslmode` / `sslrootcert` in DATABASE_URL, made into what asyncpg understands: with
    `verify-full` (the cluster's setting) the server's certificate is checked against that CA and its name
    against the host, so a neighbour cannot stand in for the database. Without them: the URL as it is."""
    url = make_url(database_url)
    query = dict(url.query)
    libpq_mode, asyncpg_mode, rootcert = (query.pop(k, None) for k in ("sslmode", "ssl", "sslrootcert"))
    mode = libpq_mode or asyncpg_mode
    if mode is None:
        return database_url, {}
    if not isinstance(mode, str) or not isinstance(rootcert, str | None):
        raise ValueError("DATABASE_URL: give sslmode and sslrootcert once each")
    plain = url.set(query=query).render_as_string(hide_password=False)
    if mode in ("verify-ca", "verify-full"):
        context = ssl.create_default_context(cafile=rootcert)  # CERT_REQUIRED
        context.check_hostname = mode == "verify-full"
        return plain, {"ssl": context}
    return plain, {"ssl": mode}


def make_engine(settings: Settings, **kwargs: object) -> AsyncEngine:
    """The service's pool, made to ride out a database failover (CloudNativePG in the cluster, deploy/k8s/README.md):
    - every connection insists on a writable primary (`target_session_attrs=read-write`, asyncpg checks it at
      connect time): during a switchover a connection that lands on the demoted primary is refused and
      retried, never used to write. A `target_session_attrs` in DATABASE_URL wins;
    - a pooled connection the server closed (the old primary going down, an administrator's
      pg_terminate_backend) is replaced when it is next checked out, instead of failing the next unit of work
      (`_refuse_closed`). asyncpg knows such a connection is closed once it read the end of the stream, so the
      check costs no round trip; SQLAlchemy's `pool_pre_ping` sent three (BEGIN, `;`, ROLLBACK) before every
      unit of work, 0.5-0.7 ms of the client's CPU and 0.07 ms of PostgreSQL's each (session 16). A connection
      cut while in use fails its unit of work as transient, and the consumers retry it."""
    url, connect_args = connect_options(settings.database_url)
    if "target_session_attrs" not in make_url(url).query:
        connect_args["target_session_attrs"] = "read-write"
    kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}  # type: ignore[dict-item]
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_recycle=1800,
        # Bound values (NIKs, phones) stay out of error texts and tracebacks: "[SQL parameters hidden]".
        hide_parameters=True,
        **kwargs,  # type: ignore[arg-type]
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    tracing.trace_engine(engine)  # only when tracing is on
    return engine


def _refuse_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A checked-out connection the server has closed is refused: the pool discards it and hands out another
    (SQLAlchemy tries three times, "Disconnect Handling - Pessimistic")."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # SQLAlchemy's session: the code runs Core statements through `execute`, which SQLModel's session
    # deprecates in favour of its `exec` (models are read with `scalars`).
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection on which every statement commits on its own, with no BEGIN and COMMIT around it: for work whose
    statements need no transaction together (the outbox relay's read, then its delete once Kafka acknowledged).
    Those two round trips were a third of the statements PostgreSQL got per emergency (issue 20). `commit()` on
    it sends nothing."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


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
        owner = await conn.scalar(text(SCHEMA_OWNER), {"s": schema})
        if owner is None:  # creating a schema needs CREATE on the database, which a service's role lacks
            await conn.execute(text(f'create schema if not exists "{schema}"'))
        elif owner["member"] and not owner["is_current"]:
            # Connected as a member of the schema's owner role (shared.db_roles): migrate as that owner,
            # so every table of the schema keeps one owner whichever service's pod migrated it.
            await conn.execute(text(f'set local role "{owner["name"]}"'))
        await conn.run_sync(upgrade)


# The schema's owner, and whether the current user is it or may act as it (a member of the role).
SCHEMA_OWNER = """
select json_build_object('name', r.rolname, 'is_current', r.rolname = current_user,
                         'member', pg_has_role(current_user, r.oid, 'MEMBER'))
from pg_namespace n join pg_roles r on r.oid = n.nspowner where n.nspname = :s
"""


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


def lock_in_order(table: str, key: str) -> TextClause:
    """`select 1 ... for update` of the rows whose uuid `key` is in `:ids`, in key order. A bulk update (`update ...
    from unnest`) or upsert locks its rows in whatever order the plan meets them; two transactions of crossing
    batches then deadlock. Locking them first in one order, the same in every writer, cannot."""
    return text(f"select 1 from {table} where {key} = any(cast(:ids as uuid[])) order by {key} for update")


def upsert_clause(key: str, columns: Sequence[str]) -> str:
    """ON CONFLICT (key) DO UPDATE SET every other column to the new row's value."""
    return f"on conflict ({key}) do update set " + ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)


def _json_cell(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else json.dumps(value)


async def bulk_insert(
    session: AsyncSession | AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], on_conflict: str = ""
) -> Any:
    """Insert rows (all with the same keys) in one statement. A JSON cell may be given already
    serialized, as bytes (e.g. pydantic's model_dump_json); anything else is serialized here.
    Returns the statement's result (rows when `on_conflict` ends with a RETURNING clause), None for no rows."""
    if not rows:
        return None
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
    return await session.execute(_unnest_insert(table, columns, on_conflict), params)
