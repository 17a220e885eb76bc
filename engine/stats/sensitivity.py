"""Sensitivity of the results to the consensus definition.

Different definitions give different results on the same data (Webbe et al., Trials
2023), so the report shows the round under common alternatives next to the study's
own pre-registered rule and flags every statement whose class changes.

Default alternatives (:func:`default_definitions`), all with the study's quantile
method and agree / disagree sets:

- percent agreement at 70 %, 75 % and 80 % (Diamond et al. 2014: 75 % is the median);
- median and IQR: 1-9 scale: median >= 7 in / <= 3 out with IQR <= 1, and with
  IQR <= 2; 5- and 7-point scales: median >= lowest agree point in / <= highest
  disagree point out, IQR <= 1;
- GRADE / COMET 70 / 15;
- RAND/UCLA with the IPR disagreement test and with the panel-size count test
  (1-9 scale only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from engine.stats.descriptive import CountTable
from engine.stats.encoding import EncodedRatings, encode_ratings
from engine.stats.quantiles import QuantileMethod
from engine.stats.rules import (
    GroupTable,
    RuleInput,
    Verdicts,
    bands_for,
    evaluate,
    too_few_valid,
    uses_groups,
)
from engine.studyfile import ConsensusSection, RuleSpec

STUDY = "study"


@dataclass(frozen=True)
class Definition:
    """An alternative consensus definition with a short name and a description."""

    name: str
    description: str
    spec: RuleSpec


def default_definitions(consensus: ConsensusSection, scale_points: int) -> list[Definition]:
    """The common alternatives to compare the study's rule against (see module docs)."""
    bands = bands_for(consensus, scale_points)
    agree, disagree = list(bands.agree), list(bands.disagree)
    out: list[Definition] = []
    for pct in (70, 75, 80):
        out.append(Definition(f"percent_agreement_{pct}", f">= {pct}% in the agree set",
                              RuleSpec(rule="percent_agreement", threshold=pct / 100, agree=agree,
                                       disagree=disagree)))
    limits: tuple[float, ...]
    if scale_points == 9:
        high, low, limits = 7.0, 3.0, (1.0, 2.0)
    else:
        high, low, limits = float(min(agree)), float(max(disagree)), (1.0,)
    for limit in limits:
        out.append(Definition(
            f"median_iqr_{high:g}_{limit:g}",
            f"median >= {high:g} (in) or <= {low:g} (out) with IQR <= {limit:g}",
            RuleSpec(rule="median_iqr", median_agree=high, median_disagree=low, max_iqr=limit,
                     agree=agree, disagree=disagree)))
    out.append(Definition("grade_70_15", ">= 70% in one band and < 15% in the other",
                          RuleSpec(rule="grade_70_15", agree=agree, disagree=disagree)))
    if scale_points == 9:
        out.append(Definition("rand_ucla_ipr", "RAND/UCLA median bands, IPR disagreement",
                              RuleSpec(rule="rand_ucla", disagreement="ipr")))
        out.append(Definition("rand_ucla_count", "RAND/UCLA median bands, count disagreement",
                              RuleSpec(rule="rand_ucla", disagreement="count")))
    return out


def sensitivity_table(
    ratings: pd.DataFrame | EncodedRatings,
    consensus: ConsensusSection,
    scale_points: int,
    definitions: list[Definition] | None = None,
) -> pd.DataFrame:
    """Every statement of every round under every definition, long format.

    Columns: ``round, statement, definition, description, consensus, reason,
    study_consensus, changed`` where ``changed`` is True when the definition's class
    differs from the study's own rule. The study's rule itself is included with
    definition name ``"study"``.
    """
    enc = ratings if isinstance(ratings, EncodedRatings) else encode_ratings(ratings,
                                                                             scale_points)
    if definitions is None:
        definitions = default_definitions(consensus, scale_points)
    results = evaluate_definitions(enc, consensus, consensus.quantile, definitions)
    count, cells = len(results), enc.n_cells
    names = np.array(["in", "none", "out"], dtype=object)  # indexed by 1 - class
    classes = np.vstack([v.classes for _, v in results]).T  # cells x definitions
    study = np.repeat(classes[:, :1], count, axis=1)
    reasons = np.empty((cells, count), dtype=object)
    for j, (_, verdicts) in enumerate(results):
        reasons[:, j] = verdicts.reasons
    return pd.DataFrame({
        "round": np.repeat(enc.rounds[enc.cell_round], count),
        "statement": np.repeat(np.asarray(enc.statements, dtype=object)[enc.cell_statement],
                               count),
        "definition": np.tile(np.array([d.name for d, _ in results], dtype=object), cells),
        "description": np.tile(np.array([d.description for d, _ in results], dtype=object),
                               cells),
        "consensus": names[1 - classes.ravel()],
        "reason": reasons.ravel(),
        "study_consensus": names[1 - study.ravel()],
        "changed": classes.ravel() != study.ravel(),
    })


