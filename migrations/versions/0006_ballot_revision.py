"""ballots count their revisions

Every ballot gains ``revision``, raised by a trigger on ``ratings`` whenever a rating of
the ballot is written, changed or removed. The round close reads the ratings before it
takes the write lock and, inside it, re-reads only the ballots whose revision moved.
Plain ALTER TABLE (no table copy), so a downgrade works on SQLite with data in place.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 08:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER ratings_revise_ballot_on_insert AFTER INSERT ON ratings BEGIN "
        "UPDATE ballots SET revision = revision + 1 WHERE id = NEW.ballot_id; END",
        "CREATE TRIGGER ratings_revise_ballot_on_update AFTER UPDATE OF value ON ratings "
        "BEGIN UPDATE ballots SET revision = revision + 1 WHERE id = NEW.ballot_id; END",
        "CREATE TRIGGER ratings_revise_ballot_on_delete AFTER DELETE ON ratings BEGIN "
        "UPDATE ballots SET revision = revision + 1 WHERE id = OLD.ballot_id; END",
    ],
    "postgresql": [
        "CREATE FUNCTION ratings_revise_ballot() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP <> 'DELETE' THEN "
        "PERFORM 1 FROM ballots b JOIN rounds r ON r.id = b.round_id "
        "WHERE b.id = NEW.ballot_id AND r.status = 'open' FOR SHARE OF r; "
        "IF NOT FOUND THEN RAISE EXCEPTION 'the round of ballot % is not open', "
        "NEW.ballot_id USING ERRCODE = 'DL001'; END IF; "
        "END IF; "
        "UPDATE ballots SET revision = revision + 1 "
        "WHERE id = COALESCE(NEW.ballot_id, OLD.ballot_id); RETURN NULL; END $$",
        "CREATE TRIGGER ratings_revise_ballot AFTER INSERT OR UPDATE OF value OR DELETE "
        "ON ratings FOR EACH ROW EXECUTE FUNCTION ratings_revise_ballot()",
    ],
}
DROPS = {
    "sqlite": ["DROP TRIGGER ratings_revise_ballot_on_insert",
               "DROP TRIGGER ratings_revise_ballot_on_update",
               "DROP TRIGGER ratings_revise_ballot_on_delete"],
    "postgresql": ["DROP TRIGGER ratings_revise_ballot ON ratings",
                   "DROP FUNCTION ratings_revise_ballot()"],
}


def upgrade() -> None:
    op.add_column('ballots', sa.Column('revision', sa.Integer(), server_default=sa.text('0'),
                                       nullable=False))
    for statement in TRIGGERS.get(op.get_bind().dialect.name, []):
        op.execute(statement)


def downgrade() -> None:
    for statement in DROPS.get(op.get_bind().dialect.name, []):
        op.execute(statement)
    op.drop_column('ballots', 'revision')
