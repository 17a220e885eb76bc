"""Careless-responding flags for the coordinator: never an automatic exclusion.

Two signs that a ballot may not reflect considered judgement (Meade & Craig, Psychol
Methods 2012, on careless responding in surveys):

- *straight-lining*: the same scale point on every statement the expert rated validly
  in the round (at least :data:`MIN_ITEMS` of them; "unable to rate" is not counted);
- *implausible speed*: the expert's median seconds per statement is below
  :data:`SPEED_FACTOR` of the panel's median of those medians in the same round (at
  least :data:`MIN_PANEL` experts timed, and a panel median above zero).

A flag is a prompt to look, perhaps to ask the expert; the ratings stay in every
statistic unless the steering committee decides otherwise and reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import median

import pandas as pd

from engine.stats.ordering import natural_key

MIN_ITEMS = 5
SPEED_FACTOR = 1 / 3
MIN_PANEL = 3


@dataclass(frozen=True)
class CarelessFlag:
    round: int
    participant: str
    kind: str  # "straight_lining" | "speed"
    detail: str


def straight_lining(ratings: pd.DataFrame) -> list[CarelessFlag]:
    """Experts who gave one and the same point to every statement they rated in a round."""
    valid = ratings.dropna(subset=["rating"])
    flags = []
    for (round_, participant), group in valid.groupby(["round", "participant"]):
        values = set(int(v) for v in group["rating"])
        if len(group) >= MIN_ITEMS and len(values) == 1:
            flags.append(CarelessFlag(int(round_), str(participant), "straight_lining",
                                      f"rated all {len(group)} statements {values.pop()}"))
    return sorted(flags, key=lambda f: (f.round, natural_key(f.participant)))


def speed(seconds_per_statement: Mapping[tuple[int, str], float]) -> list[CarelessFlag]:
    """Experts whose median seconds per statement is far below the panel's in that round."""
    flags = []
    for round_ in sorted({r for r, _ in seconds_per_statement}):
        own = {p: s for (r, p), s in seconds_per_statement.items() if r == round_}
        if len(own) < MIN_PANEL:
            continue
        panel = median(own.values())
        if panel <= 0:
            continue
        for participant in sorted(own, key=natural_key):
            if own[participant] < SPEED_FACTOR * panel:
                flags.append(CarelessFlag(
                    round_, participant, "speed",
                    f"median {own[participant]:.0f} s per statement, panel median "
                    f"{panel:.0f} s"))
    return flags


def seconds_per_statement(times: pd.DataFrame) -> dict[tuple[int, str], float]:
    """Median seconds per statement of every expert and round, from the moments each
    rating was first given (columns round, participant, started_at, rated_at): the gap
    before each rating, the first measured from when the ballot was opened."""
    out: dict[tuple[int, str], float] = {}
    for (round_, participant), group in times.groupby(["round", "participant"]):
        moments = sorted(group["rated_at"])
        start = group["started_at"].iloc[0]
        gaps = [(b - a).total_seconds() for a, b in zip([start, *moments[:-1]], moments,
                                                        strict=True)]
        if gaps:
            out[(int(round_), str(participant))] = float(median(gaps))
    return out