def evaluate_definitions(enc: EncodedRatings, consensus: ConsensusSection,
                         method: QuantileMethod,
                         definitions: list[Definition]) -> list[tuple[Definition, Verdicts]]:
    """The study's rule first, then every definition, on one shared count table."""
    study = Definition(STUDY, "the study's pre-registered rule", consensus)
    everything = [study, *definitions]
    data = RuleInput(enc.counts(method))
    if any(uses_groups(d.spec) for d in everything):
        data.groups = enc.group_counts(method)
    out = [(d, evaluate(d.spec, data, enc.points)) for d in definitions]
    return [(study, _study_verdicts(consensus, data, enc.points)), *out]


def _study_verdicts(consensus: ConsensusSection, data: RuleInput, points: int) -> Verdicts:
    """The pre-registered rule as :func:`engine.stats.analyze` applies it: with the
    study's denominator of the shares and its minimum of valid ratings (the alternatives
    keep the common convention, valid ratings only)."""
    if not consensus.unable_in_denominator and consensus.min_valid <= 1:
        return evaluate(consensus, data, points)
    table = data.table
    own = RuleInput(CountTable(table.counts, table.n_unable, table.method,
                               consensus.unable_in_denominator))
    if data.groups is not None:
        groups = data.groups.table
        own.groups = GroupTable(CountTable(groups.counts, groups.n_unable, groups.method,
                                           consensus.unable_in_denominator),
                                data.groups.cell, data.groups.group)
    verdicts = evaluate(consensus, own, points)
    too_few_valid(verdicts, table.n, consensus.min_valid)
    return verdicts


def changed_statements(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view of :func:`sensitivity_table`: one row per round and statement whose class
    changes under some definition, one column per definition (in the table's order)."""
    keys = ["round", "statement"]
    flagged = table.groupby(keys, sort=False)["changed"].transform("any")
    subset = table[flagged.to_numpy()]
    definitions = list(dict.fromkeys(subset["definition"]))
    rows = list(dict.fromkeys(zip(subset["round"], subset["statement"], strict=True)))
    lookup = {(r, s, d): c for r, s, d, c in zip(subset["round"], subset["statement"],
                                                  subset["definition"], subset["consensus"],
                                                  strict=True)}
    return pd.DataFrame(
        [[r, s, *(lookup.get((r, s, d), "") for d in definitions)] for r, s in rows],
        columns=[*keys, *definitions],
    )


LEVEL_OF = {"low": 1, "medium": 2, "high": 3, "1": 1, "2": 2, "3": 3}
CONFIDENCE_WEIGHTS = {1: 1, 2: 2, 3: 3}  # low, medium, high; a missing answer counts medium
CONFIDENCE_DEFINITIONS = (
    ("confidence_weighted", "the study's rule, each rating counted 1x (low), 2x (medium, or "
                            "not given) or 3x (high confidence)"),
    ("without_low_confidence", "the study's rule, ratings given with low confidence left out"),
)


def with_confidence(table: pd.DataFrame, ratings: pd.DataFrame,
                    consensus: ConsensusSection, scale_points: int) -> pd.DataFrame:
    """:func:`sensitivity_table` plus two rows per statement-round from the experts'
    confidence, when ``ratings`` has a ``confidence`` column with any answer in it.

    Confidence is a sensitivity analysis only: these rows sit beside the alternatives,
    and the pre-registered verdict never reads them. Without confidence the table comes
    back unchanged (the same object), so such output stays byte-for-byte the same.
    """
    if "confidence" not in ratings.columns or not ratings["confidence"].notna().any():
        return table
    plain = ratings.drop(columns=["confidence"])
    level = ratings["confidence"].map(
        lambda v: None if pd.isna(v) else LEVEL_OF.get(str(v).lower())
    ).astype("Int64")
    weights = level.fillna(2).map(CONFIDENCE_WEIGHTS).astype(int).to_numpy()
    weighted = plain.loc[plain.index.repeat(weights)].copy()
    copies = weighted.groupby(level=0).cumcount().to_numpy()
    weighted["participant"] = [f"{p}#{k}" for p, k in
                               zip(weighted["participant"], copies, strict=True)]
    confident = plain[(level != 1).fillna(True).to_numpy()]
    study = _study_classes(plain, consensus, scale_points)
    rows = []
    for (name, description), frame in zip(CONFIDENCE_DEFINITIONS, (weighted, confident),
                                          strict=True):
        classes = _study_classes(frame, consensus, scale_points) if len(frame) else {}
        for key, (base, _) in study.items():
            found, reason = classes.get(key, ("none", "every rating had low confidence"))
            rows.append({"round": key[0], "statement": key[1], "definition": name,
                         "description": description, "consensus": found, "reason": reason,
                         "study_consensus": base, "changed": found != base})
    extra = pd.DataFrame(rows, columns=list(table.columns))
    extra["round"] = extra["round"].astype(table["round"].dtype)
    extra["changed"] = extra["changed"].astype(bool)
    return pd.concat([table, extra], ignore_index=True)


def _study_classes(ratings: pd.DataFrame, consensus: ConsensusSection, scale_points: int
                   ) -> dict[tuple[object, object], tuple[str, str]]:
    """(round, statement) -> (class, reason) under the study's own rule."""
    table = sensitivity_table(ratings, consensus, scale_points, definitions=[])
    return {(r, s): (c, reason) for r, s, c, reason in zip(
        table["round"], table["statement"], table["consensus"], table["reason"],
        strict=True)}
