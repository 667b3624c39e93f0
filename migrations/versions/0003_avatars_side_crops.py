"""avatars: one-sided crop hashes on accounts, kind 'side' on banned avatars

Revision ID: 0003_avatars
Revises: 0002_evidence
Create Date: 2026-12-01 21:55:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0003_avatars'
down_revision = '0002_evidence'
branch_labels = None
depends_on = None

OLD = "kind IN ('image', 'crop', 'band', 'hash')"
NEW = "kind IN ('image', 'crop', 'band', 'side', 'hash')"


def upgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('avatar_side_hashes', sa.String(length=256), nullable=True))
    with op.batch_alter_table('ban_avatars', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_ban_avatars_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_ban_avatars_kind'), NEW)


def downgrade():
    op.execute("DELETE FROM ban_avatars WHERE kind = 'side'")
    with op.batch_alter_table('ban_avatars', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_ban_avatars_kind'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_ban_avatars_kind'), OLD)
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('avatar_side_hashes')
