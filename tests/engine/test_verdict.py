"""engine.verdict: one statement's verdict under the frozen protocol, every branch."""

from __future__ import annotations

import pytest

from engine.verdict import UNCERTAIN, Verdict, VerdictRules, verdict

STABLE_REQUIRED = VerdictRules(require_stability=True)
PLAIN = VerdictRules()


@pytest.mark.parametrize(("consensus", "stable", "n", "rules", "expected"), [
    ("in", True, 12, STABLE_REQUIRED, Verdict.ENDORSED),
    ("out", True, 12, STABLE_REQUIRED, Verdict.REJECTED),
    ("in", False, 12, STABLE_REQUIRED, Verdict.NOT_STABLE),
    ("in", None, 12, STABLE_REQUIRED, Verdict.NOT_STABLE),  # first rating: not shown stable
    ("out", None, 12, STABLE_REQUIRED, Verdict.NOT_STABLE),
    ("in", None, 12, PLAIN, Verdict.ENDORSED),  # stability not required
    ("out", False, 12, PLAIN, Verdict.REJECTED),
    ("none", True, 12, PLAIN, Verdict.STABLE_DISAGREEMENT),
    ("none", False, 12, STABLE_REQUIRED, Verdict.NO_CONSENSUS),
    ("none", None, 12, PLAIN, Verdict.NO_CONSENSUS),
    ("in", True, 4, VerdictRules(min_valid=5), Verdict.TOO_FEW_VALID),
    ("in", True, 5, VerdictRules(min_valid=5), Verdict.ENDORSED),
    (None, None, None, PLAIN, Verdict.NOT_RATED),
])
def test_every_branch(consensus: str | None, stable: bool | None, n: int | None,
                      rules: VerdictRules, expected: Verdict) -> None:
    assert verdict(consensus, stable, n, rules) == expected


def test_dropped_wins_and_empty_results_are_not_rated_or_too_few() -> None:
    assert verdict("in", True, 12, PLAIN, dropped=True) == Verdict.DROPPED
    assert verdict("none", None, 0, PLAIN, n_unable=0) == Verdict.NOT_RATED
    assert verdict("none", None, 0, PLAIN, n_unable=3) == Verdict.TOO_FEW_VALID


def test_labels_are_final_or_interim() -> None:
    assert Verdict.NOT_STABLE.label == "consensus not yet stable when rounds ran out"
    assert Verdict.NOT_STABLE.label_while(False) == "consensus, not yet stable"
    assert Verdict.ENDORSED.label_while(False) == Verdict.ENDORSED.label
    assert {v.value for v in Verdict} == {
        "endorsed", "rejected", "not_stable", "stable_disagreement", "no_consensus",
        "too_few_valid", "not_rated", "dropped"}
    assert all(v.label for v in Verdict)
    assert set(UNCERTAIN) | {Verdict.ENDORSED, Verdict.REJECTED, Verdict.DROPPED} == set(Verdict)
