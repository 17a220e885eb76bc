"""Closing a round for good: statistics, stored results, the stopping rule, the next draft.

One call, inside the coordinator's transaction, so a round is never half closed: either
the round is closed *and* its results stored *and* the next round prepared, or nothing.

Statements are analysed under their wording's key (:func:`engine.codec.version_key`:
``S05`` for a first wording, ``S05.v2`` for a revised one). ``ratings.csv`` uses the same
keys, so ``delphi analyze`` on the export reproduces the stored results.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, bindparam, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from engine.ballots import BallotItem, ballot_items
from engine.codec import version_key
from engine.db import Store, in_one_trip, pace
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
from engine.round_reading import ResultsNow, RoundReading, Rows, ballot_marks, rows_by_key
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
                        ballots: Collection[int] | None = None,
                        spec: StudyFile | None = None) -> pd.DataFrame:
    """Every rating the statistics use, in ``delphi analyze``'s long format (pseudonyms
    only); with ``confidence``, a ``confidence`` column too (low / medium / high, or
    empty); with ``ballots``, only the ratings on those ballots. Under ``[consensus]
    ballots = "submitted"`` only ratings on submitted ballots count, otherwise every
    answered statement. ``spec``, when the caller has the study file already, spares
    reading it again."""
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
    spec = spec or study_file_of(await get_study(session, study_id))
    if spec.consensus.ballots == "submitted":
        query = query.where(Ballot.submitted_at.is_not(None))
    step = pace(session)

    def read(connection: Connection) -> pd.DataFrame:
        result = connection.execute(query)
        columns = _LongFormat()
        while rows := result.fetchmany(READ_PIECE_ROWS):
            columns.add(rows)
            step()
        return columns.frame(confidence)

    return await in_one_trip(session, read)


# Rows read, and put in columns, at a time (see _LongFormat).
READ_PIECE_ROWS = 5_000


class _LongFormat:
    """:func:`ratings_frame`'s rows gathered into ``delphi analyze``'s long format,
    column by column.

    A round's close reads 100,000 ratings in a thread beside the event loop, a piece at
    a time with pauses between (engine.db.pace). Python code run per row would take the
    GIL from the presses being served, so the columns are made by C loops (``zip``,
    ``map``, ``extend``), each wording's key once, and the table once at the end (its
    columns' types are inferred from all the rows)."""

    def __init__(self) -> None:
        self._columns: tuple[list[Any], ...] = tuple([] for _ in range(6))
        self._keys: dict[tuple[str, int], str] = {}

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        rounds, codes, versions, people, values, groups, levels = zip(*rows, strict=True)
        wordings = list(zip(codes, versions, strict=True))
        for wording in set(wordings).difference(self._keys):
            self._keys[wording] = version_key(*wording)
        for column, values_ in zip(self._columns, (
                rounds, map(self._keys.__getitem__, wordings), people, values, groups,
                levels), strict=True):
            column.extend(values_)

    def frame(self, confidence: bool) -> pd.DataFrame:
        rounds, keys, people, values, groups, levels = self._columns
        frame = _typed(pd.DataFrame(dict(zip(RATING_COLUMNS, (
            rounds, keys, people, values, groups), strict=True)) if rounds else
            pd.DataFrame([], columns=RATING_COLUMNS)))
        if confidence:
            frame["confidence"] = pd.array(
                [CONFIDENCE_LEVELS.get(level) if level else None for level in levels],
                dtype=object)
        return frame


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


def _ratings_on_ballots_query(submitted_only: bool) -> Select[Any]:
    ratings, ballots, people = Rating.__table__, Ballot.__table__, Participant.__table__
    query = (select(ratings.c.statement_version_id, people.c.pseudonym, ratings.c.value,
                    people.c.stakeholder_group)
             .select_from(ratings.join(ballots, ballots.c.id == ratings.c.ballot_id)
                          .join(people, people.c.id == ballots.c.participant_id))
             .where(ballots.c.id.in_(bindparam("ballots", expanding=True))))
    return query.where(ballots.c.submitted_at.is_not(None)) if submitted_only else query


# By whether only submitted ballots count ([consensus] ballots).
_RATINGS_ON_BALLOTS = {flag: _ratings_on_ballots_query(flag) for flag in (False, True)}


async def _ratings_on_ballots(session: AsyncSession, spec: StudyFile, round_number: int,
                              items: list[BallotItem], ballots: Collection[int]
                              ) -> pd.DataFrame:
    """:func:`ratings_frame` of these ballots of round ``round_number``, read as plain
    rows in one trip (the close reads the ballots that moved inside its write lock),
    each wording's key taken from the round's ``items``. Falls back to
    :func:`ratings_frame` should a rating be on a wording not among them."""
    query = _RATINGS_ON_BALLOTS[spec.consensus.ballots == "submitted"]
    rows = await in_one_trip(session, lambda connection: connection.execute(
        query, {"ballots": list(ballots)}).all())
    if not rows:
        return _typed(pd.DataFrame([], columns=RATING_COLUMNS))
    keys = {i.version_id: version_key(i.code, i.version) for i in items}
    versions, people, values, groups = zip(*rows, strict=True)
    if not keys.keys() >= set(versions):
        return await ratings_frame(session, spec.study.id, round_number, ballots=ballots,
                                   spec=spec)
    return _typed(pd.DataFrame(dict(zip(RATING_COLUMNS, (
        [round_number] * len(rows), list(map(keys.__getitem__, versions)), people, values,
        groups), strict=True))))


def _analysis(spec: StudyFile, round_number: int, eligible: int,
              frame: pd.DataFrame) -> pd.DataFrame:
    """The analysis of every round in ``frame``, ``eligible`` experts expected in this
    round (an empty table when nobody rated anything)."""
    if frame.empty:
        return pd.DataFrame()
    return analyze(frame, spec.consensus, spec.scale.points, spec.stopping,
                   eligible={round_number: eligible})


