"""avatars: perceptual hashes on accounts and banned avatars

Revision ID: 0002_avatars
Revises: 0001
Create Date: 2026-12-01 20:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0002_avatars'
down_revision = '0002_audit'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('avatar_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('avatar_crop_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('avatar_band_hash', sa.String(length=64), nullable=True))

    op.create_table('ban_avatars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ban_id', sa.String(length=40), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.CheckConstraint("kind IN ('image', 'crop', 'band', 'hash')", name=op.f('ck_ban_avatars_kind')),
    sa.ForeignKeyConstraint(['ban_id'], ['bans.id'], name=op.f('fk_ban_avatars_ban_id_bans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ban_avatars'))
    )
    with op.batch_alter_table('ban_avatars', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ban_avatars_ban_id'), ['ban_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ban_avatars', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ban_avatars_ban_id'))

    op.drop_table('ban_avatars')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('avatar_band_hash')
        batch_op.drop_column('avatar_crop_hash')
        batch_op.drop_column('avatar_hash')
