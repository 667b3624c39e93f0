"""index changes: ban_events becomes the check index's typed change log (kind, subject)

Revision ID: 0004_index_changes
Revises: 0003_avatars
Create Date: 2026-12-02 00:40:00

``ban_events`` (ban_id, op) also carried ``account:<id>`` protect/unprotect rows and a ``name-counts``
row per change of the name key counts. It becomes ``index_changes`` (kind, subject): the subject is the
ban id or the bare account id, NULL for name counts. Ids are kept, so ``name_key_counts.event_id`` and
every worker's position in the log stay valid.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_index_changes"
down_revision = "0003_avatars"
branch_labels = None
depends_on = None

KINDS = "kind IN ('create', 'lift', 'suppress', 'protect', 'unprotect', 'counts')"


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.rename_table("ban_events", "index_changes")
    if _postgres():
        op.execute("ALTER SEQUENCE IF EXISTS ban_events_id_seq RENAME TO index_changes_id_seq")
        op.execute("ALTER TABLE index_changes RENAME CONSTRAINT pk_ban_events TO pk_index_changes")
    with op.batch_alter_table("index_changes", schema=None, recreate="auto") as batch_op:
        batch_op.alter_column(
            "op", new_column_name="kind", existing_type=sa.String(length=16), existing_nullable=False
        )
        batch_op.alter_column(
            "ban_id",
            new_column_name="subject",
            existing_type=sa.String(length=40),
            type_=sa.String(length=128),
            nullable=True,
        )
    op.execute(
        "UPDATE index_changes SET subject = substr(subject, 9) "
        "WHERE kind IN ('protect', 'unprotect') AND subject LIKE 'account:%'"
    )
    op.execute("UPDATE index_changes SET subject = NULL WHERE kind = 'counts'")
    with op.batch_alter_table("index_changes", schema=None) as batch_op:
        batch_op.create_check_constraint(batch_op.f("ck_index_changes_kind"), KINDS)


def downgrade():
    with op.batch_alter_table("index_changes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_index_changes_kind"), type_="check")
    op.execute("UPDATE index_changes SET subject = 'name-counts' WHERE kind = 'counts'")
    op.execute(
        "UPDATE index_changes SET subject = 'account:' || subject WHERE kind IN ('protect', 'unprotect')"
    )
    with op.batch_alter_table("index_changes", schema=None) as batch_op:
        batch_op.alter_column(
            "kind", new_column_name="op", existing_type=sa.String(length=16), existing_nullable=False
        )
        batch_op.alter_column(
            "subject",
            new_column_name="ban_id",
            existing_type=sa.String(length=128),
            type_=sa.String(length=40),
            nullable=False,
        )
    if _postgres():
        op.execute("ALTER SEQUENCE IF EXISTS index_changes_id_seq RENAME TO ban_events_id_seq")
        op.execute("ALTER TABLE index_changes RENAME CONSTRAINT pk_index_changes TO pk_ban_events")
    op.rename_table("index_changes", "ban_events")
