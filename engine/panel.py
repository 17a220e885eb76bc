"""The panel as people: how far enrolment has come before round 1 (invites made, joined,
consented, screened out) and how fast each expert rates (for honest reminders).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from itertools import pairwise

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
