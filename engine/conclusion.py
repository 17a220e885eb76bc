"""Closing a round for good: statistics, stored results, the stopping rule, the next draft.

One call, inside the coordinator's transaction, so a round is never half closed: either
the round is closed *and* its results stored *and* the next round prepared, or nothing.

Statements are analysed under their wording's key (:func:`engine.codec.version_key`:
``S05`` for a first wording, ``S05.v2`` for a revised one). ``ratings.csv`` uses the same
keys, so ``delphi analyze`` on the export reproduces the stored results.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.ballots import BallotItem, ballot_items
from engine.codec import version_key
from engine.db import Store
from engine.ending import StopReason, record_end
from engine.loading import get_study, study_file_of
from engine.models import (
    CONFIDENCE_LEVELS,
    Ballot,
    Participant,
    Rating,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
)
from engine.round_reading import RoundReading, ballot_marks
from engine.rounds import (
    ballot_counts,
    close_round,
    open_round_or_none,
    panel_size,
    prepare_next_round,
)
from engine.statement_statistics import StatementStatistics
from engine.stats.api import analyze, decide_after_round
from engine.studyfile import StudyFile
from engine.verdict import Verdict, VerdictRules

RATING_COLUMNS = ["round", "statement", "participant", "rating", "group"]


@dataclass(frozen=True)
class StatementOutcome:
    """What a round concluded about one statement on its ballot: the numbers, the verdict
    the frozen protocol gives them, and whether the next round asks it again."""

    statistics: StatementStatistics
    version_id: int
    carried: bool
    verdict: Verdict

    @property
    def code(self) -> str:
        return self.statistics.code


@dataclass(frozen=True)
class Conclusion:
    round: int
    outcomes: list[StatementOutcome]
    next_round: int | None
    finished: bool
    reason: str
    panel_size: int
    submitted: int
    stopped_because: StopReason | None = None  # set when this round ended the study
    # Each statement's wording in this round, by version id (what the summaries quote).
    wording: Mapping[int, str] = field(default_factory=dict)


async def ratings_frame(session: AsyncSession, study_id: str,
                        up_to_round: int | None = None,
                        confidence: bool = False,
                        ballots: Collection[int] | None = None) -> pd.DataFrame:
    """Every rating the statistics use, in ``delphi analyze``'s long format (pseudonyms
    only); with ``confidence``, a ``confidence`` column too (low / medium / high, or
    empty); with ``ballots``, only the ratings on those ballots. Under ``[consensus]
    ballots = "submitted"`` only ratings on submitted ballots count, otherwise every
    answered statement."""
    query = (select(Round.number, Statement.code, StatementVersion.version,
                    Participant.pseudonym, Rating.value, Participant.stakeholder_group,
                    Rating.confidence)
             .join(Ballot, Ballot.id == Rating.ballot_id)
             .join(Round, Round.id == Ballot.round_id)
             .join(Participant, Participant.id == Ballot.participant_id)
             .join(StatementVersion, StatementVersion.id == Rating.statement_version_id)
             .join(Statement, Statement.id == StatementVersion.statement_id)
             .where(Round.study_id == study_id)
             .order_by(Round.number, Statement.position, Participant.pseudonym))
    if up_to_round is not None:
        query = query.where(Round.number <= up_to_round)
    if ballots is not None:
        query = query.where(Ballot.id.in_(ballots))
    if study_file_of(await get_study(session, study_id)).consensus.ballots == "submitted":
        query = query.where(Ballot.submitted_at.is_not(None))
    rows = (await session.execute(query)).all()
    frame = pd.DataFrame(
        [(r, version_key(code, version), who, value, group)
         for r, code, version, who, value, group, _ in rows], columns=RATING_COLUMNS)
    frame["rating"] = frame["rating"].astype("Int64")
    if confidence:
        frame["confidence"] = pd.array(
            [CONFIDENCE_LEVELS.get(level) if level else None for *_, level in rows],
            dtype=object)
    return frame


def _analysis(spec: StudyFile, round_number: int, eligible: int,
              frame: pd.DataFrame) -> pd.DataFrame:
    """The analysis of every round in ``frame``, ``eligible`` experts expected in this
    round (an empty table when nobody rated anything)."""
    if frame.empty:
        return pd.DataFrame()
    return analyze(frame, spec.consensus, spec.scale.points, spec.stopping,
                   eligible={round_number: eligible})


def _by_key(results: pd.DataFrame, round_number: int) -> dict[str, dict[str, Any]]:
    """This round's rows of the analysis, by wording key."""
    if results.empty:
        return {}
    rows = results[results["round"] == round_number]
    return {str(r["statement"]): r for r in rows.to_dict("records")}


def _statistics(spec: StudyFile, round_: Round, item: BallotItem,
                by_key: dict[str, dict[str, Any]]) -> StatementStatistics:
    row = by_key.get(version_key(item.code, item.version))
    if row is None:
        return StatementStatistics.unrated(round_.number, item.code, item.version,
                                           spec.scale.points)
    return StatementStatistics.from_analysis(row, item.code, item.version)


def _outcome(item: BallotItem, statistics: StatementStatistics, carried: bool,
             rules: VerdictRules) -> StatementOutcome:
    return StatementOutcome(statistics, item.version_id, carried, statistics.verdict(rules))


