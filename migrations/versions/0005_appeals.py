"""appeals: appeals of bans and violations; violations can be voided

Revision ID: 0005_appeals
Revises: 0005_linked
Create Date: 2026-12-02 01:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0005_appeals"
down_revision = "0005_linked"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "appeals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("ban_id", sa.String(length=40), nullable=True),
        sa.Column("violation_id", sa.String(length=40), nullable=True),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("decision_by", sa.String(length=128), nullable=False),
        sa.Column("decision_at", sa.DateTime(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "(ban_id IS NULL) <> (violation_id IS NULL)", name=op.f("ck_appeals_one_decision")
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('granted', 'denied')", name=op.f("ck_appeals_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
        sa.UniqueConstraint("ban_id", name=op.f("uq_appeals_ban_id")),
        sa.UniqueConstraint("violation_id", name=op.f("uq_appeals_violation_id")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_appeals_queue", ["outcome", "id"], unique=False)
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("voided_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("violations", schema=None) as batch_op:
        batch_op.drop_column("void_reason")
        batch_op.drop_column("voided_by")
        batch_op.drop_column("voided_at")
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index("ix_appeals_queue")
        batch_op.drop_index(batch_op.f("ix_appeals_account_id"))
    op.drop_table("appeals")
