"""One row per person: the standing (what CEK answers) moves into `contacts` beside the phone, and the
`standings` table goes. A wave's deactivation wrote a contact row and a standing row for the same person;
now one (domain/people.py). A person held only as a standing has a contact row without a number.

Revision ID: 0008_one_row_per_person
Revises: 0007_dedup_by_effect
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_one_row_per_person"
down_revision = "0007_dedup_by_effect"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
TEXTS = postgresql.ARRAY(sa.Text())
FLAGS = ("biometric_recorded", "nik_conflict_resolved", "id_semesta", "deceased", "request_open")
STANDING = (
    "status, deactivated_on, deactivation_reason, window_closes_at, reasons, follow_ups, biometric_recorded, "
    "nik_conflict_resolved, id_semesta, deceased, desil, desil_on, request_open, last_status_at, request_ids"
)


def upgrade() -> None:
    for name, kind in (
        ("status", sa.String()),
        ("deactivated_on", sa.Date()),
        ("deactivation_reason", sa.String()),
        ("window_closes_at", TZ),
        ("desil", sa.SmallInteger()),
        ("desil_on", sa.Date()),
        ("last_status_at", TZ),
    ):
        op.add_column("contacts", sa.Column(name, kind, nullable=True), schema="notifier")
    for name in ("reasons", "follow_ups", "request_ids"):
        op.add_column("contacts", sa.Column(name, TEXTS, nullable=False, server_default="{}"), schema="notifier")
    for name in FLAGS:
        flag = sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
        op.add_column("contacts", flag, schema="notifier")
    columns = STANDING.split(", ")
    values = ", ".join("coalesce(request_ids, '{}')" if c == "request_ids" else c for c in columns)
    op.execute(
        f"insert into notifier.contacts (nik, opted_out, {STANDING}) "
        f"select nik, false, {values} from notifier.standings "
        "on conflict (nik) do update set " + ", ".join(f"{c} = excluded.{c}" for c in columns)
    )
    op.drop_table("standings", schema="notifier")


def downgrade() -> None:
    op.create_table(
        "standings",
        sa.Column("nik", sa.String(length=16), primary_key=True),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("deactivated_on", sa.Date(), nullable=True),
        sa.Column("deactivation_reason", sa.String(), nullable=True),
        sa.Column("window_closes_at", TZ, nullable=True),
        sa.Column("reasons", TEXTS, nullable=False),
        sa.Column("follow_ups", TEXTS, nullable=False),
        sa.Column("biometric_recorded", sa.Boolean(), nullable=False),
        sa.Column("nik_conflict_resolved", sa.Boolean(), nullable=False),
        sa.Column("id_semesta", sa.Boolean(), nullable=False),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("desil", sa.SmallInteger(), nullable=True),
        sa.Column("desil_on", sa.Date(), nullable=True),
        sa.Column("request_open", sa.Boolean(), nullable=False),
        sa.Column("last_status_at", TZ, nullable=True),
        sa.Column("request_ids", TEXTS, nullable=True),
        schema="notifier",
    )
    op.execute(f"insert into notifier.standings (nik, {STANDING}) select nik, {STANDING} from notifier.contacts")
    for name in STANDING.split(", "):
        op.drop_column("contacts", name, schema="notifier")
