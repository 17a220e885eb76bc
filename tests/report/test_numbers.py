"""One way to show numbers (issue 18, point 9): the expert's card, the coordinator's
/results, the report's prose and its Table 2 write a statement's quartiles alike."""

from __future__ import annotations

from bot.dialogue.texts import feedback_sections
from bot.tools.demo import example_study
from engine.feedback import Feedback
from engine.numbers import iqr_range, quartile_range
from engine.report.document import _stats_line
from engine.report.tables import median_cell
from engine.statement_statistics import StatementStatistics


def result(q1: float, q3: float) -> StatementStatistics:
    return StatementStatistics(round=1, code="S01", version=1, n=15, counts={7: 8, 8: 7},
                               median=7.0, q1=q1, q3=q3, iqr=q3 - q1, pct_agree=100.0,
                               pct_disagree=0.0, consensus="in")


def test_quartiles_read_the_same_in_the_chat_and_in_the_report() -> None:
    feedback = Feedback(result(7.0, 7.875), own_rating=7, own_rated=True, comments=[],
                        previous_text=None, change_note=None)
    card = feedback_sections(example_study(), feedback)[0].text
    assert "IQR 7-7.88" in card
    assert "IQR 7-7.88" in _stats_line(result(7.0, 7.875))
    assert median_cell(result(7.0, 7.875)) == "7 [7-7.88]"


def test_a_missing_quartile_is_one_dash() -> None:
    assert quartile_range(None, 8.0) == "–" and iqr_range(float("nan"), 8.0) == "IQR –"
