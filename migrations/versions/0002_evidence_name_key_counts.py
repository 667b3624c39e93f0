"""name key counts: how many accounts in good standing hold each name match key

Revision ID: 0002_evidence
Revises: 0001
Create Date: 2026-12-01 20:50:00

"""
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = '0002_evidence'
down_revision = '0002_locks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('name_key_counts',
    sa.Column('key_hash', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('accounts', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_name_key_counts'))
    )
    with op.batch_alter_table('name_key_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_name_key_counts_event_id'), ['event_id'], unique=False)
    _backfill()


def _backfill():
    """Count the keys of the accounts that exist already (one pass; new changes keep it current)."""
    from registry.matching.commonness import GOOD_STANDING, account_keys, key_hash

    bind = op.get_bind()
    counts = Counter()
    rows = bind.execute(
        sa.text("SELECT username, display_name FROM accounts WHERE status IN :s").bindparams(
            sa.bindparam("s", expanding=True)
        ),
        {"s": list(GOOD_STANDING)},
    )
    for username, display_name in rows:
        for k in account_keys(username, display_name):
            counts[key_hash(k)] += 1
    if not counts:
        return
    table = sa.table('name_key_counts', sa.column('key_hash'), sa.column('accounts'), sa.column('event_id'))
    items = [{"key_hash": h, "accounts": n, "event_id": 0} for h, n in counts.items()]
    for i in range(0, len(items), 5000):
        bind.execute(table.insert(), items[i : i + 5000])


def downgrade():
    with op.batch_alter_table('name_key_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_name_key_counts_event_id'))

    op.drop_table('name_key_counts')
