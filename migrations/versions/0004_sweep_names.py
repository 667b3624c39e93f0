"""sweep: the dormant-notification outbox table is named for what it holds, dormancy_notices

Revision ID: 0004_sweep_names
Revises: 0004_index_changes
Create Date: 2026-12-02 01:00:00

The table, its primary key, its run_id index and (on PostgreSQL) its id sequence are renamed; the rows
stay as they are. A rename, so nothing is copied on PostgreSQL; SQLite rewrites the one table.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_sweep_names'
down_revision = '0004_index_changes'
branch_labels = None
depends_on = None


def _rename(old, new):
    op.drop_index(f'ix_{old}_run_id', table_name=old)
    op.rename_table(old, new)
    op.create_index(f'ix_{new}_run_id', new, ['run_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER TABLE {new} RENAME CONSTRAINT pk_{old} TO pk_{new}')
        op.execute(f'ALTER SEQUENCE IF EXISTS {old}_id_seq RENAME TO {new}_id_seq')
    else:
        # SQLite keeps a constraint's name in the table's CREATE statement: rebuild it under the new one.
        with op.batch_alter_table(new, recreate='always') as batch_op:
            batch_op.drop_constraint(f'pk_{old}', type_='primary')
            batch_op.create_primary_key(f'pk_{new}', ['id'])


def upgrade():
    _rename('sweep_outbox', 'dormancy_notices')


def downgrade():
    _rename('dormancy_notices', 'sweep_outbox')
