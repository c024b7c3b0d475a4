"""The body of every service's Alembic env.py: migrations run inside the service's schema.

Run programmatically (shared.db.migrate passes a connection) or from the alembic CLI
(`alembic -c services/<svc>/alembic.ini upgrade head`, using DATABASE_URL).

Revisions themselves never import the models (tests/unit/test_migrations_frozen.py): each states its
own DDL, so the history means the same whatever the models become.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import Settings


def _configure_and_run(connection, metadata: MetaData, schema: str) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, parent: type_ != "schema" or name == schema,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_env(metadata: MetaData, default_schema: str) -> None:
    config = context.config
    schema = config.attributes.get("schema", default_schema)
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection, metadata, schema)
        return

    async def run_online() -> None:
        engine = create_async_engine(Settings().database_url, hide_parameters=True)
        async with engine.begin() as conn:
            await conn.execute(text(f'create schema if not exists "{schema}"'))
            await conn.run_sync(_configure_and_run, metadata, schema)
        await engine.dispose()

    asyncio.run(run_online())
