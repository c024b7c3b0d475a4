"""The outboxes holding bundles (a batch's events in one row) store them compressed with lz4, where the
server has it: pglz cost several times the CPU for the same size (the migrations' notes)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.eligibility import store as eligibility_store
from services.registry import store as registry_store
from testkit.engines import migrated_engine


@pytest.mark.parametrize("store", [registry_store, eligibility_store], ids=["registry", "eligibility"])
async def test_bundle_payloads_are_compressed_with_lz4(database_url: str, store) -> None:  # noqa: ANN001
    async with migrated_engine(database_url, store.MIGRATIONS, store.SCHEMA) as engine:
        async with engine.connect() as conn:
            available = await conn.scalar(
                text("select 'lz4' = any(enumvals) from pg_settings where name = 'default_toast_compression'")
            )
            method = await conn.scalar(
                text(
                    "select cast(attcompression as text) from pg_attribute "
                    "where attrelid = cast(:table as regclass) and attname = 'payload'"
                ),
                {"table": f"{store.SCHEMA}.outbox"},
            )
    assert method == ("l" if available else "")
