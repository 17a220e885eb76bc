"""Careless-responding flags of the study's ballots, read from the database.

The rules live in :mod:`engine.stats.careless`; this module only gathers what they
need (valid ratings, and when each rating was first given) for ``/status`` and the
report. Pseudonyms only.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.models import Ballot, Participant, Rating, Round
from engine.stats.careless import CarelessFlag, seconds_per_statement, speed, straight_lining


async def careless_flags(session: AsyncSession, study_id: str,
                         round_number: int | None = None) -> list[CarelessFlag]:
    """Straight-lining and implausible-speed flags, of one round or of every round."""
    query = (select(Round.number, Participant.pseudonym, Rating.value, Ballot.started_at,
                    Rating.created_at)
             .join(Ballot, Ballot.id == Rating.ballot_id)
             .join(Round, Round.id == Ballot.round_id)
             .join(Participant, Participant.id == Ballot.participant_id)
             .where(Round.study_id == study_id, Round.status != "draft"))
    if round_number is not None:
        query = query.where(Round.number == round_number)
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    frame = pd.DataFrame(rows, columns=["round", "participant", "rating", "started_at",
                                        "rated_at"])
    flags = straight_lining(frame) + speed(seconds_per_statement(frame))
    return sorted(flags, key=lambda f: (f.round, f.kind, f.participant))
