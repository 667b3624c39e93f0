"""console: staff users and their sessions

Revision ID: 0004_console
Revises: 0004_index_changes
Create Date: 2026-12-02 00:45:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0004_console'
down_revision = '0004_sweep_names'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'staff_users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=256), nullable=False),
        sa.Column('totp_secret', sa.String(length=64), nullable=True),
        sa.Column('totp_enabled', sa.Boolean(), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('disabled_at', sa.DateTime(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by', sa.String(length=128), nullable=False),
        sa.Column('last_login_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("role IN ('reviewer', 'moderator', 'supervisor', 'auditor')", name=op.f('ck_staff_users_role')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
        sa.UniqueConstraint('name', name=op.f('uq_staff_users_name')),
    )
    op.create_table(
        'staff_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('seen_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_sessions_staff_id_staff_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_staff_sessions')),
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_seen_at'), ['seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_sessions_staff_id'), ['staff_id'], unique=False)


def downgrade():
    op.drop_table('staff_sessions')
    op.drop_table('staff_users')
