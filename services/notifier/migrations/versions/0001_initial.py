"""Initial notifier schema: contacts, messages, processed events.

Revision ID: 0001
Revises:
"""

from services.notifier.store import TABLES
from shared.alembic_env import create_tables, drop_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_tables(TABLES)


def downgrade() -> None:
    drop_tables(TABLES)
