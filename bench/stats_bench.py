"""Statistics benchmark: 1,000 participants x 200 statements x 3 rounds (600,000 ratings).

Timed case "vectorised": the engine's path for a closed round, i.e. encode the ratings,
:func:`engine.stats.analyze` (descriptive statistics, consensus, stability, status) and
:func:`engine.stats.sensitivity_table` (the study's rule plus the nine default
alternatives).

Timed case "baseline": the same analysis written the straightforward way, one
statement at a time: a pandas groupby loop with numpy.percentile, a merge per carried
statement with scipy.stats.wilcoxon and scipy.stats.binomtest, and the rules applied
per statement for every sensitivity definition. It lives here only, as the yardstick,
and its classes and p-values are checked against the vectorised results so the two
really compute the same thing.

Targets: vectorised under 1 s, and at least 20x faster than the baseline.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.stats

from engine.stats import analyze, encode_ratings, sensitivity_table
from engine.stats.rules import bands_for
from engine.stats.sensitivity import Definition, default_definitions
from engine.studyfile import ConsensusSection, RuleSpec, StoppingSection

PARTICIPANTS, STATEMENTS, ROUNDS, POINTS = 1000, 200, 3, 9
VECTOR_REPS, BASELINE_REPS = 7, 3


def make_ratings(seed: int = 20240601) -> pd.DataFrame:
    """A plausible panel: statement-level opinion, some drift towards the group, 2 % unable."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(2.0, 8.5, STATEMENTS)
    spread = rng.uniform(0.8, 2.5, STATEMENTS)
    frames = []
    previous = np.clip(np.rint(centre[:, None] + spread[:, None]
                               * rng.standard_normal((STATEMENTS, PARTICIPANTS))), 1, 9)
    for round_number in range(1, ROUNDS + 1):
        if round_number > 1:  # a third of the panel moves one point towards the median
            median = np.median(previous, axis=1, keepdims=True)
            move = rng.random(previous.shape) < 0.33
            previous = np.clip(previous + move * np.sign(median - previous), 1, 9)
        ratings = pd.array(previous.ravel().astype(np.int64), dtype="Int64")
        ratings[rng.random(previous.size) < 0.02] = pd.NA
        frames.append(pd.DataFrame({
            "round": round_number,
            "statement": np.repeat([f"S{i:03d}" for i in range(1, STATEMENTS + 1)],
                                   PARTICIPANTS),
            "participant": np.tile([f"P{i:04d}" for i in range(1, PARTICIPANTS + 1)],
                                   STATEMENTS),
            "rating": ratings,
            "group": np.tile(np.where(np.arange(PARTICIPANTS) % 3 == 0, "patients",
                                      "clinicians"), STATEMENTS),
        }))
    table = pd.concat(frames, ignore_index=True)
    table["statement"] = table["statement"].astype("str")
    table["participant"] = table["participant"].astype("str")
    return table


CONSENSUS = ConsensusSection(rule="percent_agreement", threshold=0.75)
STOPPING = StoppingSection(stability="wilcoxon")


