"""The in-chat image of a closed round: every statement's distribution, each expert's own
rating outlined. Opt-in per study (``[feedback] chart = true``).

Drawn when the message is sent, not when the round closes: matplotlib takes seconds for a
round of 100 statements and the outline a third of a second per expert at that size, far
too long to hold the close's write transaction (every expert's press would wait). A
closed round never changes, so drawing it later gives the picture it had at the close,
and a resend after a crash draws the same one. The round's drawing is made once per
process; each expert's copy then only outlines their own ratings (Pillow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import Store
from engine.loading import get_study, study_file_of
from engine.models import Ballot, Rating, Round, RoundResult, Statement, StatementVersion
from engine.report import charts
from engine.statement_statistics import StatementStatistics
from engine.stats.rules import bands_for


@dataclass(frozen=True)
class _Drawn:
    round_id: int
    version_ids: tuple[int, ...]  # one per panel, in the chart's order
    chart: charts.MarkableChart


async def _panels(session: AsyncSession, study_id: str, round_number: int
                  ) -> tuple[int, list[int], str, list[tuple[str, Mapping[int, int], float | None]],
                             charts.Bands] | None:
    """What the round's chart shows (read in one short transaction); None unless closed."""
    round_ = await session.scalar(select(Round).where(
        Round.study_id == study_id, Round.number == round_number, Round.status == "closed"))
    if round_ is None:
        return None
    spec = study_file_of(await get_study(session, study_id))
    rows = (await session.execute(
        select(Statement.code, StatementVersion.version, StatementVersion.id, RoundResult)
        .join(StatementVersion, StatementVersion.id == RoundResult.statement_version_id)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(RoundResult.round_id == round_.id).order_by(Statement.position))).all()
    if not rows:
        return None
    panels = []
    for code, version, _, row in rows:
        result = StatementStatistics.from_row(row, round_number, code, version)
        panels.append((f"{result.key} (n={result.n})", result.counts, result.median))
    bands = bands_for(spec.consensus, spec.scale.points)
    return (round_.id, [version_id for _, _, version_id, _ in rows],
            f"Round {round_number}: how the panel rated (outlined = your rating)", panels,
            charts.Bands(spec.scale.points, bands.agree, bands.disagree))


class RoundCharts:
    """Each expert's picture of a closed round, drawn off the event loop and outside any
    write transaction (reads are short transactions of their own)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._drawn: dict[tuple[str, int], asyncio.Task[_Drawn | None]] = {}

    async def for_expert(self, study_id: str, round_number: int,
                         participant_id: int) -> bytes | None:
        """The PNG for ``participant_id``; None when the round is not closed (nothing to
        show)."""
        drawn = await self._round(study_id, round_number)
        if drawn is None:
            return None
        async with self.store.transaction() as session:
            own = dict((await session.execute(
                select(Rating.statement_version_id, Rating.value)
                .join(Ballot, Ballot.id == Rating.ballot_id)
                .where(Ballot.round_id == drawn.round_id,
                       Ballot.participant_id == participant_id))).all())
        marks: Sequence[int | None] = [own.get(v) for v in drawn.version_ids]
        return await asyncio.to_thread(charts.mark, drawn.chart, marks)

    async def _round(self, study_id: str, round_number: int) -> _Drawn | None:
        """The round's drawing, made once however many messages ask at the same time."""
        key = (study_id, round_number)
        task = self._drawn.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception())):
            task = self._drawn[key] = asyncio.ensure_future(self._draw(study_id, round_number))
        drawn = await asyncio.shield(task)
        if drawn is None:  # not closed yet: ask again next time
            self._drawn.pop(key, None)
        return drawn

    async def _draw(self, study_id: str, round_number: int) -> _Drawn | None:
        async with self.store.transaction() as session:
            found = await _panels(session, study_id, round_number)
        if found is None:
            return None
        round_id, version_ids, title, panels, bands = found
        chart = await asyncio.to_thread(charts.round_overview, title, panels, bands)
        return _Drawn(round_id, tuple(version_ids), chart)
