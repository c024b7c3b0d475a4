"""contacts.on_whatsapp: remembered when WhatsApp refuses a number, so later messages go by SMS.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0001 creates tables from the current models, so a fresh database already has the column.
    op.execute("ALTER TABLE notifier.contacts ADD COLUMN IF NOT EXISTS on_whatsapp BOOLEAN")


def downgrade() -> None:
    op.execute("ALTER TABLE notifier.contacts DROP COLUMN IF EXISTS on_whatsapp")
