"""A round's ratings read before its close takes the write lock, and brought up to date
inside it.

Reading a large round (1,000 experts x 100 statements: 100,000 ratings) takes the best
part of a second. Inside the close's write transaction that would stall every press
(SQLite has one writer, and its driver shares the bot's event loop). So the close reads
first, apart from everything (engine.db.Store.read_apart), noting each ballot's revision
(kept by the database, see engine.models.Ballot) and whether it was submitted. Inside its
transaction it reads those marks again, a thousand small rows, and reads afresh only the
ballots whose mark moved. Experts keep pressing meanwhile and no rating is lost: one
written before the close's transaction moved its ballot's mark and is read again; one
written after it finds the round closed and is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import Ballot, Participant


@dataclass(frozen=True)
class BallotMark:
    """What a ballot looked like when read: a change to any of it moves the mark."""

    revision: int
    submitted: bool
    participant: str  # pseudonym, as in the ratings frame


@dataclass(frozen=True)
class RoundReading:
    """The ratings the close of round ``round_id`` needs, read before its transaction,
    with the mark of every ballot of the round as it was in the same snapshot."""

    round_id: int
    round_number: int
    submitted_only: bool  # read under [consensus] ballots = "submitted"
    frame: pd.DataFrame  # conclusion.ratings_frame up to this round
    marks: Mapping[int, BallotMark]  # ballot id -> mark

    def changed(self, marks: Mapping[int, BallotMark]) -> list[int]:
        """The ballots (ids) whose mark differs from ``marks``, read now."""
        return sorted({b for b, mark in marks.items() if self.marks.get(b) != mark}
                      | {b for b in self.marks if b not in marks})

    def updated(self, changed: list[int], fresh: pd.DataFrame) -> pd.DataFrame:
        """The frame with the ``changed`` ballots' rows replaced by ``fresh`` (their
        ratings read now). Row order does not matter to the statistics
        (engine.stats.encoding orders statements and rounds itself)."""
        stale = {self.marks[b].participant for b in changed if b in self.marks}
        frame = self.frame
        kept = frame[~((frame["round"] == self.round_number)
                       & frame["participant"].isin(stale))]
        if fresh.empty:
            return kept.reset_index(drop=True)
        return pd.concat([kept, fresh], ignore_index=True)


async def ballot_marks(session: AsyncSession, round_id: int) -> dict[int, BallotMark]:
    """Every ballot of the round with its mark: one small row per expert."""
    rows = await session.execute(
        select(Ballot.id, Ballot.revision, Ballot.submitted_at, Participant.pseudonym)
        .join(Participant, Participant.id == Ballot.participant_id)
        .where(Ballot.round_id == round_id))
    return {ballot: BallotMark(revision, submitted is not None, who)
            for ballot, revision, submitted, who in rows}
