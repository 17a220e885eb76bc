"""The database schema (SQLAlchemy 2.x typed ORM).

Anonymity by construction: platform identities (user id, chat id, names) live only in
``identities``; every other table refers to the pseudonymous ``participants.id``.
Constraint names follow one convention so that Alembic can alter them on SQLite too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROUND_STATUSES = ("draft", "open", "closed")
PARTICIPANT_STATUSES = ("enrolled", "screening", "active", "declined", "ineligible", "withdrawn")
OUTBOX_STATUSES = ("pending", "delivered", "failed")
COMMENT_KINDS = ("comment", "reason", "reply")
CONFIDENCE_LEVELS = {1: "low", 2: "medium", 3: "high"}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend.

    SQLite has no time zones, so values are stored as naive UTC there and made aware
    again on the way out; PostgreSQL stores ``timestamptz``. A naive datetime is a bug
    (whose local time?) and is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Study(Base):
    """One Delphi study. ``definition`` is the validated study file as loaded."""

    __tablename__ = "studies"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    definition: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    # Pre-registration: the protocol is frozen (hash + time) when round 1 opens.
    protocol: Mapped[dict[str, Any]]
    protocol_hash: Mapped[str] = mapped_column(String(64))
    protocol_frozen_at: Mapped[datetime | None]
    loaded_at: Mapped[datetime]
    # Why the study stopped (engine.ending.StopReason): set once, when it ends.
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(16))


class Statement(Base):
    """A statement's identity across rounds; its wording lives in StatementVersion."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("study_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    code: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(80))
    position: Mapped[int]
    added_in_round: Mapped[int] = mapped_column(default=1)
    dropped_in_round: Mapped[int | None]
    drop_reason: Mapped[str | None] = mapped_column(Text)


