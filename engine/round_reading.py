"""A round's ratings and statistics, read before its close takes the write lock and
brought up to date inside it.

Reading a large round (1,000 experts x 100 statements: 100,000 ratings) and analysing it
takes the best part of a second. Inside the close's write transaction that would stall
every press (SQLite has one writer, and its driver shares the bot's event loop). So the
close reads and analyses first, apart from everything (engine.db.Store.read_apart),
noting each ballot's revision (kept by the database, see engine.models.Ballot) and
whether it was submitted. Inside its transaction it reads those marks again, a thousand
small rows, reads afresh only the ballots whose mark moved, and analyses again only the
statements whose ratings those ballots changed. Experts keep pressing meanwhile and no
rating is lost: one written before the close's transaction moved its ballot's mark and
is read again; one written after it finds the round closed and is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.db import in_one_trip
from engine.models import Ballot, Participant
from engine.statement_statistics import StatementStatistics
from engine.stats.ordering import natural_key
from engine.studyfile import StudyFile

# Analyses a ratings frame the way the close does (engine.conclusion): its results table.
Analysis = Callable[[pd.DataFrame], pd.DataFrame]


class BallotMark(NamedTuple):
    """What a ballot looked like when read: a change to any of it moves the mark. (A
    named tuple: the close reads a thousand of them inside its write transaction.)"""

    revision: int
    submitted: bool
    participant: str  # pseudonym, as in the ratings frame


# One row of an analysis (a ``to_dict("records")`` record), by wording key.
Rows = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ResultsNow:
    """The analysis as the ratings are now: the table, this round's rows of it by wording
    key, and the keys analysed again since the reading (None: every key was)."""

    results: pd.DataFrame
    by_key: Rows
    touched: frozenset[str] | None


@dataclass(frozen=True)
class RoundReading:
    """What the close of round ``round_id`` needs, read before its transaction: the
    ratings up to this round (conclusion.ratings_frame), their analysis with
    ``panel_size`` experts expected, and the mark of every ballot of the round as it was
    in the same snapshot. Made by :meth:`of`, which indexes the frame's rows and this
    round's results; the close may add each statement's statistics
    (:meth:`with_statistics`), so that inside its transaction only the statements whose
    ratings moved are turned into statistics again."""

    round_id: int
    round_number: int
    spec: StudyFile  # the study file it was read and analysed under
    panel_size: int
    frame: pd.DataFrame
    results: pd.DataFrame
    marks: Mapping[int, BallotMark]  # ballot id -> mark
    by_statement: Mapping[Hashable, np.ndarray]  # statement key -> its rows, every round
    by_participant: Mapping[Hashable, np.ndarray]  # pseudonym -> their rows of this round
    by_key: Rows  # this round's rows of ``results``
    # This round's statistics by wording key, made from ``by_key`` (engine.conclusion).
    statistics: Mapping[str, StatementStatistics] = field(default_factory=dict)

    @classmethod
    def of(cls, round_id: int, round_number: int, spec: StudyFile, panel_size: int,
           frame: pd.DataFrame, results: pd.DataFrame,
           marks: Mapping[int, BallotMark]) -> RoundReading:
        rows = np.arange(len(frame))
        this_round = (frame["round"] == round_number).to_numpy(dtype=bool)
        return cls(round_id, round_number, spec, panel_size, frame, results,
                   dict(marks), _positions(frame["statement"], rows),
                   _positions(frame["participant"][this_round], rows[this_round]),
                   rows_by_key(results, round_number))

    def with_statistics(self, statistics: Mapping[str, StatementStatistics]
                        ) -> RoundReading:
        """This reading with this round's statistics made from :attr:`by_key`."""
        return replace(self, statistics=dict(statistics))

    def changed(self, marks: Mapping[int, BallotMark]) -> list[int]:
        """The ballots (ids) whose mark differs from ``marks``, read now."""
        return sorted({b for b, mark in marks.items() if self.marks.get(b) != mark}
                      | {b for b in self.marks if b not in marks})

    def results_now(self, marks: Mapping[int, BallotMark], fresh: pd.DataFrame,
                    panel_size: int, analysis: Analysis) -> ResultsNow:
        """The analysis of the ratings as they are now, given ``marks`` and ``fresh``
        (the ratings of the ballots whose mark moved, read now): only the statements
        whose ratings moved are analysed again, unless the panel size moved (it is every
        statement's denominator). Work in proportion to what changed, for inside the
        close's write transaction."""
        if panel_size != self.panel_size:
            results = self.updated(marks, fresh, panel_size, analysis).results
            return ResultsNow(results, rows_by_key(results, self.round_number), None)
        stale = self._stale_rows(marks)
        rerated = self._rerated(stale, fresh)
        if rerated is not None:
            frame, touched = rerated
            subset = frame.take(np.concatenate([self.by_statement[key] for key in touched])
                                if touched else _NONE)
        else:
            touched = _statements_differing(self.frame.take(stale), fresh)
            rows = np.setdiff1d(np.concatenate([self.by_statement.get(key, _NONE)
                                                for key in touched] or [_NONE]),
                                stale, assume_unique=True)
            subset = pd.concat([self.frame.take(rows),
                                fresh[fresh["statement"].isin(touched)]], ignore_index=True)
        if not touched:
            return ResultsNow(self.results, self.by_key, frozenset())
        partial = analysis(subset)
        by_key = {key: row for key, row in self.by_key.items() if key not in touched}
        by_key.update(rows_by_key(partial, self.round_number))
        return ResultsNow(_merged(self.results, partial, self.round_number, touched),
                          by_key, frozenset(map(str, touched)))

    def updated(self, marks: Mapping[int, BallotMark], fresh: pd.DataFrame,
                panel_size: int, analysis: Analysis) -> RoundReading:
        """This reading with the changed ballots' rows replaced by ``fresh`` and analysed
        again where that changed anything. Row order does not matter to the statistics
        (engine.stats.encoding orders rounds and statements itself)."""
        stale = self._stale_rows(marks)
        rerated = self._rerated(stale, fresh) if panel_size == self.panel_size else None
        if rerated is not None:  # the same rows with new ratings: the indexes still hold
            frame, touched = rerated
            results = self.results if not touched else _merged(
                self.results, analysis(frame.take(np.concatenate(
                    [self.by_statement[key] for key in touched]))),
                self.round_number, touched)
            return replace(self, frame=frame, results=results, marks=dict(marks),
                           by_key=rows_by_key(results, self.round_number), statistics={})
        keep = np.ones(len(self.frame), dtype=bool)
        keep[stale] = False
        frame = pd.concat([self.frame[keep], fresh], ignore_index=True)
        if panel_size != self.panel_size:
            results = analysis(frame)
        else:
            touched = _statements_differing(self.frame.take(stale), fresh)
            results = self.results if not touched else _merged(
                self.results, analysis(frame[frame["statement"].isin(touched)]),
                self.round_number, touched)
        return RoundReading.of(self.round_id, self.round_number, self.spec,
                               panel_size, frame, results, marks)

    def _rerated(self, stale: np.ndarray, fresh: pd.DataFrame
                 ) -> tuple[pd.DataFrame, set[Hashable]] | None:
        """The frame with the ``stale`` rows' ratings replaced by ``fresh``'s, and the
        statements whose ratings that changed; None unless ``fresh`` holds exactly the
        stale rows' statements and experts, in the same groups (the usual case: experts
        changed ratings, added or took none away). Rows keep their places, so the
        frame's indexes still hold and nothing is copied but the ratings."""
        if len(fresh) != len(stale):
            return None
        old = self.frame.take(stale)
        place = dict(zip(zip(old["statement"].tolist(), old["participant"].tolist(),
                             strict=True), stale.tolist(), strict=True))
        found = list(map(place.get, zip(fresh["statement"].tolist(),
                                        fresh["participant"].tolist(), strict=True)))
        if None in found or len(set(found)) != len(found):
            return None
        at = np.asarray(found, dtype=np.intp)
        if _groups(self.frame["group"].take(at)) != _groups(fresh["group"]):
            return None
        ratings = self.frame["rating"].array
        moved = (_plain_ratings(ratings.take(at)) != _plain_ratings(fresh["rating"].array))
        touched = set(fresh["statement"].to_numpy(dtype=object)[moved].tolist())
        if not touched:
            return self.frame, touched
        rerated = ratings.copy()
        rerated[at] = fresh["rating"].array
        frame = self.frame.copy(deep=False)
        frame["rating"] = rerated
        return frame, touched

    def _stale_rows(self, marks: Mapping[int, BallotMark]) -> np.ndarray:
        """This round's rows of the experts whose ballot's mark moved."""
        people = {self.marks[b].participant for b in self.changed(marks) if b in self.marks}
        found = [self.by_participant[who] for who in people if who in self.by_participant]
        return np.concatenate(found) if found else _NONE


