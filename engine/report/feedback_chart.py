"""The in-chat image of a closed round: every statement's distribution, each expert's own
rating outlined. Opt-in per study (``[feedback] chart = true``).

Drawn once per round with matplotlib (0.3-2 s for 5-30 statements), then outlined per
expert with Pillow in milliseconds, so closing a round for a large panel stays quick.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.loading import get_study, study_file_of
from engine.models import Ballot, Rating, Round, RoundResult, Statement, StatementVersion
from engine.report import charts
from engine.stats.rules import bands_for


async def round_charts(session: AsyncSession, study_id: str, round_number: int,
                       participant_ids: Sequence[int]) -> dict[int, bytes]:
    """PNG per participant for the closed round ``round_number`` (empty if not closed)."""
    round_ = await session.scalar(select(Round).where(
        Round.study_id == study_id, Round.number == round_number, Round.status == "closed"))
    if round_ is None or not participant_ids:
        return {}
    spec = study_file_of(await get_study(session, study_id))
    rows = (await session.execute(
        select(Statement.code, StatementVersion.version, StatementVersion.id, RoundResult)
        .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(RoundResult.round_id == round_.id).order_by(Statement.position))).all()
    if not rows:
        return {}
    own: dict[tuple[int, int], int | None] = {
        (participant, version): value for participant, version, value in
        (await session.execute(
            select(Ballot.participant_id, Rating.statement_version_id, Rating.value)
            .join(Ballot, Ballot.id == Rating.ballot_id)
            .where(Ballot.round_id == round_.id,
                   Ballot.participant_id.in_(participant_ids)))).all()}
    bands = bands_for(spec.consensus, spec.scale.points)
    panels = []
    for code, version, _, result in rows:
        counts = {int(k): int(v) for k, v in (result.details or {}).get("counts", {}).items()}
        label = (code if version == 1 else f"{code}.v{version}") + f" (n={result.n})"
        panels.append((label, counts, result.median))
    chart = charts.round_overview(
        f"Round {round_number}: how the panel rated (outlined = your rating)", panels,
        charts.Bands(spec.scale.points, bands.agree, bands.disagree))
    return {participant: charts.mark(chart, [own.get((participant, version_id))
                                             for _, _, version_id, _ in rows])
            for participant in participant_ids}