async def read_round(store: Store, study_id: str) -> RoundReading | None:
    """The open round's ratings and their analysis, read apart from any transaction
    before its close takes the write lock, then once more brought up to date (apart
    too), so that little is left to do inside (engine.round_reading). None when no round
    is open or the store cannot read apart."""
    async def read(session: AsyncSession) -> RoundReading | None:
        round_ = await open_round_or_none(session, study_id)
        if round_ is None:
            return None
        spec = study_file_of(await get_study(session, study_id))
        frame = await ratings_frame(session, study_id, round_.number)
        eligible = await panel_size(session, round_)
        return RoundReading.of(round_.id, round_.number, spec, eligible, frame,
                               _analysis(spec, round_.number, eligible, frame),
                               await ballot_marks(session, round_.id))

    async def catch_up(session: AsyncSession) -> RoundReading | None:
        round_ = await session.get(Round, reading.round_id) if reading else None
        if reading is None or round_ is None:
            return reading
        spec = study_file_of(await get_study(session, study_id))
        if spec != reading.spec:  # the study file changed meanwhile: read inside instead
            return None
        return await _up_to_date(session, spec, round_, await panel_size(session, round_),
                                 reading)

    reading = await store.read_apart(read)
    return await store.read_apart(catch_up) if reading is not None else None


async def _up_to_date(session: AsyncSession, spec: StudyFile, round_: Round, eligible: int,
                      reading: RoundReading) -> RoundReading:
    """The reading as the ratings are now: only the ballots that changed since are read."""
    marks = await ballot_marks(session, round_.id)
    changed = reading.changed(marks)
    if not changed and eligible == reading.panel_size:
        return reading
    fresh = await ratings_frame(session, spec.study.id, round_.number, ballots=changed)
    return reading.updated(marks, fresh, eligible,
                           functools.partial(_analysis, spec, round_.number, eligible))


async def _results_now(session: AsyncSession, spec: StudyFile, round_: Round, eligible: int,
                       reading: RoundReading) -> pd.DataFrame:
    """:func:`_up_to_date`'s results alone, with work in proportion to what changed."""
    marks = await ballot_marks(session, round_.id)
    changed = reading.changed(marks)
    if not changed and eligible == reading.panel_size:
        return reading.results
    fresh = await ratings_frame(session, spec.study.id, round_.number, ballots=changed)
    return reading.results_now(marks, fresh, eligible,
                               functools.partial(_analysis, spec, round_.number, eligible))


async def _round_results(session: AsyncSession, spec: StudyFile, round_: Round,
                         eligible: int, reading: RoundReading | None) -> pd.DataFrame:
    """The analysis of the ratings up to ``round_`` as they are now: the reading brought
    up to date when it is of this round, else everything read and analysed here."""
    if reading is None or reading.round_id != round_.id or reading.spec != spec:
        return _analysis(spec, round_.number, eligible,
                         await ratings_frame(session, spec.study.id, round_.number))
    return await _results_now(session, spec, round_, eligible, reading)


async def conclude_round(session: AsyncSession, study_id: str, now: datetime,
                         reading: RoundReading | None = None) -> Conclusion:
    """Close the open round, store every statement's result, prepare the next round.
    With ``reading`` (read_round, made before this transaction), only the ballots that
    changed since are read here."""
    spec = study_file_of(await get_study(session, study_id))
    closed = await close_round(session, study_id, now)
    round_ = closed.round
    items = await ballot_items(session, round_)
    results = await _round_results(session, spec, round_, closed.panel_size, reading)
    by_key = _by_key(results, round_.number)
    if results.empty:
        finished = round_.number >= spec.study.max_rounds
        carry = [] if finished else [i.code for i in items]
        reason = "no ratings were given"
        stop: StopReason | None = StopReason.MAX_ROUNDS if finished else None
    else:
        decision = decide_after_round(results, spec.stopping, spec.study.max_rounds,
                                      round_.number)
        keys = {version_key(i.code, i.version): i.code for i in items}
        carry_keys = set(map(str, decision.carry))
        missing = [i.code for i in items if version_key(i.code, i.version) not in by_key]
        finished = decision.finished and not (missing and round_.number
                                              < spec.study.max_rounds)
        carry = [] if finished else [keys[k] for k in keys if k in carry_keys] + missing
        reason = decision.reason
        stop = (StopReason(decision.stopped_because) if decision.stopped_because
                else StopReason.MAX_ROUNDS) if finished else None
    rules = VerdictRules.of(spec)
    outcomes, stored = [], []
    for item in items:
        statistics = _statistics(spec, round_, item, by_key)
        outcomes.append(_outcome(item, statistics, item.code in carry, rules))
        stored.append(statistics.row_values(round_.id, item.version_id, now))
    if stored:  # one statement for every row: this runs inside the close's write lock
        await session.execute(insert(RoundResult), stored)
    draft = await prepare_next_round(session, study_id, carry) if carry else None
    if draft is None:
        stop = stop or StopReason.RESOLVED
        await record_end(session, study_id, now, stop)
    submitted, _ = await ballot_counts(session, round_.id)
    return Conclusion(round=round_.number, outcomes=outcomes,
                      next_round=draft.number if draft else None,
                      finished=draft is None, reason=reason,
                      panel_size=closed.panel_size, submitted=submitted,
                      stopped_because=stop if draft is None else None,
                      wording={item.version_id: item.text for item in items})


async def live_results(session: AsyncSession, study_id: str,
                       round_: Round) -> list[StatementOutcome]:
    """The open round's statistics so far (nothing stored; no stability yet)."""
    spec = study_file_of(await get_study(session, study_id))
    items = await ballot_items(session, round_)
    frame = await ratings_frame(session, study_id, round_.number)
    frame = frame[frame["round"] == round_.number]
    by_key = _by_key(_analysis(spec, round_.number, await panel_size(session, round_),
                               frame), round_.number)
    rules = VerdictRules.of(spec)
    return [_outcome(item, _statistics(spec, round_, item, by_key), False, rules)
            for item in items]
