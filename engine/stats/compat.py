"""Which consensus rules make sense on which scale.

The RAND/UCLA interpercentile-range constants (IPRAS = 2.35 + 1.5 * AI, centred on 5)
are calibrated for the 1-9 scale only, so the rule is refused elsewhere. GRADE/COMET
70/15 is defined on 1-9 bands; on 5- and 7-point scales it uses the study's agree and
disagree sets as the bands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.studyfile import RuleSpec


def rule_scale_problems(spec: RuleSpec, points: int) -> list[tuple[str, str]]:
    """Problems with using ``spec`` on a ``points``-point scale, as (sub-field, message)."""
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
    return problems
