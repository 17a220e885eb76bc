"""why the study stopped

Studies gain the moment they ended and why: every statement resolved, the maximum
number of rounds reached, or the coordinator ended them (engine.ending.StopReason).
Plain ALTER TABLE (no table copy), so a downgrade works on SQLite with data in place.

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
    op.add_column('studies', sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('studies', sa.Column('end_reason', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('studies', 'end_reason')
    op.drop_column('studies', 'ended_at')
