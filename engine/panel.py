"""The panel as people: how far enrolment has come before round 1 (invites made, joined,
consented, screened out) and how fast each expert rates (for honest reminders).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine import ballots
from engine.models import Ballot, Invite, Participant, Rating


@dataclass(frozen=True)
class EnrolmentCounts:
    invited: int       # invites created
    joined: int        # invites redeemed (a participant exists)
    consented: int     # past the consent screen (screening, active, screened out, withdrawn)
    screened_out: int  # ineligible after screening
    declined: int      # said no at the consent screen
    active: int        # on the panel: will get the ballot
    withdrawn: int


async def enrolment_counts(session: AsyncSession, study_id: str) -> EnrolmentCounts:
    invited = await session.scalar(select(func.count()).select_from(Invite).where(
        Invite.study_id == study_id)) or 0
    by_status = dict((await session.execute(
        select(Participant.status, func.count()).where(Participant.study_id == study_id)
        .group_by(Participant.status))).all())
    joined = sum(by_status.values())
    return EnrolmentCounts(
        invited=invited, joined=joined,
        consented=joined - by_status.get("enrolled", 0) - by_status.get("declined", 0),
        screened_out=by_status.get("ineligible", 0), declined=by_status.get("declined", 0),
        active=by_status.get("active", 0), withdrawn=by_status.get("withdrawn", 0))


async def participant(session: AsyncSession, participant_id: int | None
                      ) -> Participant | None:
    """The participant with this id, if there is one."""
    return None if participant_id is None else await session.get(Participant, participant_id)


async def active_experts(session: AsyncSession, study_id: str) -> list[Participant]:
    """The experts on the panel now, in the order they joined."""
    return list((await session.scalars(select(Participant).where(
        Participant.study_id == study_id, Participant.status == "active")
        .order_by(Participant.id))).all())


async def incomplete_ballots(session: AsyncSession, study_id: str
                             ) -> list[tuple[Participant, ballots.Progress]]:
    """Active, reachable experts whose ballot in the open round is not submitted, with
    where they stand."""
    experts = (await session.scalars(select(Participant).where(
        Participant.study_id == study_id, Participant.status == "active",
        Participant.unreachable_since.is_(None)).order_by(Participant.id))).all()
    found = []
    for expert in experts:
        progress = await ballots.progress(session, expert.id)
        if progress.submitted_at is None:
            found.append((expert, progress))
    return found


@dataclass(frozen=True)
class BallotState:
    """Where one participant of the panel is in a round (pseudonym only: no names)."""

    pseudonym: str
    status: str
    submitted_at: datetime | None
    answered: int


async def ballot_states(session: AsyncSession, study_id: str, round_id: int
                        ) -> list[BallotState]:
    """Every participant of the study (active or not) and their ballot in one round, by
    pseudonym."""
    rows = (await session.execute(
        select(Participant.pseudonym, Participant.status, Ballot.submitted_at,
               func.count(Rating.id))
        .outerjoin(Ballot, (Ballot.participant_id == Participant.id)
                   & (Ballot.round_id == round_id))
        .outerjoin(Rating, Rating.ballot_id == Ballot.id)
        .where(Participant.study_id == study_id)
        .group_by(Participant.pseudonym, Participant.status, Ballot.submitted_at)
        .order_by(Participant.pseudonym))).all()
    return [BallotState(str(p), str(s), at, int(n)) for p, s, at, n in rows]


# A gap longer than this between two ratings is a break, not time spent on a statement.
BREAK_SECONDS = 600
# Ratings an expert must have given before their own pace is trusted.
MIN_PACED = 5
# Without an own pace: a considered rating with the feedback read, as the pilot measures.
DEFAULT_SECONDS_PER_STATEMENT = 30.0


async def seconds_per_statement(session: AsyncSession, participant_id: int) -> float | None:
    """The expert's own pace: the median time between two consecutive first ratings in
    one sitting, over every round; None until there are enough of them."""
    rows = (await session.execute(
        select(Rating.ballot_id, Rating.created_at).join(Ballot, Ballot.id == Rating.ballot_id)
        .where(Ballot.participant_id == participant_id)
        .order_by(Rating.ballot_id, Rating.created_at))).all()
    gaps = [(later.created_at - earlier.created_at).total_seconds()
            for earlier, later in pairwise(rows)
            if earlier.ballot_id == later.ballot_id]
    gaps = [g for g in gaps if 0 < g <= BREAK_SECONDS]
    if len(gaps) < MIN_PACED:
        return None
    return float(statistics.median(gaps))