_NONE = np.array([], dtype=np.intp)


def rows_by_key(results: pd.DataFrame, round_number: int) -> dict[str, dict[str, Any]]:
    """Round ``round_number``'s rows of an analysis, by wording key."""
    if results.empty:
        return {}
    rows = results[results["round"] == round_number]
    return {str(r["statement"]): r for r in rows.to_dict("records")}


def _positions(keys: pd.Series, rows: np.ndarray) -> dict[Hashable, np.ndarray]:
    """Each key's row positions (in ``rows``)."""
    if not len(keys):
        return {}
    codes, uniques = pd.factorize(keys, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return {uniques[i]: rows[order[bounds[i]:bounds[i + 1]]] for i in range(len(uniques))}


def _plain_ratings(ratings: Any) -> np.ndarray:
    """Ratings as integers, "unable to rate" as 0."""
    return np.asarray(pd.array(ratings, dtype="Int64").fillna(0).to_numpy(dtype=np.int64))


def _groups(groups: pd.Series) -> list[Any]:
    """Stakeholder groups as plain values, no group as None."""
    return list(groups.astype(object).where(groups.notna(), None).tolist())


def _rows(frame: pd.DataFrame) -> set[tuple[Any, ...]]:
    """The rows as plain, comparable tuples ("unable to rate" as 0, no group as None)."""
    return set(zip(frame["statement"].tolist(), frame["participant"].tolist(),
                   _plain_ratings(frame["rating"].array).tolist(), _groups(frame["group"]),
                   strict=True))


def _statements_differing(old: pd.DataFrame, new: pd.DataFrame) -> set[Hashable]:
    return {statement for statement, *_ in _rows(old) ^ _rows(new)}


def _merged(results: pd.DataFrame, partial: pd.DataFrame, round_number: int,
            touched: set[Hashable]) -> pd.DataFrame:
    """``results`` with this round's rows of the ``touched`` statements taken from
    ``partial`` (an analysis of those statements alone: their rows of this round are
    what an analysis of everything gives; earlier rounds' rows are kept, as their
    ratings cannot change), in the order a full analysis gives."""
    if results.empty:
        return partial.reset_index(drop=True)
    kept = results[~((results["round"] == round_number)
                     & results["statement"].isin(touched))]
    mine = partial[partial["round"] == round_number] if len(partial) else partial
    merged = pd.concat([kept, mine], ignore_index=True) if len(mine) else kept
    rounds = merged["round"].tolist()
    statements = merged["statement"].tolist()
    keys = {statement: natural_key(statement) for statement in set(statements)}
    order = sorted(range(len(merged)), key=lambda i: (int(rounds[i]), keys[statements[i]]))
    return merged.iloc[order].reset_index(drop=True)


_BALLOT_MARKS = (select(Ballot.id, Ballot.revision, Ballot.submitted_at.is_not(None),
                        Participant.pseudonym)
                 .join(Participant, Participant.id == Ballot.participant_id)
                 .where(Ballot.round_id == bindparam("round_id")))


async def ballot_marks(session: AsyncSession, round_id: int) -> dict[int, BallotMark]:
    """Every ballot of the round with its mark: one small row per expert, read in one
    trip on the connection (the close reads them inside its write transaction)."""
    rows = await in_one_trip(session, lambda connection: connection.execute(
        _BALLOT_MARKS, {"round_id": round_id}).all())
    return {ballot: BallotMark(revision, bool(submitted), who)
            for ballot, revision, submitted, who in rows}