class StatementVersion(Base):
    """The text of a statement as rated in some round, with its lineage."""

    __tablename__ = "statement_versions"
    __table_args__ = (UniqueConstraint("statement_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    version: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    revised_from_id: Mapped[int | None] = mapped_column(ForeignKey("statement_versions.id"))
    change_note: Mapped[str | None] = mapped_column(Text)
    created_for_round: Mapped[int]
    created_at: Mapped[datetime]


class Round(Base):
    __tablename__ = "rounds"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        CheckConstraint(_in("status", ROUND_STATUSES), name="status"),
        # At most one open round per study, even under concurrent /openround.
        Index(
            "uq_rounds_one_open_per_study",
            "study_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(8), default="draft")
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    deadline: Mapped[datetime | None]


def round_status_is(status: str) -> ColumnElement[bool]:
    """``rounds.status = 'open'`` with the status written into the SQL, not bound.

    SQLite re-prepares a statement on every run when a bound value might select the
    partial index ``uq_rounds_one_open_per_study``: measured on the press path's read,
    119 us a run against 17 us with the literal. The statuses are our own constants, so
    writing them in is safe.
    """
    if status not in ROUND_STATUSES:
        raise ValueError(f"unknown round status {status!r}")
    return Round.__table__.c.status == literal_column(f"'{status}'")


class RoundItem(Base):
    """Which statement versions are on the ballot of a round, in which order."""

    __tablename__ = "round_items"
    __table_args__ = (UniqueConstraint("round_id", "position"),)

    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"), primary_key=True)
    statement_version_id: Mapped[int] = mapped_column(
        ForeignKey("statement_versions.id"), primary_key=True
    )
    position: Mapped[int]


class Participant(Base):
    """A pseudonymous panelist. Holds no platform identity and no name."""

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("study_id", "pseudonym"),
        CheckConstraint(_in("status", PARTICIPANT_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    pseudonym: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16), default="expert")
    status: Mapped[str] = mapped_column(String(16), default="enrolled")
    stakeholder_group: Mapped[str | None] = mapped_column(String(80))
    timezone: Mapped[str | None] = mapped_column(String(64))
    enrolled_at: Mapped[datetime]
    consented_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    unreachable_since: Mapped[datetime | None]


class Identity(Base):
    """The only place platform ids and names live; joined to a participant by id."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("study_id", "platform", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), unique=True
    )
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]


class PendingInput(Base):
    """What the next free-text message from a participant means (e.g. a comment on S05).

    Kept in the database, not in memory, so it survives restarts and works across devices.
    """

    __tablename__ = "pending_inputs"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    round_number: Mapped[int]
    statement_code: Mapped[str] = mapped_column(String(32))
    reply_to: Mapped[int | None]  # kind "reply": the comment being answered
    created_at: Mapped[datetime]


class Invite(Base):
    """A single-use invitation. Only the SHA-256 of the token is stored."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    redeemed_at: Mapped[datetime | None]
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    stakeholder_group: Mapped[str | None] = mapped_column(String(80))


class ScreeningAnswer(Base):
    __tablename__ = "screening_answers"

    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    answer: Mapped[str] = mapped_column(String(60))
    answered_at: Mapped[datetime]


class Ballot(Base):
    """One participant's ballot in one round.

    ``revision`` goes up with every rating written to the ballot, kept so by the database
    itself (RATING_TRIGGERS below), whoever writes: the round close reads the ratings
    before it takes the write lock and compares revisions inside it, to re-read only the
    ballots that changed in between (engine.round_reading).
    """

    __tablename__ = "ballots"
    __table_args__ = (UniqueConstraint("round_id", "participant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    started_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(default=0, server_default=text("0"))


class Rating(Base):
    """A rating; ``value`` NULL means "unable to rate". One per ballot and statement version."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("ballot_id", "statement_version_id"),
                      CheckConstraint("confidence IN (1, 2, 3)", name="confidence"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id"))
    statement_version_id: Mapped[int] = mapped_column(ForeignKey("statement_versions.id"))
    value: Mapped[int | None]
    # How sure the expert is (1 low, 2 medium, 3 high; see CONFIDENCE_LEVELS), when the
    # study asks ([scale] confidence). A changed rating keeps its confidence.
    confidence: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# A rating written, changed or removed counts as a new revision of its ballot. The
# migration that added ``ballots.revision`` (0006) creates the same triggers. A rating
# never moves to another ballot, so a change is one primary-key update of its own ballot
# (about 10 us a press on SQLite, measured).
# On PostgreSQL the trigger also refuses a rating whose round is not open, holding the
# round's row (FOR SHARE) until the rating commits: a close's UPDATE of the round waits
# for every rating already written, and a rating written after that UPDATE waits for the
# close and is then refused (ROUND_NOT_OPEN_SQLSTATE), never acknowledged and left out of
# the results. SQLite needs no such check: its transactions run one at a time, and a
# press reads the round's status inside its own.
ROUND_NOT_OPEN_SQLSTATE = "DL001"
RATING_TRIGGERS = {
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


@event.listens_for(Rating.__table__, "after_create")
def _create_rating_triggers(_table: Any, connection: Any, **_: Any) -> None:
    for statement in RATING_TRIGGERS.get(connection.dialect.name, []):
        connection.exec_driver_sql(statement)


class Comment(Base):
    """Free text from a participant on a statement in a round.

    ``kind`` says what it is: a ``comment`` (one per ballot and version), a ``reason``
    for an outlying rating (one per ballot and version), or a ``reply`` to another
    participant's comment (``reply_to``; one per ballot and comment answered).
    """

    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint(_in("kind", COMMENT_KINDS), name="kind"),
        Index("uq_comments_own", "ballot_id", "statement_version_id", "kind", unique=True,
              sqlite_where=text("reply_to IS NULL"),
              postgresql_where=text("reply_to IS NULL")),
        Index("uq_comments_reply", "ballot_id", "reply_to", unique=True,
              sqlite_where=text("reply_to IS NOT NULL"),
              postgresql_where=text("reply_to IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id"))
    statement_version_id: Mapped[int] = mapped_column(ForeignKey("statement_versions.id"))
    kind: Mapped[str] = mapped_column(String(8), default="comment",
                                      server_default="comment")
    reply_to: Mapped[int | None] = mapped_column(ForeignKey("comments.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RoundResult(Base):
    """The statistics and consensus class of one statement version in a closed round."""

    __tablename__ = "round_results"
    __table_args__ = (UniqueConstraint("round_id", "statement_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    statement_version_id: Mapped[int] = mapped_column(ForeignKey("statement_versions.id"))
    n: Mapped[int]
    n_unable: Mapped[int]
    median: Mapped[float | None] = mapped_column(Float)
    q1: Mapped[float | None] = mapped_column(Float)
    q3: Mapped[float | None] = mapped_column(Float)
    iqr: Mapped[float | None] = mapped_column(Float)
    pct_agree: Mapped[float | None] = mapped_column(Float)
    pct_disagree: Mapped[float | None] = mapped_column(Float)
    consensus: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message to send, written in the same transaction as the change that caused it.

    ``dedupe_key`` makes enqueueing idempotent (one summary per participant per round).
    The recipient is a participant (resolved through ``identities`` at send time) or, for
    coordinators who are not participants, an explicit platform address.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_due", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    platform: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class ProcessedUpdate(Base):
    """Platform update ids already handled (Telegram update_id, Slack event_id)."""

    __tablename__ = "processed_updates"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime]


class AuditEntry(Base):
    """Coordinator actions and refused attempts, for accountability and the report."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str | None] = mapped_column(ForeignKey("studies.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    allowed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[dict[str, Any]]


SCHEDULE_KINDS = ("deadline", "nudge", "digest")


class ScheduledTask(Base):
    """Something the scheduler must do at a time: close or ask at a deadline, nudge one
    expert, send the coordinators a digest.

    These rows are the source of truth; the in-process APScheduler only holds wake-up
    calls rebuilt from them. ``done_at`` is the claim: it is set with
    ``UPDATE ... WHERE done_at IS NULL`` in the same transaction that acts (and queues
    the outbox message), so a task happens once however many processes run it, and a
    task missed while the bot was down is still there to be judged at start-up.
    """

    __tablename__ = "scheduled_tasks"
    __table_args__ = (
        UniqueConstraint("round_id", "key"),
        CheckConstraint(_in("kind", SCHEDULE_KINDS), name="kind"),
        Index("ix_scheduled_tasks_due", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(ForeignKey("studies.id"))
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id"))
    due_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


# The dispatcher keeps each recipient's messages in order by looking for an earlier
# pending row of the same participant; this index keeps that look-up cheap.
Index("ix_outbox_recipient", OutboxMessage.participant_id, OutboxMessage.status)
