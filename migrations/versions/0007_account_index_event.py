"""accounts.index_event_id: which change-log row last gave an account identifiers

Revision ID: 0007_account_index_event
Revises: 0006_webhook_fanout
Create Date: 2026-12-04 14:40:00

Additive: existing accounts keep NULL. A check index build reads every account's identifiers whatever
the column holds; only accounts written after this revision are found by a worker's sync through it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_account_index_event"
down_revision = "0006_webhook_fanout"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("accounts", sa.Column("index_event_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_accounts_index_event_id"), "accounts", ["index_event_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_accounts_index_event_id"), table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("index_event_id")
