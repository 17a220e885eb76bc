"""The columns ``results.csv`` adds to :func:`engine.stats.analyze`'s table.

``analyze`` gives the statistics and the consensus class of every statement in every
round; its output is kept byte for byte (published worked examples are checked
against it). The export and ``delphi analyze --methods`` append, after those columns:

============== ==================================================================
verdict        the statement's verdict after that round under the frozen protocol
               (:mod:`engine.verdict`: endorsed, rejected, not_stable, ...)
agree_ci_low   Wilson score 95 % confidence interval of ``pct_agree`` (0-100),
agree_ci_high  same denominator as ``pct_agree`` (``unable_in_denominator``)
kept_exact     statements carried unchanged: share of the experts rating validly in
kept_within_1  both rounds who kept their rating exactly / within one point (0-100;
               :mod:`engine.stats.individual`)
============== ==================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.stats.individual import PAIR_COLUMNS, statement_stability
from engine.stats.interval import wilson_interval
from engine.stats.rules import bands_for
from engine.studyfile import ConsensusSection, StoppingSection
from engine.verdict import VerdictRules, verdict

METHOD_COLUMNS = ("verdict", "agree_ci_low", "agree_ci_high", *PAIR_COLUMNS)


def _int(value: object) -> int | None:
    return None if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]


def verdicts(results: pd.DataFrame, rules: VerdictRules) -> list[str]:
    """The verdict of every row of an ``analyze`` table."""
    out = []
    for consensus, stable, n, unable in zip(results["consensus"], results["stable"],
                                            results["n"], results["n_unable"], strict=True):
        out.append(str(verdict(str(consensus), None if pd.isna(stable) else bool(stable),
                               _int(n), rules, n_unable=_int(unable))))
    return out


def add_methods(results: pd.DataFrame, ratings: pd.DataFrame, consensus: ConsensusSection,
                scale_points: int, stopping: StoppingSection | None = None) -> pd.DataFrame:
    """``results`` (analyze's table of ``ratings``, long format) with the columns of
    :data:`METHOD_COLUMNS` appended (a new table)."""
    stopping = stopping or StoppingSection()
    table = results.copy()
    rules = VerdictRules(require_stability=stopping.require_stability,
                         min_valid=consensus.min_valid)
    table["verdict"] = verdicts(table, rules) if len(table) else []
    bands = bands_for(consensus, scale_points)
    k_agree = np.zeros(len(table), dtype=np.int64)
    for point in bands.agree:
        k_agree += table[f"count_{point}"].to_numpy(dtype=np.int64)
    share_n = table["n"].to_numpy(dtype=np.int64)
    if consensus.unable_in_denominator:
        share_n = share_n + table["n_unable"].to_numpy(dtype=np.int64)
    bounds = [wilson_interval(int(k), int(n)) for k, n in zip(k_agree, share_n, strict=True)]
    table["agree_ci_low"] = [np.nan if b is None else 100 * b[0] for b in bounds]
    table["agree_ci_high"] = [np.nan if b is None else 100 * b[1] for b in bounds]
    kept = statement_stability(ratings, table)
    for name in PAIR_COLUMNS:
        table[name] = kept[name]
    return table
