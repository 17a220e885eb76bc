"""The one call the engine makes after a round: :func:`analyze`.

It returns one row per round and statement with the descriptive statistics, the
consensus class under the study's rule, the stability against the previous round and
the stopping status. Column reference (percentages are 0-100; NA where undefined):

============== ==================================================================
round          round number
statement      statement id (same id in rounds r and r + 1 = carried unchanged)
participants   participants with an open ballot in the round (``eligible``), by
               default those with at least one row (rated or unable) in the round
n              valid ratings (unable to rate excluded)
n_unable       "unable to rate" answers
response_rate  100 * n / participants
count_k        valid ratings on scale point k (k = 1 .. points)
median q1 q3   quantiles by the study's method (type7 / type6), see ``quantiles``
iqr            q3 - q1
mean sd cv     mean, sample SD (n - 1), coefficient of variation sd / mean (ratio)
pct_agree      share of valid ratings in the agree set (likewise disagree, neutral
               = in neither set); with ``unable_in_denominator`` the share of valid
               ratings plus "unable to rate" answers
p30 ... di     RAND/UCLA IPR numbers (only when the rule uses rand_ucla)
consensus      in / out / none under the study's rule; ``reason`` says why (fewer
               valid ratings than ``min_valid``: none)
prev_round     r - 1 when the statement was also rated in round r - 1, else NA
n_paired       participants with a valid rating in both rounds
pct_change     Scheibe's percent change over the paired participants
wilcoxon_*     n (non-zero differences), w = min(R+, R-), z, p, method
mcnemar_*      b (agree -> not), c (not -> agree), exact two-sided p
stable         stable under the study's chosen test (NA if not carried)
status         resolved / stable / open under the study's stopping rule
============== ==================================================================

Statistics that need "more than nothing" (a quantile of no ratings, an SD of one
rating) are NA rather than an error, so a half-empty round still gives a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from engine.stats import rand
from engine.stats.descriptive import describe, percent
from engine.stats.encoding import EncodedRatings, encode_ratings
from engine.stats.rules import (
    RuleInput,
    bands_for,
    evaluate,
    too_few_valid,
    uses_groups,
    uses_rule,
)
from engine.stats.stability import is_stable, stability_table
from engine.stats.stopping import StatementState, StoppingDecision, decide, statement_status
from engine.studyfile import ConsensusSection, StoppingSection


def _encoded(ratings: pd.DataFrame | EncodedRatings, scale_points: int) -> EncodedRatings:
    if isinstance(ratings, EncodedRatings):
        if ratings.points != scale_points:
            raise ValueError(f"ratings were encoded for a {ratings.points}-point scale, "
                             f"not {scale_points}")
        return ratings
    return encode_ratings(ratings, scale_points)


def _participants(enc: EncodedRatings, eligible: Mapping[int, int] | None) -> np.ndarray:
    observed = enc.participants_per_round()
    if eligible:
        observed = np.array([eligible.get(int(r), int(o)) for r, o in
                             zip(enc.rounds, observed, strict=True)], dtype=np.int64)
    return np.asarray(observed[enc.cell_round], dtype=np.int64)


def analyze(
    ratings: pd.DataFrame | EncodedRatings,
    consensus: ConsensusSection,
    scale_points: int,
    stopping: StoppingSection | None = None,
    eligible: Mapping[int, int] | None = None,
) -> pd.DataFrame:
    """Statistics, consensus, stability and status of every statement in every round.

    ``ratings``: long format (see :mod:`engine.stats.encoding`) or an already encoded
    table (:func:`encode_ratings`) when several analyses share one data set.
    ``eligible``: participants with an open ballot per round number (denominator of the
    response rate); rounds it leaves out use the participants seen in the data.
    ``stopping``: the study's stopping rule (defaults: 15 % percent change).
    Raises ValueError on malformed ratings or a rule that needs groups the data lacks.
    """
    enc = _encoded(ratings, scale_points)
    stopping = stopping or StoppingSection()
    table = enc.counts(consensus.quantile)
    table.unable_in_denominator = consensus.unable_in_denominator
    bands = bands_for(consensus, scale_points)
    columns: dict[str, Any] = {
        "round": enc.rounds[enc.cell_round],
        "statement": np.asarray(enc.statements, dtype=object)[enc.cell_statement],
    }
    participants = _participants(enc, eligible)
    stats = describe(table, bands.agree, bands.disagree)
    columns["participants"] = participants
    columns["n"] = stats.pop("n")
    columns["n_unable"] = stats.pop("n_unable")
    columns["response_rate"] = percent(table.n, participants)
    columns.update(stats)
    if scale_points == 9 and uses_rule(consensus, "rand_ucla"):
        ipr = rand.ipr_method(table)
        columns.update(p30=ipr.p30, p70=ipr.p70, ipr=ipr.ipr, iprcp=ipr.iprcp, ai=ipr.ai,
                       ipras=ipr.ipras, di=ipr.di)
    data = RuleInput(table)
    if uses_groups(consensus):
        data.groups = enc.group_counts(consensus.quantile)
        data.groups.table.unable_in_denominator = consensus.unable_in_denominator
    verdicts = evaluate(consensus, data, scale_points)
    too_few_valid(verdicts, table.n, consensus.min_valid)
    consensus_names = verdicts.names()
    columns["consensus"] = consensus_names
    columns["reason"] = verdicts.reasons

    stab = stability_table(enc, bands.agree)
    known, stable = is_stable(stab, stopping)
    carried = stab.carried
    paired = carried & (stab.n_paired > 0)
    wil = stab.wilcoxon
    columns["prev_round"] = _masked_int(stab.previous_round, carried)
    columns["n_paired"] = _masked_int(stab.n_paired, carried)
    columns["pct_change"] = np.where(paired, stab.pct_change, np.nan)
    columns["wilcoxon_n"] = _masked_int(wil.n, paired)
    columns["wilcoxon_w"] = np.where(paired, wil.w, np.nan)
    columns["wilcoxon_z"] = np.where(paired, wil.z, np.nan)
    columns["wilcoxon_p"] = np.where(paired, wil.p, np.nan)
    columns["wilcoxon_method"] = pd.array(
        [(m or "no change") if ok else None for m, ok in zip(wil.method, paired, strict=True)],
        dtype="string")
    columns["mcnemar_b"] = _masked_int(stab.mcnemar_b, paired)
    columns["mcnemar_c"] = _masked_int(stab.mcnemar_c, paired)
    columns["mcnemar_p"] = np.where(paired, stab.mcnemar_p, np.nan)
    stable_column = pd.array(stable, dtype="boolean")
    stable_column[~known] = pd.NA
    columns["stable"] = stable_column
    columns["status"] = [
        statement_status(c, bool(s) if k else None, stopping)[0]
        for c, s, k in zip(consensus_names, stable, known, strict=True)
    ]
    return pd.DataFrame(columns)


def _masked_int(values: np.ndarray, keep: np.ndarray) -> pd.api.extensions.ExtensionArray:
    out = pd.array(np.asarray(values, dtype=np.int64), dtype="Int64")
    out[~keep] = pd.NA
    return out


def decide_after_round(results: pd.DataFrame, stopping: StoppingSection, max_rounds: int,
                       round_number: int | None = None) -> StoppingDecision:
    """The stopping decision for a round of :func:`analyze`'s table (default: the last)."""
    if round_number is None:
        round_number = int(results["round"].max())
    rows = results[results["round"] == round_number]
    states = [
        StatementState(statement, consensus, None if pd.isna(stable) else bool(stable))
        for statement, consensus, stable in zip(rows["statement"], rows["consensus"],
                                                 rows["stable"], strict=True)
    ]
    return decide(states, stopping, round_number, max_rounds)
