"""An engine on a test's database with one service's schema migrated to its newest revision, as the
service's pool is made (shared.db.make_engine) and migrated at start (shared.db.migrate), disposed of
afterwards: what the tests of a unit of work, a statement or a lock order on PostgreSQL stand on.

    @pytest.fixture
    async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
        async with migrated_engine(database_url, MIGRATIONS, SCHEMA) as engine:
            yield engine
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine, migrate
from shared.settings import Settings


@asynccontextmanager
async def migrated_engine(database_url: str, migrations: Path, schema: str) -> AsyncIterator[AsyncEngine]:
    """`migrations`, `schema`: the service store's MIGRATIONS and SCHEMA."""
    engine = make_engine(Settings(database_url=database_url))
    try:
        await migrate(engine, migrations, schema)
        yield engine
    finally:
        await engine.dispose()
