"""avatars: one-sided 92.5% crops beside the 90% ones, and the tone-normalised hash (kind 'tone')

Revision ID: 0006_avatars_tone
Revises: 0005_appeals
Create Date: 2026-12-02 09:30:00

Hashes stored before keep matching as they did (a probe's hashes did not change, it gained one):
an account's 4 side hashes stay 4 and its tone hash NULL until its avatar is sent again; a ban keeps
the rows it has. Only an image can give the new hashes, and images are never stored.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_avatars_tone"
down_revision = "0005_appeals"
branch_labels = None
depends_on = None

OLD = "kind IN ('image', 'crop', 'band', 'side', 'hash')"
NEW = "kind IN ('image', 'crop', 'band', 'side', 'tone', 'hash')"


def upgrade():
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column(
            "avatar_side_hashes", existing_type=sa.String(length=256), type_=sa.String(length=512)
        )
        batch_op.add_column(sa.Column("avatar_tone_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("ban_avatars", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_ban_avatars_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_ban_avatars_kind"), NEW)


def downgrade():
    op.execute("DELETE FROM ban_avatars WHERE kind = 'tone'")
    op.execute("UPDATE accounts SET avatar_side_hashes = substr(avatar_side_hashes, 1, 256)")
    with op.batch_alter_table("ban_avatars", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_ban_avatars_kind"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_ban_avatars_kind"), OLD)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("avatar_tone_hash")
        batch_op.alter_column(
            "avatar_side_hashes", existing_type=sa.String(length=512), type_=sa.String(length=256)
        )
