"""reports: hourly counters of checks and name-rule findings no table keeps row by row

Revision ID: 0004_reports
Revises: 0004_index_changes
Create Date: 2026-12-02 00:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0004_reports"
down_revision = "0005_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_counts",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "metric", "key", name=op.f("pk_report_counts")),
    )


def downgrade():
    op.drop_table("report_counts")
