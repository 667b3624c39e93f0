"""linked accounts, registrant bans, back-checks of new bans

Revision ID: 0005_linked
Revises: 0004_index_changes
Create Date: 2026-12-02 00:45:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0005_linked"
down_revision = '0004_reports'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ban_accounts",
        sa.Column("ban_id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("via", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["ban_id"], ["bans.id"], name=op.f("fk_ban_accounts_ban_id_bans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ban_id", "account_id", name=op.f("pk_ban_accounts")),
    )
    with op.batch_alter_table("ban_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ban_accounts_account_id"), ["account_id"], unique=False)

    op.create_table(
        "backcheck_progress",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("bans_checked", sa.BigInteger(), nullable=False),
        sa.Column("reviews_opened", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_backcheck_progress")),
    )
    # The one pass's row exists from the start, so concurrent passes only ever lock it. Bans made before
    # this upgrade are not back-checked by default (`registry bans backcheck --since` does them).
    op.execute(
        "INSERT INTO backcheck_progress (name, last_event_id, bans_checked, reviews_opened, updated_at) "
        "SELECT 'bans', COALESCE(MAX(id), 0), 0, 0, CURRENT_TIMESTAMP FROM index_changes"
    )

    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.alter_column("check_id", existing_type=sa.String(length=40), nullable=True)
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="signup", nullable=False))
        batch_op.add_column(sa.Column("matched_ban_id", sa.String(length=40), nullable=True))
        batch_op.create_check_constraint(batch_op.f("ck_reviews_kind"), "kind IN ('signup', 'backcheck')")
        batch_op.create_unique_constraint("uq_reviews_backcheck_pair", ["account_id", "matched_ban_id"])

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index("ix_accounts_ip_time", ["ip_hash", "registered_at"], unique=False)
        batch_op.create_index("ix_accounts_entity_uscc", ["entity_uscc"], unique=False)


def downgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_accounts_entity_uscc")
        batch_op.drop_index("ix_accounts_ip_time")
    op.execute("DELETE FROM reviews WHERE check_id IS NULL")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reviews_backcheck_pair", type_="unique")
        batch_op.drop_constraint(batch_op.f("ck_reviews_kind"), type_="check")
        batch_op.drop_column("matched_ban_id")
        batch_op.drop_column("kind")
        batch_op.alter_column("check_id", existing_type=sa.String(length=40), nullable=False)
    op.drop_table("backcheck_progress")
    with op.batch_alter_table("ban_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ban_accounts_account_id"))
    op.drop_table("ban_accounts")