def vectorised(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    encoded = encode_ratings(ratings, POINTS)
    results = analyze(encoded, CONSENSUS, POINTS, STOPPING)
    alternatives = sensitivity_table(encoded, CONSENSUS, POINTS)
    return results, alternatives


# --- the straightforward per-statement loop (the yardstick) ----------------------


def _classify(spec: RuleSpec, values: npt.NDArray[np.int64], agree: list[int],
              disagree: list[int]) -> str:
    n = len(values)
    if n == 0:
        return "none"
    share_agree = np.isin(values, agree).sum() / n
    share_disagree = np.isin(values, disagree).sum() / n
    method: Literal["linear", "weibull"] = ("linear" if CONSENSUS.quantile == "type7"
                                            else "weibull")
    if spec.rule == "percent_agreement":
        in_, out = share_agree >= spec.threshold, share_disagree >= spec.threshold
    elif spec.rule == "grade_70_15":
        in_ = share_agree >= spec.grade_in and share_disagree < spec.grade_against
        out = share_disagree >= spec.grade_in and share_agree < spec.grade_against
    elif spec.rule == "median_iqr":
        q1, median, q3 = np.percentile(values, [25, 50, 75], method=method)
        narrow = q3 - q1 <= spec.max_iqr
        in_ = spec.median_agree is not None and median >= spec.median_agree and narrow
        out = spec.median_disagree is not None and median <= spec.median_disagree and narrow
    else:  # rand_ucla
        p30, median, p70 = np.percentile(values, [30, 50, 70], method=method)
        if spec.disagreement == "ipr":
            ipras = 2.35 + 1.5 * abs(5 - (p30 + p70) / 2)
            disagreement = (p70 - p30) > ipras
        else:
            need = max((n + 1) // 3, 1)
            disagreement = (values <= 3).sum() >= need and (values >= 7).sum() >= need
        in_ = median >= 7 and not disagreement
        out = median <= 3 and not disagreement
    return "in" if in_ and not out else "out" if out and not in_ else "none"


def baseline(ratings: pd.DataFrame,
             definitions: list[Definition]) -> tuple[dict[Any, dict[str, Any]],
                                                      dict[tuple[Any, str], str]]:
    bands = bands_for(CONSENSUS, POINTS)
    agree, disagree = list(bands.agree), list(bands.disagree)
    rows: dict[Any, dict[str, Any]] = {}
    rated: dict[Any, pd.DataFrame] = {}
    for (round_number, statement), group in ratings.groupby(["round", "statement"]):
        valid = group[group["rating"].notna()]
        values = valid["rating"].to_numpy(dtype=np.int64)
        n = len(values)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        mean = values.mean()
        sd = values.std(ddof=1)
        rows[(round_number, statement)] = {
            "n": n, "n_unable": len(group) - n,
            "counts": np.bincount(values, minlength=POINTS + 1)[1:],
            "median": median, "q1": q1, "q3": q3, "iqr": q3 - q1, "mean": mean, "sd": sd,
            "cv": sd / mean,
            "pct_agree": 100 * np.isin(values, agree).sum() / n,
            "pct_disagree": 100 * np.isin(values, disagree).sum() / n,
            "consensus": _classify(CONSENSUS, values, agree, disagree),
            "values": values,
        }
        rated[(round_number, statement)] = valid[["participant", "rating"]]
    for (round_number, statement), row in rows.items():
        earlier = rated.get((round_number - 1, statement))
        if earlier is None:
            continue
        paired = earlier.merge(rated[(round_number, statement)], on="participant",
                               suffixes=("_before", "_after"))
        x = paired["rating_before"].to_numpy(dtype=np.int64)
        y = paired["rating_after"].to_numpy(dtype=np.int64)
        before = np.bincount(x, minlength=POINTS + 1)
        after = np.bincount(y, minlength=POINTS + 1)
        row["pct_change"] = 100 * np.abs(after - before).sum() / (2 * len(x))
        row["wilcoxon_p"] = (scipy.stats.wilcoxon(y, x).pvalue if np.any(x != y)
                             else float("nan"))
        was, now = np.isin(x, agree), np.isin(y, agree)
        b, c = int((was & ~now).sum()), int((~was & now).sum())
        row["mcnemar_p"] = (scipy.stats.binomtest(min(b, c), b + c).pvalue if b + c
                            else 1.0)
    classes: dict[tuple[Any, str], str] = {}
    for definition in definitions:
        sub_bands = bands_for(definition.spec, POINTS)
        for key, row in rows.items():
            classes[(key, definition.name)] = _classify(
                definition.spec, row["values"], list(sub_bands.agree), list(sub_bands.disagree))
    return rows, classes


def _time(function: Callable[[], Any], reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def _agreement(results: pd.DataFrame, alternatives: pd.DataFrame,
               rows: dict[Any, dict[str, Any]], classes: dict[tuple[Any, str], str]) -> dict[
                   str, Any]:
    """How many numbers and classes the two implementations disagree on (should be 0)."""
    mismatches: dict[str, int] = {"consensus": 0, "median": 0, "iqr": 0, "mean": 0,
                                  "pct_agree": 0, "pct_change": 0, "wilcoxon_p": 0,
                                  "mcnemar_p": 0, "sensitivity": 0}
    for record in results.to_dict("records"):
        row = rows[(record["round"], record["statement"])]
        mismatches["consensus"] += record["consensus"] != row["consensus"]
        for name in ("median", "iqr", "mean", "pct_agree"):
            mismatches[name] += record[name] != row[name]
        if "pct_change" in row:
            mismatches["pct_change"] += not np.isclose(record["pct_change"], row["pct_change"],
                                                       rtol=1e-12, atol=0)
            both_nan = np.isnan(row["wilcoxon_p"]) and pd.isna(record["wilcoxon_p"])
            mismatches["wilcoxon_p"] += not (both_nan or np.isclose(
                record["wilcoxon_p"], row["wilcoxon_p"], rtol=1e-12, atol=0))
            mismatches["mcnemar_p"] += not np.isclose(record["mcnemar_p"], row["mcnemar_p"],
                                                      rtol=1e-9, atol=0)
    for record in alternatives.to_dict("records"):
        if record["definition"] == "study":
            continue
        key = ((record["round"], record["statement"]), record["definition"])
        mismatches["sensitivity"] += record["consensus"] != classes[key]
    counts = {name: int(value) for name, value in mismatches.items()}
    return {"mismatches": counts, "identical": not any(counts.values())}


def run() -> dict[str, Any]:
    ratings = make_ratings()
    definitions = default_definitions(CONSENSUS, POINTS)
    results, alternatives = vectorised(ratings)  # warm-up (imports, caches)
    fast = _time(lambda: vectorised(ratings), VECTOR_REPS)
    slow: list[float] = []
    rows: dict[Any, dict[str, Any]] = {}
    classes: dict[tuple[Any, str], str] = {}
    for _ in range(BASELINE_REPS):
        start = time.perf_counter()
        rows, classes = baseline(ratings, definitions)
        slow.append(time.perf_counter() - start)
    fast_median, slow_median = statistics.median(fast), statistics.median(slow)
    ratio = slow_median / fast_median
    check = _agreement(results, alternatives, rows, classes)
    met = fast_median < 1.0 and ratio >= 20
    return {
        "name": "stats",
        "data": {"participants": PARTICIPANTS, "statements": STATEMENTS, "rounds": ROUNDS,
                 "ratings": len(ratings), "definitions": len(definitions) + 1},
        "rows": [
            {"case": "vectorised (encode + analyze + sensitivity)", "median_s": fast_median,
             "min_s": min(fast), "reps": len(fast), "runs_s": fast},
            {"case": "baseline (per-statement loop)", "median_s": slow_median,
             "min_s": min(slow), "reps": len(slow), "runs_s": slow},
        ],
        "ratio": ratio,
        "targets": {"under_1s": fast_median < 1.0, "at_least_20x": ratio >= 20},
        "results_agree": check,
        "summary": [
            f"vectorised {fast_median:.3f} s, baseline {slow_median:.3f} s, "
            f"ratio {ratio:.1f}x (target < 1 s and >= 20x: {'met' if met else 'NOT met'})",
            "baseline and vectorised results "
            + ("identical" if check["identical"] else f"DIFFER: {check['mismatches']}"),
        ],
    }
