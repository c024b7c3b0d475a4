"""contacts.on_whatsapp: remembered when WhatsApp refuses a number, so later messages go by SMS.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("on_whatsapp", sa.Boolean()), schema="notifier")


def downgrade() -> None:
    op.drop_column("contacts", "on_whatsapp", schema="notifier")
