"""reasons, confidence and replies

Comments gain a kind (comment / reason / reply) and the comment a reply answers;
ratings gain the expert's confidence; a pending free-text answer can be a reply.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 05:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=8), server_default='comment',
                                      nullable=False))
        batch_op.add_column(sa.Column('reply_to', sa.Integer(), nullable=True))
        batch_op.drop_constraint('uq_comments_ballot_id_statement_version_id', type_='unique')
        batch_op.create_check_constraint(
            'kind', "kind IN ('comment', 'reason', 'reply')")
        batch_op.create_foreign_key(batch_op.f('fk_comments_reply_to_comments'), 'comments',
                                    ['reply_to'], ['id'])
        batch_op.create_index(batch_op.f('ix_comments_reply_to'), ['reply_to'], unique=False)
        batch_op.create_index('uq_comments_own', ['ballot_id', 'statement_version_id', 'kind'],
                              unique=True, sqlite_where=sa.text('reply_to IS NULL'),
                              postgresql_where=sa.text('reply_to IS NULL'))
        batch_op.create_index('uq_comments_reply', ['ballot_id', 'reply_to'], unique=True,
                              sqlite_where=sa.text('reply_to IS NOT NULL'),
                              postgresql_where=sa.text('reply_to IS NOT NULL'))
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confidence', sa.Integer(), nullable=True))
        batch_op.create_check_constraint('confidence', 'confidence IN (1, 2, 3)')
    with op.batch_alter_table('pending_inputs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_to', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pending_inputs', schema=None) as batch_op:
        batch_op.drop_column('reply_to')
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_ratings_confidence'), type_='check')
        batch_op.drop_column('confidence')
    op.execute("DELETE FROM comments WHERE kind <> 'comment'")
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_index('uq_comments_reply', sqlite_where=sa.text('reply_to IS NOT NULL'),
                            postgresql_where=sa.text('reply_to IS NOT NULL'))
        batch_op.drop_index('uq_comments_own', sqlite_where=sa.text('reply_to IS NULL'),
                            postgresql_where=sa.text('reply_to IS NULL'))
        batch_op.drop_index(batch_op.f('ix_comments_reply_to'))
        batch_op.drop_constraint(op.f('fk_comments_reply_to_comments'), type_='foreignkey')
        batch_op.drop_constraint(op.f('ck_comments_kind'), type_='check')
        batch_op.create_unique_constraint('uq_comments_ballot_id_statement_version_id',
                                          ['ballot_id', 'statement_version_id'])
        batch_op.drop_column('reply_to')
        batch_op.drop_column('kind')
