"""A round's close reads the ratings before its write transaction and brings them up to
date inside it: what experts pressed in between is counted, what they press after the
close is refused, and the results are those of a close that read everything inside."""

from __future__ import annotations

import random
from statistics import median

import pandas as pd
import pytest
from sqlalchemy import select

from engine import ballots, conclusion, rounds
from engine.clock import ManualClock
from engine.conclusion import RATING_COLUMNS
from engine.db import Store
from engine.errors import RoundClosed
from engine.models import Ballot, RoundResult, Statement, StatementVersion
from engine.round_reading import BallotMark, RoundReading, Rows, rows_by_key
from engine.stats.api import analyze
from engine.studyfile import ConsensusSection, StoppingSection
from tests.engine.helpers import enrol_panel, loaded, tiny_study


async def _results(store: Store) -> dict[int, tuple[int, float | None]]:
    async with store.transaction() as session:
        rows = await session.execute(select(StatementVersion.id, RoundResult.n,
                                            RoundResult.median)
                                     .join(RoundResult, RoundResult.statement_version_id
                                           == StatementVersion.id))
        return {version: (n, median) for version, n, median in rows}


async def _rate(store: Store, expert: int, code: str, value: int | None,
                clock: ManualClock) -> None:
    async with store.transaction() as session:
        await ballots.record_rating(session, expert, 1, code, value, clock.now())


async def test_every_rating_written_moves_its_ballots_revision(
        store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    [expert] = await enrol_panel(store, spec.study.id, 1, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    revisions = []
    for code, value in (("S01", 4), ("S01", 4), ("S01", 2), ("S02", None)):
        await _rate(store, expert, code, value, clock)
        async with store.transaction() as session:
            revisions.append(await session.scalar(select(Ballot.revision)))
    assert revisions == [1, 2, 3, 4]


async def test_ratings_pressed_between_the_reading_and_the_close_are_counted(
        store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    first, second, third = await enrol_panel(store, spec.study.id, 3, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    await _rate(store, first, "S01", 5, clock)
    await _rate(store, second, "S01", 5, clock)
    reading = await conclusion.read_round(store, spec.study.id)
    assert reading is not None and len(reading.frame) == 2
    await _rate(store, second, "S01", 1, clock)  # changed after the reading
    await _rate(store, third, "S01", 3, clock)  # a new ballot after the reading
    async with store.transaction() as session:
        outcome = await conclusion.conclude_round(session, spec.study.id, clock.now(),
                                                  reading)
    s01 = next(o for o in outcome.outcomes if o.code == "S01")
    assert (s01.statistics.n, s01.statistics.median) == (3, 3.0)
    with pytest.raises(RoundClosed, match="Round 1 has closed"):
        await _rate(store, first, "S01", 1, clock)


async def test_the_stored_results_count_every_rating_as_it_was_at_the_close(
        store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    experts = await enrol_panel(store, spec.study.id, 4, clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    given: dict[str, list[int]] = {s.id: [] for s in spec.statements}
    for index, expert in enumerate(experts):
        for position, statement in enumerate(spec.statements):
            value = (index * 3 + position) % spec.scale.points + 1
            await _rate(store, expert, statement.id, value, clock)
            given[statement.id].append(value)
    reading = await conclusion.read_round(store, spec.study.id)
    first = spec.statements[0].id
    await _rate(store, experts[0], first, spec.scale.points, clock)
    given[first][0] = spec.scale.points
    async with store.transaction() as session:
        await conclusion.conclude_round(session, spec.study.id, clock.now(), reading)
        versions = dict((await session.execute(
            select(StatementVersion.id, Statement.code)
            .join(Statement, Statement.id == StatementVersion.statement_id))).all())
    stored = {versions[v]: result for v, result in (await _results(store)).items()}
    assert stored == {code: (4, median(values)) for code, values in given.items()}


def _frame(rows: list[tuple[int, str, str, int | None, str | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=RATING_COLUMNS)
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


@pytest.mark.parametrize("only_rerated", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_a_reading_brought_up_to_date_analyses_as_if_everything_were_read_now(
        seed: int, only_rerated: bool) -> None:
    """Round 2 of a study with groups and a revised statement: experts change, add and
    (on an unsubmitted ballot) lose ratings after the reading, or (``only_rerated``)
    change ratings they had given. The reading brought up to date gives exactly the
    analysis of all the ratings read afresh."""
    chance = random.Random(seed)
    consensus = ConsensusSection(rule="all_of", rules=[
        ConsensusSection(rule="percent_agreement"), ConsensusSection(rule="median_iqr")],
        min_valid=3)
    stopping = StoppingSection(stability="wilcoxon")
    people = [f"P{i:02}" for i in range(14)]
    groups = {who: chance.choice(["clinician", "patient", None]) for who in people}
    keys = {1: [f"S{i}" for i in range(1, 9)],
            2: [f"S{i}" for i in range(1, 9) if i != 3] + ["S3.v2"]}

    def rating() -> int | None:
        return None if chance.random() < 0.1 else chance.randint(1, 9)

    before = {(r, key, who): rating() for r in (1, 2) for key in keys[r]
              for who in people[:12] if chance.random() < 0.9}
    eligible = chance.choice([12, 14])

    def analysis(frame: pd.DataFrame) -> pd.DataFrame:
        return analyze(frame, consensus, 9, stopping, eligible={2: eligible})

    def as_frame(ratings: dict[tuple[int, str, str], int | None]) -> pd.DataFrame:
        return _frame([(r, key, who, value, groups[who])
                       for (r, key, who), value in ratings.items()])

    marks = {index: BallotMark(0, False, who) for index, who in enumerate(people[:12])}
    frame = as_frame(before)
    reading = RoundReading.of(7, 2, tiny_study(), eligible, frame, analysis(frame), marks)
    after = dict(before)
    moved = chance.sample(people, 4)
    for who in moved:
        for key in chance.sample(keys[2], 3):
            if only_rerated:
                if (2, key, who) in after:
                    after[(2, key, who)] = rating()
            elif chance.random() < 0.2:
                after.pop((2, key, who), None)
            else:
                after[(2, key, who)] = rating()
    now_marks = {index: BallotMark(1 if who in moved else 0, False, who)
                 for index, who in enumerate(people)}
    fresh = as_frame({k: v for k, v in after.items() if k[0] == 2 and k[2] in moved})
    expected = analysis(as_frame(after))
    now = reading.results_now(now_marks, fresh, eligible, analysis)
    pd.testing.assert_frame_equal(now.results, expected)
    _assert_same_rows(now.by_key, rows_by_key(expected, 2))
    updated = reading.updated(now_marks, fresh, eligible, analysis)
    pd.testing.assert_frame_equal(updated.results, expected)
    _assert_same_rows(updated.by_key, rows_by_key(expected, 2))
    again = updated.results_now(now_marks, fresh.iloc[:0], eligible, analysis)
    pd.testing.assert_frame_equal(again.results, expected)  # once more, nothing new
    assert again.touched == frozenset()


def _assert_same_rows(rows: Rows, expected: Rows) -> None:
    """The same rows by key, NA where NA (NA is not equal to itself)."""
    assert set(rows) == set(expected)
    for key, row in expected.items():
        assert list(rows[key]) == list(row), key
        for name, value in row.items():
            assert (pd.isna(value) and pd.isna(rows[key][name])) or rows[key][name] == value, (
                key, name)
