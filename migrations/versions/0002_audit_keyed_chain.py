"""audit: subject keys for crypto-shredding; re-key a legacy trail under REGISTRY_AUDIT_KEY

Revision ID: 0002_audit
Revises: 0001
Create Date: 2026-12-01 20:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002_audit"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Refuse a trail that was already broken before anything changes (SQLite DDL is not rolled back).
    offline = context_is_offline()
    problem = None
    if not offline:
        from registry.audit.rekey import check_legacy

        problem = check_legacy(op.get_bind())
    op.create_table(
        "audit_subject_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("wrapped", sa.String(length=120), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_subject_keys")),
    )
    with op.batch_alter_table("audit_subject_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_subject_keys_subject"), ["subject"], unique=False)

    # Entries written before this revision were hashed with plain SHA-256 and hold personal fields in
    # clear: verify them, seal their personal fields and chain them with the keyed hash (see
    # registry/audit/rekey.py). Needs the app's settings (REGISTRY_AUDIT_KEY), as `registry db upgrade` has.
    if not offline:
        from flask import current_app

        from registry.audit.keys import AuditKeys
        from registry.audit.rekey import rekey

        keys = AuditKeys(current_app.config["REGISTRY"].audit_key.encode("utf-8"))
        rekey(op.get_bind(), keys, problem)


def context_is_offline():
    from alembic import context

    return context.is_offline_mode()


def downgrade():
    # The keyed chain stays keyed: going back cannot restore the plain hashes or the erased data.
    with op.batch_alter_table("audit_subject_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_subject_keys_subject"))
    op.drop_table("audit_subject_keys")
