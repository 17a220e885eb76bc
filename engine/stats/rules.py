"""Consensus rules: each statement is ``in`` (endorsed), ``out`` (rejected) or ``none``.

Every rule works on a :class:`~engine.stats.descriptive.CountTable` (all statements
of a round at once) and returns the class of each statement with the reason in words.

Rules (parameters are fields of :class:`engine.studyfile.RuleSpec`):

- ``percent_agreement``: share of valid ratings in the agree set >= ``threshold`` ->
  in; share in the disagree set >= ``threshold`` -> out. If both hold (possible only
  with a threshold of 50 % or less) the statement is ``none`` (conflicting).
- ``median_iqr``: median >= ``median_agree`` and IQR <= ``max_iqr`` -> in; median <=
  ``median_disagree`` and IQR <= ``max_iqr`` -> out. A bound left unset is not used.
- ``grade_70_15`` (GRADE / COMET, Williamson 2012): share in the agree band >=
  ``grade_in`` and share in the disagree band < ``grade_against`` -> in; the mirror ->
  out. The bands are the rule's agree / disagree sets.
- ``rand_ucla``: median >= 7 appropriate (in), median <= 3 inappropriate (out), else
  uncertain (none); with disagreement (IPR or count method, see :mod:`.rand`) the
  statement is uncertain (none) whatever its median. Medians 3.5 and 6.5 are
  uncertain by default; ``median_boundary = "outer"`` counts 6.5 as appropriate and
  3.5 as inappropriate, a convention some panels use.
- ``all_of``: in if every sub-rule says in, out if every sub-rule says out, else none.
- ``any_of``: in if some sub-rule says in and none says out; out in the mirror case;
  none if no sub-rule reaches consensus or they conflict.
- ``every_group = true`` on any rule: the rule is evaluated separately in every
  stakeholder group present in the round and must give the same class (in or out) in
  all of them. A group without valid ratings for the statement fails the rule.
  Ratings without a group count for the whole panel but for no group.

Scales other than 1-9 (how the rules map):

- agree / disagree sets default to the top / bottom third of the scale (5 points: the
  top / bottom two; see :func:`engine.studyfile.default_agree_sets`); a sub-rule of
  ``all_of`` / ``any_of`` without its own sets inherits its parent's.
- ``percent_agreement`` and ``grade_70_15`` only count ratings in those sets, so they
  apply to any scale unchanged (GRADE's 7-9 / 1-3 bands become the agree / disagree
  sets).
- ``median_iqr`` thresholds are in scale points of the study's own scale; the study
  file must give them (there is no scale-free default).
- ``rand_ucla`` is calibrated on 1-9 (IPRAS constants centred on 5, thirds of nine
  points) and is refused on other scales by ``delphi study check``
  (:mod:`engine.stats.compat`).

Threshold decisions are exact: shares are compared as correctly rounded quotients of
integers, medians and IQRs are exact multiples of 1/4, and RAND's IPR test is done in
integers (:mod:`engine.stats.rand`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from engine.stats import rand
from engine.stats.descriptive import CountTable, share_at_least, share_below
from engine.stats.ordering import natural_key
from engine.stats.quantiles import IntArray, QuantileMethod
from engine.studyfile import RuleSpec, default_agree_sets, share_fraction

Consensus = Literal["in", "out", "none"]
IN, NONE, OUT = 1, 0, -1
CLASS_NAMES: dict[int, Consensus] = {IN: "in", NONE: "none", OUT: "out"}
ClassArray = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Bands:
    """The agree and disagree sets a rule counts in."""

    agree: tuple[int, ...]
    disagree: tuple[int, ...]


def bands_for(spec: RuleSpec, points: int, parent: Bands | None = None) -> Bands:
    """The rule's own sets, else its parent's, else the scale default."""
    default = parent or Bands(*(tuple(s) for s in default_agree_sets(points)))
    agree = tuple(sorted(spec.agree)) if spec.agree is not None else default.agree
    disagree = tuple(sorted(spec.disagree)) if spec.disagree is not None else default.disagree
    return Bands(agree, disagree)


@dataclass
class Verdicts:
    """Class (IN / NONE / OUT) and reason of every cell of a table."""

    classes: ClassArray
    reasons: list[str]

    def names(self) -> list[Consensus]:
        return [CLASS_NAMES[int(c)] for c in self.classes]


@dataclass(frozen=True)
class Verdict:
    """The class of one statement and why."""

    consensus: Consensus
    reason: str


@dataclass
class GroupTable:
    """Ratings of every (cell, stakeholder group) pair, for ``every_group``.

    ``cell[i]`` is the row of the whole-panel table the i-th row belongs to, ``group[i]``
    its group's name. Every group present in a round has a row for every cell of that
    round, with zero counts when the group gave no valid rating.
    """

    table: CountTable
    cell: IntArray
    group: list[str]


@dataclass
class RuleInput:
    """What the rules need: the whole-panel table and, optionally, the group table."""

    table: CountTable
    groups: GroupTable | None = None


# --- formatting of reasons -------------------------------------------------------


@lru_cache(maxsize=65536)
def format_number(value: float) -> str:
    """Short human form: 7, 7.5, 6.25, 0.16 (at most two decimals)."""
    if value != value:  # NaN
        return "NA"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_set(values: Sequence[int]) -> str:
    """1-3 for a run, 1, 2, 5 otherwise."""
    items = sorted(values)
    if len(items) > 1 and items == list(range(items[0], items[-1] + 1)):
        return f"{items[0]}-{items[-1]}"
    return ", ".join(str(v) for v in items)


@lru_cache(maxsize=65536)
def format_share(k: int, n: int) -> str:
    """``14/20 (70%)``: the counts make a borderline case unambiguous."""
    return f"{k}/{n} ({format_number(100 * k / n)}%)"


def format_percent(fraction: float) -> str:
    return f"{format_number(100 * fraction)}%"


def format_threshold(value: float | str) -> str:
    """A threshold as the protocol gives it: ``75%`` for a number, ``5/7`` as written."""
    return format_percent(float(value)) if not isinstance(value, str) else value


NO_RATINGS = "no valid ratings"


def _empty(n: int) -> Verdicts:
    return Verdicts(np.zeros(n, dtype=np.int8), [NO_RATINGS] * n)


def _classes(in_: npt.NDArray[np.bool_], out: npt.NDArray[np.bool_]) -> ClassArray:
    return np.where(in_ & ~out, IN, np.where(out & ~in_, OUT, NONE)).astype(np.int8)


# --- the four rules --------------------------------------------------------------


def percent_agreement(table: CountTable, spec: RuleSpec, bands: Bands) -> Verdicts:
    """Percent agreement: agree share >= threshold -> in, disagree share >= threshold -> out."""
    n, valid = table.share_n, table.n
    k_agree, k_disagree = table.count_in(bands.agree), table.count_in(bands.disagree)
    threshold = share_fraction(spec.threshold)
    in_ = share_at_least(k_agree, n, threshold) & (valid > 0)
    out = share_at_least(k_disagree, n, threshold) & (valid > 0)
    classes = _classes(in_, out)
    need = format_threshold(spec.threshold)
    agree, disagree = format_set(bands.agree), format_set(bands.disagree)
    reasons = []
    for i in range(len(n)):
        count, ka, kd = int(n[i]), int(k_agree[i]), int(k_disagree[i])
        if valid[i] == 0:
            reasons.append(NO_RATINGS)
        elif in_[i] and out[i]:
            reasons.append(f"conflicting: {format_share(ka, count)} rated {agree} and "
                           f"{format_share(kd, count)} rated {disagree}, both >= {need}")
        elif in_[i]:
            reasons.append(f"{format_share(ka, count)} rated {agree} (>= {need} needed)")
        elif out[i]:
            reasons.append(f"{format_share(kd, count)} rated {disagree} (>= {need} needed)")
        else:
            reasons.append(f"{format_share(ka, count)} rated {agree} and "
                           f"{format_share(kd, count)} rated {disagree}; {need} needed")
    return Verdicts(classes, reasons)


def median_iqr(table: CountTable, spec: RuleSpec, bands: Bands) -> Verdicts:
    """Median band plus a ceiling on the interquartile range."""
    n = table.n
    median = table.quantile("0.5")
    iqr = table.quantile("0.75") - table.quantile("0.25")
    valid = n > 0
    narrow = valid & (iqr <= spec.max_iqr)
    high = (valid & (median >= spec.median_agree) if spec.median_agree is not None
            else np.zeros(len(n), dtype=bool))
    low = (valid & (median <= spec.median_disagree) if spec.median_disagree is not None
           else np.zeros(len(n), dtype=bool))
    classes = _classes(high & narrow, low & narrow)
    reasons = []
    limit = format_number(spec.max_iqr)
    for i in range(len(n)):
        if not valid[i]:
            reasons.append(NO_RATINGS)
            continue
        med, spread = format_number(float(median[i])), format_number(float(iqr[i]))
        if high[i] or low[i]:
            side = (f">= {format_number(spec.median_agree or 0)}" if high[i]
                    else f"<= {format_number(spec.median_disagree or 0)}")
            if narrow[i]:
                reasons.append(f"median {med} {side} and IQR {spread} <= {limit}")
            else:
                reasons.append(f"median {med} {side} but IQR {spread} > {limit}")
        else:
            bounds = []
            if spec.median_agree is not None:
                bounds.append(f"below {format_number(spec.median_agree)}")
            if spec.median_disagree is not None:
                bounds.append(f"above {format_number(spec.median_disagree)}")
            reasons.append(f"median {med} {' and '.join(bounds)} (IQR {spread})")
    return Verdicts(classes, reasons)


def grade_70_15(table: CountTable, spec: RuleSpec, bands: Bands) -> Verdicts:
    """GRADE / COMET: >= 70 % in the endorsing band and < 15 % in the opposite one."""
    n, valid = table.share_n, table.n
    k_agree, k_disagree = table.count_in(bands.agree), table.count_in(bands.disagree)
    grade_in, against = share_fraction(spec.grade_in), share_fraction(spec.grade_against)
    in_ = (share_at_least(k_agree, n, grade_in) & share_below(k_disagree, n, against)
           & (valid > 0))
    out = (share_at_least(k_disagree, n, grade_in) & share_below(k_agree, n, against)
           & (valid > 0))
    classes = _classes(in_, out)
    need, cap = format_threshold(spec.grade_in), format_threshold(spec.grade_against)
    agree, disagree = format_set(bands.agree), format_set(bands.disagree)
    reasons = []
    for i in range(len(n)):
        count, ka, kd = int(n[i]), int(k_agree[i]), int(k_disagree[i])
        if valid[i] == 0:
            reasons.append(NO_RATINGS)
            continue
        a_text = f"{format_share(ka, count)} rated {agree}"
        d_text = f"{format_share(kd, count)} rated {disagree}"
        if in_[i]:
            reasons.append(f"{a_text} (>= {need}) and {d_text} (< {cap})")
        elif out[i]:
            reasons.append(f"{d_text} (>= {need}) and {a_text} (< {cap})")
        else:
            reasons.append(f"{a_text} and {d_text}; needs >= {need} in one band "
                           f"and < {cap} in the other")
    return Verdicts(classes, reasons)


def rand_ucla(table: CountTable, spec: RuleSpec, bands: Bands) -> Verdicts:
    """RAND/UCLA: median band, overridden to uncertain by disagreement."""
    n = table.n
    median = table.quantile("0.5")
    valid = n > 0
    reasons: list[str] = []
    if spec.disagreement == "ipr":
        ipr = rand.ipr_method(table)
        disagreement = ipr.disagreement
        details = [
            f"IPR {format_number(float(ipr.ipr[i]))} "
            f"{'>' if ipr.disagreement[i] else '<='} IPRAS {format_number(float(ipr.ipras[i]))}"
            for i in range(len(n))
        ]
    else:
        counted = rand.count_method(table, median)
        disagreement = counted.disagreement
        details = []
        for i in range(len(n)):
            d = int(counted.disagree_at[i])
            text = (f"{int(counted.low[i])} rated 1-3 and {int(counted.high[i])} rated 7-9, "
                    f"disagreement needs >= {d} in each")
            outside = int(counted.outside[i])
            if outside < 0:
                text += "; median between regions"
            else:
                state = "agreement" if counted.agreement[i] else "indeterminate"
                text += (f"; {outside} outside the median's region "
                         f"({state}, agreement needs <= {int(counted.agree_at[i])})")
            details.append(text)
    outer = spec.median_boundary == "outer"  # medians 6.5 / 3.5 join the outer regions
    appropriate = valid & (median >= (6.5 if outer else 7)) & ~disagreement
    inappropriate = valid & (median <= (3.5 if outer else 3)) & ~disagreement
    classes = _classes(appropriate, inappropriate)
    for i in range(len(n)):
        if not valid[i]:
            reasons.append(NO_RATINGS)
            continue
        med = format_number(float(median[i]))
        if disagreement[i]:
            verdict = "uncertain (disagreement)"
        elif appropriate[i]:
            verdict = "appropriate"
        elif inappropriate[i]:
            verdict = "inappropriate"
        else:
            verdict = "uncertain (median 4-6)" if 3 < median[i] < 7 else "uncertain"
        agreement = "disagreement" if disagreement[i] else "no disagreement"
        reasons.append(f"median {med}, {agreement} ({details[i]}): {verdict}")
    return Verdicts(classes, reasons)


RULES: dict[str, Callable[[CountTable, RuleSpec, Bands], Verdicts]] = {
    "percent_agreement": percent_agreement,
    "median_iqr": median_iqr,
    "grade_70_15": grade_70_15,
    "rand_ucla": rand_ucla,
}


# --- combinations and groups -----------------------------------------------------


def _combine(spec: RuleSpec, parts: list[Verdicts]) -> Verdicts:
    if not parts:
        raise ValueError(f"{spec.rule} needs sub-rules")
    stack = np.vstack([p.classes for p in parts])
    n_in = (stack == IN).sum(axis=0)
    n_out = (stack == OUT).sum(axis=0)
    total = len(parts)
    if spec.rule == "all_of":
        classes = _classes(n_in == total, n_out == total)
        word = "all of"
    else:
        classes = _classes((n_in > 0) & (n_out == 0), (n_out > 0) & (n_in == 0))
        word = "any of"
    reasons = []
    for i in range(stack.shape[1]):
        inner = "; ".join(
            f"{sub.rule} {CLASS_NAMES[int(p.classes[i])]} ({p.reasons[i]})"
            for sub, p in zip(spec.rules, parts, strict=True)
        )
        note = " - conflicting" if n_in[i] and n_out[i] else ""
        reasons.append(f"{word}{note}: {inner}")
    return Verdicts(classes, reasons)


def _every_group(inner: Verdicts, groups: GroupTable, cells: int) -> Verdicts:
    rows = np.bincount(groups.cell, minlength=cells)
    n_in = np.bincount(groups.cell, weights=inner.classes == IN, minlength=cells)
    n_out = np.bincount(groups.cell, weights=inner.classes == OUT, minlength=cells)
    classes = _classes((rows > 0) & (n_in == rows), (rows > 0) & (n_out == rows))
    parts: list[list[str]] = [[] for _ in range(cells)]
    for row in np.argsort(groups.cell, kind="stable"):
        cell = int(groups.cell[row])
        parts[cell].append(f"{groups.group[row]}: {CLASS_NAMES[int(inner.classes[row])]} "
                           f"({inner.reasons[row]})")
    reasons = []
    for cell in range(cells):
        if rows[cell] == 0:
            reasons.append("no stakeholder group rated this statement")
            continue
        if classes[cell] != NONE:
            head = f"{CLASS_NAMES[int(classes[cell])]} in every group"
        else:
            head = "not the same consensus in every group"
        reasons.append(f"{head}: {'; '.join(parts[cell])}")
    return Verdicts(classes, reasons)


def uses_groups(spec: RuleSpec) -> bool:
    """Whether evaluating ``spec`` needs per-group tables."""
    return spec.every_group or any(uses_groups(sub) for sub in spec.rules)


def uses_rule(spec: RuleSpec, name: str) -> bool:
    return spec.rule == name or any(uses_rule(sub, name) for sub in spec.rules)


def evaluate(spec: RuleSpec, data: RuleInput, points: int, parent: Bands | None = None,
             *, within_group: bool = False) -> Verdicts:
    """Classify every cell of ``data.table`` under ``spec`` (recursing into combinations)."""
    bands = bands_for(spec, points, parent)
    if spec.every_group and not within_group:
        if data.groups is None:
            raise ValueError("every_group needs ratings with a stakeholder group")
        grouped = evaluate(spec, RuleInput(data.groups.table), points, parent,
                           within_group=True)
        return _every_group(grouped, data.groups, len(data.table))
    if spec.rule in ("all_of", "any_of"):
        parts = [evaluate(sub, data, points, bands, within_group=within_group)
                 for sub in spec.rules]
        return _combine(spec, parts)
    if len(data.table) == 0:
        return _empty(0)
    return RULES[spec.rule](data.table, spec, bands)


def too_few_valid(verdicts: Verdicts, n: IntArray, min_valid: int) -> None:
    """``[consensus] min_valid``: fewer valid ratings is never consensus (in place)."""
    if min_valid <= 1:
        return
    for i in np.flatnonzero((n > 0) & (n < min_valid)):
        verdicts.classes[i] = NONE
        verdicts.reasons[i] = (f"too few valid ratings: {int(n[i])} < {min_valid} "
                               f"(min_valid); {verdicts.reasons[i]}")


# --- one statement ---------------------------------------------------------------


def table_of(ratings: Sequence[int | None], points: int, method: QuantileMethod) -> CountTable:
    """A one-row table from a list of ratings (None = unable to rate)."""
    valid = [r for r in ratings if r is not None]
    bad = [r for r in valid if not (isinstance(r, int | np.integer) and 1 <= r <= points)]
    if bad:
        raise ValueError(f"ratings {bad} outside the {points}-point scale")
    counts = np.bincount(np.asarray(valid, dtype=np.int64) - 1, minlength=points)
    return CountTable(counts[None, :], np.array([len(ratings) - len(valid)]), method)


def classify(spec: RuleSpec, ratings: Sequence[int | None], scale_points: int,
             quantile: QuantileMethod = "type7",
             groups: Sequence[str | None] | None = None) -> Verdict:
    """Class and reason of one statement from its ratings (None = unable to rate).

    ``groups`` gives each rating's stakeholder group (needed for ``every_group``).
    """
    data = RuleInput(table_of(ratings, scale_points, quantile))
    if groups is not None:
        if len(groups) != len(ratings):
            raise ValueError("groups must give one group per rating")
        names = sorted({g for g in groups if g is not None}, key=natural_key)
        tables = [table_of([r for r, g in zip(ratings, groups, strict=True) if g == name],
                           scale_points, quantile) for name in names]
        counts = (np.vstack([t.counts for t in tables]) if tables
                  else np.zeros((0, scale_points), np.int64))
        unable = (np.concatenate([t.n_unable for t in tables]) if tables
                  else np.zeros(0, np.int64))
        data.groups = GroupTable(CountTable(counts, unable, quantile),
                                 np.zeros(len(names), dtype=np.int64), names)
    verdicts = evaluate(spec, data, scale_points)
    return Verdict(verdicts.names()[0], verdicts.reasons[0])
