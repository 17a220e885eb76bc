"""The stopping rule as a pure function."""

from __future__ import annotations

from engine.stats.stopping import StatementState, decide, statement_status
from engine.studyfile import StoppingSection

PLAIN = StoppingSection()
STRICT = StoppingSection(require_stability=True)


def test_statement_status_without_required_stability() -> None:
    assert statement_status("in", None, PLAIN) == ("resolved", "consensus in")
    assert statement_status("out", False, PLAIN)[0] == "resolved"
    assert statement_status("none", True, PLAIN)[0] == "stable"
    assert statement_status("none", False, PLAIN)[0] == "open"
    assert statement_status("none", None, PLAIN) == ("open", "no consensus yet")


def test_statement_status_when_stability_is_required() -> None:
    assert statement_status("in", True, STRICT)[0] == "resolved"
    status, why = statement_status("in", None, STRICT)
    assert status == "open"
    assert "needs a second rating" in why
    assert statement_status("in", False, STRICT)[0] == "open"


def test_study_continues_while_statements_are_open() -> None:
    states = [StatementState("S1", "in", None), StatementState("S2", "none", None),
              StatementState("S3", "none", True)]
    decision = decide(states, PLAIN, round_number=1, max_rounds=3)
    assert not decision.finished
    assert decision.status == {"S1": "resolved", "S2": "open", "S3": "stable"}
    assert decision.carry == ("S2",)
    assert decision.reason == ("continue to round 2 (1 resolved, 1 stable without consensus, "
                               "1 open)")


def test_study_finishes_when_everything_is_settled() -> None:
    states = [StatementState("S1", "in", None), StatementState("S2", "none", True)]
    decision = decide(states, PLAIN, 1, 3)
    assert decision.finished
    assert decision.carry == ()
    assert decision.reason.startswith("every statement is settled")


def test_study_finishes_at_max_rounds() -> None:
    decision = decide([StatementState("S1", "none", False)], PLAIN, 3, 3)
    assert decision.finished
    assert decision.reason.startswith("round 3 was the last of 3")


def test_required_stability_keeps_first_round_consensus_open() -> None:
    decision = decide([StatementState("S1", "in", None)], STRICT, 1, 3)
    assert not decision.finished
    assert decision.carry == ("S1",)
    decision = decide([StatementState("S1", "in", True)], STRICT, 2, 3)
    assert decision.finished


def test_carry_consensus_re_rates_resolved_statements() -> None:
    stopping = StoppingSection(carry_consensus=True)
    states = [StatementState("S1", "in", None), StatementState("S2", "none", False)]
    assert decide(states, stopping, 1, 3).carry == ("S1", "S2")
    assert decide(states, PLAIN, 1, 3).carry == ("S2",)
