"""A statement's statistics: built from the analysis, stored, read back unchanged."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.dialogue.texts import feedback_sections
from engine import ballots, conclusion, rounds
from engine.clock import ManualClock
from engine.codec import decode_counts, encode_counts, version_key
from engine.conclusion import StatementOutcome
from engine.db import Store
from engine.feedback import Feedback, statement_feedback
from engine.statement_statistics import StatementStatistics
from engine.stats import analyze
from engine.studyfile import ConsensusSection, StudyFile
from engine.verdict import Verdict, VerdictRules
from tests.engine.helpers import enrol_panel, loaded, tiny_study
from tests.stats.helpers import frame

PA = ConsensusSection(rule="percent_agreement")
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def _ratings(statement: str, values: Sequence[int | None],
             round_number: int = 1) -> list[tuple[object, ...]]:
    return [(round_number, statement, f"P{i + 1}", v) for i, v in enumerate(values)]


def _analysed(rows: list[tuple[object, ...]], round_number: int = 1
              ) -> dict[str, StatementStatistics]:
    results = analyze(frame(rows), PA, 9)
    return {str(row["statement"]): StatementStatistics.from_analysis(
                row, str(row["statement"]), 1)
            for row in results[results["round"] == round_number].to_dict("records")}


def test_the_analysis_gives_the_numbers_an_expert_sees() -> None:
    shown = _analysed(_ratings("S1", [9, 9, 8, 7, 5, None]) + _ratings("S2", [None]))
    s1, s2 = shown["S1"], shown["S2"]
    assert dict(s1.counts) == {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 0, 7: 1, 8: 1, 9: 2}
    assert (s1.n, s1.n_unable, s1.median, s1.iqr, s1.pct_agree) == (5, 1, 8.0, 2.0, 80.0)
    assert s1.consensus == "in" and s1.stable is None and s1.status == "resolved"
    assert s2.median is None and (s2.n, s2.n_unable) == (0, 1)
    assert type(s1.median) is float and type(s1.n) is int  # plain Python, storable as JSON


def test_what_a_round_stores_reads_back_unchanged() -> None:
    rows = (_ratings("S1", [9, 9, 8, 7, 5]) + _ratings("S1", [9, 9, 9, 8, 7], 2))
    computed = _analysed(rows, round_number=2)["S1"]
    assert computed.stable is not None and computed.pct_change is not None
    assert {"mean", "sd", "wilcoxon_p", "mcnemar_p", "participants"} <= set(computed.further)
    row = computed.to_row(round_id=7, version_id=3, computed_at=NOW)
    row.details = json.loads(json.dumps(row.details))  # as the database hands it back
    assert StatementStatistics.from_row(row, 2, "S1", 1) == computed


def test_a_wording_nobody_rated_is_stored_with_zero_counts_and_is_not_rated() -> None:
    unrated = StatementStatistics.unrated(1, "S04", 2, points=5)
    assert unrated.key == "S04.v2"
    assert unrated.to_row(1, 1, NOW).details["counts"] == {"1": 0, "2": 0, "3": 0, "4": 0,
                                                           "5": 0}
    assert unrated.verdict(VerdictRules()) is Verdict.NOT_RATED


def test_the_verdict_is_the_protocols() -> None:
    reached = StatementStatistics(1, "S01", 1, n=10, consensus="in", stable=None)
    assert reached.verdict(VerdictRules()) is Verdict.ENDORSED
    assert reached.verdict(VerdictRules(require_stability=True)) is Verdict.NOT_STABLE
    assert reached.verdict(VerdictRules(min_valid=11)) is Verdict.TOO_FEW_VALID
    assert reached.verdict(VerdictRules(), dropped=True) is Verdict.DROPPED


def test_counts_and_wording_keys_have_one_spelling() -> None:
    assert encode_counts({1: 0, 9: 2}) == {"1": 0, "9": 2}
    assert decode_counts(encode_counts({1: 0, 9: 2})) == {1: 0, 9: 2}
    assert decode_counts(None) == {}
    assert (version_key("S05", 1), version_key("S05", 2)) == ("S05", "S05.v2")


async def _s01_after_round_one(store: Store, clock: ManualClock, spec: StudyFile,
                               values: Sequence[int | None]
                               ) -> tuple[StatementOutcome, Feedback | None]:
    """Four experts rate S01, the round closes and the next opens: S01's outcome and the
    first expert's feedback card on the next ballot."""
    await loaded(store, clock.now(), spec)
    experts = await enrol_panel(store, spec.study.id, len(values), clock.now())
    async with store.transaction() as session:
        await rounds.open_round(session, spec.study.id, clock.now())
    for expert, value in zip(experts, values, strict=True):
        async with store.transaction() as session:
            await ballots.record_rating(session, expert, 1, "S01", value, clock.now())
    async with store.transaction() as session:
        closed = await conclusion.conclude_round(session, spec.study.id, clock.now())
        second = await rounds.open_round(session, spec.study.id, clock.now())
        items = [i for i in await ballots.ballot_items(session, second) if i.code == "S01"]
        feedback = (await statement_feedback(session, experts[0], spec.study.id, items[0])
                    if items else None)
    [outcome] = [o for o in closed.outcomes if o.code == "S01"]
    return outcome, feedback


async def test_the_next_rounds_card_shows_what_the_close_computed(
        store: Store, clock: ManualClock) -> None:
    outcome, feedback = await _s01_after_round_one(store, clock, tiny_study(), (1, 3, 4, None))
    assert outcome.carried and outcome.verdict is Verdict.NO_CONSENSUS
    assert (outcome.statistics.n, outcome.statistics.n_unable) == (3, 1)
    assert feedback is not None and feedback.statistics == outcome.statistics


async def test_a_rejected_statements_card_shows_the_share_the_close_computed(
        store: Store, clock: ManualClock) -> None:
    """With the disagree points left to the scale's default, the card once counted against
    an empty set and told experts "0 % disagreed" of a statement the panel rejected (carried
    to the next round because the protocol asks for the rejection to hold twice)."""
    tiny = tiny_study()
    spec = tiny.model_copy(update={
        "consensus": tiny.consensus.model_copy(update={"agree": None, "disagree": None}),
        "stopping": tiny.stopping.model_copy(update={"require_stability": True})})
    outcome, feedback = await _s01_after_round_one(store, clock, spec, (1, 1, 2, 2))
    assert outcome.statistics.consensus == "out" and outcome.statistics.pct_disagree == 100
    assert feedback is not None
    card = " ".join(str(section.text) for section in feedback_sections(spec, feedback))
    assert "100 % disagreed" in card