def _statistics(spec: StudyFile, round_: Round, item: BallotItem, by_key: Rows,
                reused: Mapping[str, StatementStatistics]) -> StatementStatistics:
    """The item's statistics: ``reused`` when made from the same row already, else made
    from its row of the analysis (or those of a wording nobody rated)."""
    key = version_key(item.code, item.version)
    if key in reused:
        return reused[key]
    row = by_key.get(key)
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
        step = pace(session)
        frame = await ratings_frame(session, study_id, round_.number)
        eligible = await panel_size(session, round_)
        results = _analysis(spec, round_.number, eligible, frame)
        step()
        marks = await ballot_marks(session, round_.id)
        step()
        return RoundReading.of(round_.id, round_.number, spec, eligible, frame, results,
                               marks)

    async def catch_up(session: AsyncSession) -> RoundReading | None:
        round_ = await session.get(Round, reading.round_id) if reading else None
        if reading is None or round_ is None:
            return reading
        spec = study_file_of(await get_study(session, study_id))
        if spec != reading.spec:  # the study file changed meanwhile: read inside instead
            return None
        return await _up_to_date(session, spec, round_, await panel_size(session, round_),
                                 reading)

    async def prepared(session: AsyncSession) -> RoundReading | None:
        caught_up = await catch_up(session)
        if caught_up is None:
            return None
        round_ = await session.get(Round, caught_up.round_id)
        if round_ is None:
            return caught_up
        items = await ballot_items(session, round_)
        return caught_up.with_statistics({
            version_key(i.code, i.version): _statistics(caught_up.spec, round_, i,
                                                        caught_up.by_key, {})
            for i in items})

    reading = await store.read_apart(read)
    return (await store.read_apart(prepared, paced=False)
            if reading is not None else None)


async def _up_to_date(session: AsyncSession, spec: StudyFile, round_: Round, eligible: int,
                      reading: RoundReading) -> RoundReading:
    """The reading as the ratings are now: only the ballots that changed since are read."""
    marks = await ballot_marks(session, round_.id)
    changed = reading.changed(marks)
    if not changed and eligible == reading.panel_size:
        return reading
    fresh = await ratings_frame(session, spec.study.id, round_.number, ballots=changed,
                                spec=spec)
    return reading.updated(marks, fresh, eligible,
                           functools.partial(_analysis, spec, round_.number, eligible))


async def _results_now(session: AsyncSession, spec: StudyFile, round_: Round, eligible: int,
                       reading: RoundReading) -> tuple[ResultsNow, int]:
    """:func:`_up_to_date`'s results alone, with work in proportion to what changed, and
    how many of the round's ballots are submitted now."""
    marks = await ballot_marks(session, round_.id)
    submitted = sum(mark.submitted for mark in marks.values())
    changed = reading.changed(marks)
    if not changed and eligible == reading.panel_size:
        return ResultsNow(reading.results, reading.by_key, frozenset()), submitted
    fresh = await _ratings_on_ballots(session, spec, round_.number,
                                      await ballot_items(session, round_), changed)
    return reading.results_now(marks, fresh, eligible, functools.partial(
        _analysis, spec, round_.number, eligible)), submitted


async def _round_results(session: AsyncSession, spec: StudyFile, round_: Round,
                         eligible: int, reading: RoundReading | None
                         ) -> tuple[ResultsNow, Mapping[str, StatementStatistics], int]:
    """The analysis of the ratings up to ``round_`` as they are now, the statistics
    that still hold from the reading, and the ballots submitted: the reading brought up
    to date when it is of this round, else everything read and analysed here."""
    if reading is None or reading.round_id != round_.id or reading.spec != spec:
        results = _analysis(spec, round_.number, eligible,
                            await ratings_frame(session, spec.study.id, round_.number,
                                                spec=spec))
        submitted, _ = await ballot_counts(session, round_.id)
        return ResultsNow(results, rows_by_key(results, round_.number), None), {}, submitted
    now, submitted = await _results_now(session, spec, round_, eligible, reading)
    reused = ({} if now.touched is None else
              {key: s for key, s in reading.statistics.items() if key not in now.touched})
    return now, reused, submitted


async def conclude_round(session: AsyncSession, study_id: str, now: datetime,
                         reading: RoundReading | None = None) -> Conclusion:
    """Close the open round, store every statement's result, prepare the next round.
    With ``reading`` (read_round, made before this transaction), only the ballots that
    changed since are read here."""
    spec = study_file_of(await get_study(session, study_id))
    closed = await close_round(session, study_id, now)
    round_ = closed.round
    items = await ballot_items(session, round_)
    now_, reused, submitted = await _round_results(session, spec, round_, closed.panel_size,
                                                   reading)
    results, by_key = now_.results, now_.by_key
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
        statistics = _statistics(spec, round_, item, by_key, reused)
        outcomes.append(_outcome(item, statistics, item.code in carry, rules))
        stored.append(statistics.row_values(round_.id, item.version_id, now))
    if stored:  # one statement for every row: this runs inside the close's write lock
        await in_one_trip(session, lambda connection: connection.execute(
            insert(RoundResult), stored))
    draft = await prepare_next_round(session, study_id, carry) if carry else None
    if draft is None:
        stop = stop or StopReason.RESOLVED
        await record_end(session, study_id, now, stop)
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
    by_key = rows_by_key(_analysis(spec, round_.number, await panel_size(session, round_),
                                    frame), round_.number)
    rules = VerdictRules.of(spec)
    return [_outcome(item, _statistics(spec, round_, item, by_key, {}), False, rules)
            for item in items]
