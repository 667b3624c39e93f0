"""seal banned IP ranges: ban_identifiers.value widened and encrypted, masks cut short

Banned IP ranges were stored in clear in ``ban_identifiers.value`` and shown whole (their ``mask``
was the range itself). From this revision the value is sealed with AES-GCM under a key derived from
REGISTRY_PII_KEY (registry/identifiers/iprange.py) and the mask hides the subscriber part
(198.51.100.*/31). The upgrade seals every clear range with the configured key; the downgrade opens
them again (it needs the same key).

Revision ID: 0002_locks
Revises: 0001
Create Date: 2026-12-01 20:45:00

"""
import sqlalchemy as sa
from alembic import op
from flask import current_app

from registry.identifiers.iprange import SEALED_PREFIX, RangeCipher, mask_range

# revision identifiers, used by Alembic.
revision = "0002_locks"
down_revision = "0002_avatars"
branch_labels = None
depends_on = None

_idents = sa.table(
    "ban_identifiers",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
    sa.column("mask", sa.String),
)


def _cipher() -> RangeCipher:
    return RangeCipher(current_app.config["REGISTRY"].pii_key_bytes)


def _ranges(conn):
    return conn.execute(
        sa.select(_idents.c.id, _idents.c.value).where(
            _idents.c.kind == "ip_range", _idents.c.value.is_not(None)
        )
    ).all()


def upgrade():
    with op.batch_alter_table("ban_identifiers", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.String(length=64), type_=sa.String(length=128), existing_nullable=True
        )
    conn = op.get_bind()
    cipher = None
    for row_id, value in _ranges(conn):
        if value.startswith(SEALED_PREFIX):
            continue
        cipher = cipher or _cipher()
        conn.execute(
            _idents.update()
            .where(_idents.c.id == row_id)
            .values(value=cipher.seal(value), mask=mask_range(value))
        )


def downgrade():
    conn = op.get_bind()
    cipher = None
    for row_id, value in _ranges(conn):
        if not value.startswith(SEALED_PREFIX):
            continue
        cipher = cipher or _cipher()
        plain = cipher.open(value)
        conn.execute(_idents.update().where(_idents.c.id == row_id).values(value=plain, mask=plain))
    with op.batch_alter_table("ban_identifiers", schema=None) as batch_op:
        batch_op.alter_column(
            "value", existing_type=sa.String(length=128), type_=sa.String(length=64), existing_nullable=True
        )
