"""Which consensus rules make sense on which scale, and with which parameters.

``delphi study check`` calls :func:`rule_scale_problems` for every rule and sub-rule of
the study file (engine/studyfile.py checks the agree / disagree sets themselves); a
non-empty answer refuses the file. How each rule maps onto 5- and 7-point scales is
described in :mod:`engine.stats.rules`. Refused:

- ``rand_ucla`` on anything but the 1-9 scale: the IPRAS constants (2.35, 1.5, centre
  5) and the extreme thirds 1-3 / 7-9 of the disagreement test are calibrated on nine
  points and have no agreed translation.
- ``median_iqr`` without any median bound, with a bound off the scale, or with
  ``median_agree`` not above ``median_disagree`` (a median could then be both).
- ``percent_agreement`` with ``threshold = 0`` (every statement would be in).
- ``grade_70_15`` with ``grade_against >= grade_in`` (the bands would stop being a
  majority against a minority).

This module is imported by the study-file loader, so it must stay free of pandas and
scipy (cheap to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.studyfile import RuleSpec


def rule_scale_problems(spec: RuleSpec, points: int) -> list[tuple[str, str]]:
    """Problems with using ``spec`` on a ``points``-point scale, as (sub-field, message).

    Only the rule itself is checked; sub-rules of all_of / any_of are checked by the
    caller, which walks the tree and knows each sub-rule's field path.
    """
    problems: list[tuple[str, str]] = []
    if spec.rule == "rand_ucla" and points != 9:
        problems.append(("rule", f"rand_ucla is defined on the 1-9 scale only, not {points}"))
    if spec.rule == "median_iqr":
        for name in ("median_agree", "median_disagree"):
            value = getattr(spec, name)
            if value is not None and not 1 <= value <= points:
                problems.append((name, f"{value} outside the {points}-point scale"))
        if spec.median_agree is None and spec.median_disagree is None:
            problems.append(("median_agree", "median_iqr needs median_agree and/or "
                                             "median_disagree"))
        if (spec.median_agree is not None and spec.median_disagree is not None
                and spec.median_agree <= spec.median_disagree):
            problems.append(("median_agree", f"{spec.median_agree} must be above "
                                             f"median_disagree ({spec.median_disagree})"))
    from engine.studyfile import share_fraction

    if spec.rule == "percent_agreement" and share_fraction(spec.threshold) <= 0:
        problems.append(("threshold", "must be above 0 (0 puts every statement in)"))
    if spec.rule == "grade_70_15" and (share_fraction(spec.grade_against)
                                       >= share_fraction(spec.grade_in)):
        problems.append(("grade_against", f"{spec.grade_against} must be below grade_in "
                                          f"({spec.grade_in})"))
    return problems


def agree_set_problems(spec: RuleSpec, points: int) -> list[tuple[str, str]]:
    """Problems with the rule's own agree / disagree sets (for callers other than the
    study-file loader, which has its own checks, e.g. ``delphi analyze`` flags)."""
    problems: list[tuple[str, str]] = []
    for name in ("agree", "disagree"):
        values = getattr(spec, name)
        if values is None:
            continue
        if not values:
            problems.append((name, "must list at least one scale point"))
        outside = sorted({v for v in values if not 1 <= v <= points})
        if outside:
            problems.append((name, f"{outside} outside the {points}-point scale (1-{points})"))
    overlap = sorted(set(spec.agree or []) & set(spec.disagree or []))
    if overlap:
        problems.append(("disagree", f"overlaps agree at {overlap}"))
    return problems
