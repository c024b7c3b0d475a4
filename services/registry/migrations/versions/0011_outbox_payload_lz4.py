"""Bundles in the outbox are compressed with lz4 instead of pglz (issue 20).

A bundle row holds a batch's events (hundreds of kilobytes of JSON), which PostgreSQL compresses when it
stores the row. pglz cost its backend about 5.8 ms of CPU per 350 kB bundle, lz4 1.4 ms, for the same
stored size (about 123 kB; a 350 kB bundle inserted 100 times on this machine, 2026-12-01). The relay reads
each row once, and lz4 decompresses faster too. Only where the server was built with lz4 (PostgreSQL 14+
with --with-lz4, as Debian's and CloudNativePG's are); elsewhere the column keeps pglz. Rows already
stored keep their compression.

Revision ID: 0011_outbox_payload_lz4
Revises: 0010_history_key_by_person
"""

from alembic import op

revision = "0011_outbox_payload_lz4"
down_revision = "0010_history_key_by_person"
branch_labels = None
depends_on = None

LZ4_AVAILABLE = "exists (select from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals))"


def upgrade() -> None:
    op.execute(
        f"do $$ begin if {LZ4_AVAILABLE} then "
        "alter table registry.outbox alter column payload set compression lz4; end if; end $$"
    )


def downgrade() -> None:
    op.execute("alter table registry.outbox alter column payload set compression default")
