"""why the study stopped

Studies gain the moment they ended and why: every statement resolved, the maximum
number of rounds reached, or the coordinator ended them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 05:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('end_reason', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint(
            'end_reason', "end_reason IN ('resolved', 'max_rounds', 'coordinator')")


def downgrade() -> None:
    with op.batch_alter_table('studies', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_studies_end_reason'), type_='check')
        batch_op.drop_column('end_reason')
        batch_op.drop_column('ended_at')
