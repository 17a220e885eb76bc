"""Stability of a statement carried unchanged from round r into round r + 1.

Only participants with a valid rating in both rounds are paired ("rated both times").
All three measures are computed for every carried statement; the study's stopping
rule picks one of them to call a statement stable.

Wilcoxon signed-rank test on the paired differences (later minus earlier), matching
``scipy.stats.wilcoxon(after, before)`` with its defaults exactly:

- zeros (participants who gave the same rating twice) are dropped before ranking
  (``zero_method="wilcox"``, Wilcoxon's original method; R and SPSS do the same);
- ties among the absolute differences get mid-ranks and the tie-corrected variance;
- p-value choice as scipy's ``method="auto"``: more than 50 pairs -> normal
  approximation without continuity correction ("asymptotic", as SPSS's Asymp. Sig.);
  otherwise, with no zeros and no ties -> exact null distribution ("exact"); otherwise,
  with at most 13 pairs -> exact permutation distribution over all 2^n sign flips
  ("permutation", deterministic; scipy enumerates the patterns, which takes about a
  second at n = 13, so we count them with binomial coefficients instead and get the
  same numbers); otherwise the normal approximation.
- If every paired difference is zero there is nothing to rank: W and p are NA and the
  statement counts as stable (no one moved).

The statistic W is min(R+, R-) (scipy's two-sided statistic); ``wilcoxon_z`` is the
tie-corrected normal score (R+ - n(n+1)/4) / se without continuity correction, signed
so that a positive z means ratings rose. The asymptotic p-value is computed here for
all statements at once from counts of the differences, with the same floating-point
operations as scipy (bit-identical); exact p-values come from scipy.

Percent change (Scheibe, Skutsch & Schofer 1975): over the participants who rated both
times, ``sum over scale points |count_after - count_before| / 2 / n`` (the share of the
panel that moved), reported as a percentage; stable when at most the study's
``percent_change_limit`` (15 %).

McNemar's exact test on agree / not agree (agree = the study's agree set): with b
participants moving agree -> not agree and c moving not agree -> agree,
``p = min(1, 2 P(X <= min(b, c)))`` for X ~ Binomial(b + c, 1/2); p = 1 when b + c = 0.
Computed in exact integer arithmetic and correctly rounded (equal to
``scipy.stats.binomtest(min(b, c), b + c).pvalue`` up to scipy's own rounding).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import comb

import numpy as np
import numpy.typing as npt
import scipy.special
import scipy.stats

from engine.stats.encoding import EncodedRatings
from engine.stats.quantiles import FloatArray, IntArray
from engine.studyfile import StoppingSection

BoolArray = npt.NDArray[np.bool_]
EXACT_MCNEMAR_LIMIT = 5000  # beyond this many discordant pairs use scipy's binomial cdf
DENSE_LIMIT = 20_000_000  # rounds x statements x participants (bytes) for the dense path


def _round_pairs(enc: EncodedRatings) -> list[tuple[int, int]]:
    """(earlier, later) round indexes whose round numbers are consecutive."""
    position = {int(r): i for i, r in enumerate(enc.rounds)}
    return [(position[int(r) - 1], i) for i, r in enumerate(enc.rounds)
            if int(r) - 1 in position]


def transitions(enc: EncodedRatings) -> tuple[IntArray, BoolArray, IntArray]:
    """Paired ratings of every carried statement as a transition table.

    Returns ``(table, carried, previous)``: ``table[c, a-1, b-1]`` is the number of
    participants who rated the statement of cell c ``a`` in the previous round and ``b``
    now (valid ratings both times); ``carried[c]`` says the statement was also rated in
    round number r - 1, which ``previous[c]`` holds (0 if not carried). Every stability
    measure is a sum over this table, so no per-statement loop is needed.
    """
    cells, points = enc.n_cells, enc.points
    n_rounds, n_statements, n_people = len(enc.rounds), len(enc.statements), enc.participants
    grid = np.full((n_rounds, n_statements), -1, dtype=np.int64)
    grid[enc.cell_round, enc.cell_statement] = np.arange(cells, dtype=np.int64)
    carried = np.zeros(cells, dtype=bool)
    previous = np.zeros(cells, dtype=np.int64)
    table = np.zeros((cells, points, points), dtype=np.int64)
    round_pairs = _round_pairs(enc)
    if not round_pairs:
        return table, carried, previous
    dense = n_rounds * n_statements * n_people <= DENSE_LIMIT
    if dense:  # ratings[round, statement, participant], 0 = no valid rating
        ratings = np.zeros((n_rounds, n_statements, n_people), dtype=np.int8)
        ratings[enc.round_index, enc.statement, enc.participant] = enc.rating
    width = points + 1  # 0 = no valid rating, then the scale points
    for earlier, later in round_pairs:
        both_rounds = np.flatnonzero((grid[earlier] >= 0) & (grid[later] >= 0))
        later_cells = grid[later, both_rounds]
        carried[later_cells] = True
        previous[later_cells] = int(enc.rounds[earlier])
        if dense:
            x = ratings[earlier, both_rounds].astype(np.int64)
            y = ratings[later, both_rounds].astype(np.int64)
            key = (np.arange(len(both_rounds))[:, None] * width + x) * width + y
            tally = np.bincount(key.ravel(), minlength=len(both_rounds) * width * width)
            table[later_cells] = tally.reshape(len(both_rounds), width, width)[:, 1:, 1:]
        else:
            cell, before, after = _pairs_by_sorting(enc, earlier, later)
            key = (cell * points + before - 1) * points + after - 1
            table += np.bincount(key, minlength=cells * points * points).reshape(
                cells, points, points)
    return table, carried, previous


def _pairs_by_sorting(enc: EncodedRatings, earlier: int,
                      later: int) -> tuple[IntArray, IntArray, IntArray]:
    """Pairs for panels too large for the dense path: match (statement, participant) keys."""
    valid = enc.rating > 0
    rows_before = np.flatnonzero(valid & (enc.round_index == earlier))
    rows_after = np.flatnonzero(valid & (enc.round_index == later))
    key_before = enc.statement[rows_before] * enc.participants + enc.participant[rows_before]
    key_after = enc.statement[rows_after] * enc.participants + enc.participant[rows_after]
    order = np.argsort(key_before, kind="stable")
    sorted_keys = key_before[order]
    at = np.minimum(np.searchsorted(sorted_keys, key_after), max(len(order) - 1, 0))
    hit = (sorted_keys[at] == key_after) if len(order) else np.zeros(len(key_after), bool)
    before = enc.rating[rows_before][order][at][hit]
    return enc.cell[rows_after][hit], before, enc.rating[rows_after][hit]


@dataclass(frozen=True)
class WilcoxonResult:
    """Per-cell Wilcoxon results; ``method`` is asymptotic / exact / permutation / "" (none)."""

    n: IntArray  # non-zero differences
    w: FloatArray
    z: FloatArray
    p: FloatArray
    method: list[str]


def wilcoxon_from_counts(diff_counts: IntArray) -> WilcoxonResult:
    """Wilcoxon signed-rank test per row from counts of differences.

    ``diff_counts[i, j]`` is the number of pairs of row i whose difference is
    ``j - (width - 1) // 2`` (differences -(P-1) .. P-1 for a P-point scale).
    """
    rows, width = diff_counts.shape
    centre = (width - 1) // 2
    zeros = diff_counts[:, centre]
    pos = diff_counts[:, centre + 1:]  # magnitudes 1..centre
    neg = diff_counts[:, :centre][:, ::-1]
    ties = pos + neg  # count of each magnitude
    count = ties.sum(axis=1)
    below = np.cumsum(ties, axis=1) - ties  # ratings with a smaller magnitude
    twice_rank = 2 * below + ties + 1  # twice the mid-rank of each magnitude
    r_plus = (pos * twice_rank).sum(axis=1) / 2.0
    r_minus = (neg * twice_rank).sum(axis=1) / 2.0
    count_f = count.astype(np.float64)
    tie_term = (ties.astype(np.float64) ** 3 - ties).sum(axis=1)
    mean = count_f * (count_f + 1.0) * 0.25
    var = count_f * (count_f + 1.0) * (2.0 * count_f + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt((var - tie_term / 2) / 24)
        z = (r_plus - mean) / se
    p = 2 * scipy.special.ndtr(-np.abs(z))
    w = np.minimum(r_plus, r_minus)
    pairs = count + zeros
    has_ties: BoolArray = np.asarray((ties > 1).any(axis=1))
    method = ["asymptotic"] * rows
    for i in range(rows):
        if count[i] == 0:
            method[i] = ""
            w[i] = z[i] = p[i] = np.nan
            continue
        if pairs[i] > 50:
            continue
        if zeros[i] == 0 and not has_ties[i]:
            method[i] = "exact"
            values = np.repeat(np.arange(-centre, centre + 1, dtype=np.float64),
                               diff_counts[i])
            p[i] = float(scipy.stats.wilcoxon(values, method="exact").pvalue)
        elif pairs[i] <= 13:
            method[i] = "permutation"
            p[i] = _permutation_pvalue(ties[i].tolist(), int((pos[i] * twice_rank[i]).sum()))
    return WilcoxonResult(count.astype(np.int64), w, z, p, method)


def _permutation_pvalue(ties: list[int], twice_r_plus: int) -> float:
    """Two-sided p of R+ over all equally likely sign patterns, as scipy's exact
    ``permutation_test`` computes it, but by counting instead of enumerating.

    ``ties[k]`` is the number of non-zero differences with the k-th smallest magnitude;
    R+ is doubled so that mid-ranks are integers. Among the c differences of one
    magnitude, j positive ones occur in C(c, j) patterns, so the null distribution is a
    convolution of binomial coefficients; zeros change no sign and cancel out.
    """
    dist = [1]
    below = 0
    for c in ties:
        if c == 0:
            continue
        step = 2 * below + c + 1  # twice the mid-rank of this magnitude
        new = [0] * (len(dist) + c * step)
        for j in range(c + 1):
            weight = comb(c, j)
            for value, ways in enumerate(dist):
                if ways:
                    new[value + j * step] += weight * ways
        dist = new
        below += c
    total = 1 << below
    less = sum(dist[: twice_r_plus + 1])
    greater = sum(dist[twice_r_plus:])
    return min(1.0, min(less / total, greater / total) * 2)


def _binomial_sum(m: int, first: int, last: int) -> int:
    """Exact sum of C(m, i) for i = first .. last (empty when last < first)."""
    if last < first:
        return 0
    term = comb(m, first)
    total = term
    for i in range(first, last):
        term = term * (m - i) // (i + 1)
        total += term
    return total


def mcnemar_exact_one(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value, correctly rounded.

    ``2 P(X <= k)`` with X ~ Bin(m, 1/2), k = min(b, c), m = b + c. By symmetry this is
    also ``1 - P(k < X < m - k)``; whichever sum has fewer terms is computed, in
    integers, and divided by 2^m once.
    """
    k, m = min(b, c), b + c
    if m == 0 or 2 * k >= m:
        return 1.0
    if k + 1 <= m - 2 * k - 1:
        tail = 2 * _binomial_sum(m, 0, k)
    else:
        tail = (1 << m) - _binomial_sum(m, k + 1, m - k - 1)
    return min(1.0, tail / (1 << m))


def mcnemar_exact(b: IntArray, c: IntArray) -> FloatArray:
    """Two-sided exact McNemar p-value per row (1 when there are no discordant pairs)."""
    out = np.ones(len(b), dtype=np.float64)
    for i in np.flatnonzero((b + c > 0) & (b != c)):
        bi, ci = int(b[i]), int(c[i])
        if bi + ci <= EXACT_MCNEMAR_LIMIT:
            out[i] = mcnemar_exact_one(bi, ci)
        else:
            out[i] = min(1.0, 2 * float(scipy.stats.binom.cdf(min(bi, ci), bi + ci, 0.5)))
    return out


@dataclass(frozen=True)
class StabilityTable:
    """Stability of every cell against the previous round (NA where not carried)."""

    carried: BoolArray
    previous_round: IntArray
    n_paired: IntArray
    moved: IntArray  # sum of |count changes| over the scale (twice the people who moved)
    pct_change: FloatArray
    wilcoxon: WilcoxonResult
    mcnemar_b: IntArray
    mcnemar_c: IntArray
    mcnemar_p: FloatArray


def stability_from_transitions(table: IntArray, carried: BoolArray, previous: IntArray,
                               agree: Iterable[int]) -> StabilityTable:
    """All three stability measures for every cell from its transition table."""
    cells, points, _ = table.shape
    n_paired = table.sum(axis=(1, 2))
    before, after = table.sum(axis=2), table.sum(axis=1)
    moved = np.abs(after - before).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct_change = np.where(n_paired > 0, (100 * moved) / (2.0 * n_paired), np.nan)
    first, second = np.indices((points, points))
    onehot = np.zeros((points * points, 2 * points - 1), dtype=np.int64)
    onehot[np.arange(points * points), (second - first).ravel() + points - 1] = 1
    diffs = table.reshape(cells, points * points) @ onehot
    wilcoxon = wilcoxon_from_counts(diffs)
    agree_mask = np.zeros(points, dtype=bool)
    agree_mask[[v - 1 for v in agree]] = True
    b = table[:, agree_mask][:, :, ~agree_mask].sum(axis=(1, 2))
    c = table[:, ~agree_mask][:, :, agree_mask].sum(axis=(1, 2))
    return StabilityTable(carried, previous, n_paired.astype(np.int64), moved.astype(np.int64),
                          pct_change, wilcoxon, b.astype(np.int64), c.astype(np.int64),
                          mcnemar_exact(b, c))


def stability_table(enc: EncodedRatings, agree: Iterable[int]) -> StabilityTable:
    """All three stability measures for every carried statement at once."""
    table, carried, previous = transitions(enc)
    return stability_from_transitions(table, carried, previous, agree)


def transition_table(before: Iterable[int], after: Iterable[int], points: int) -> IntArray:
    """One statement's paired ratings as a (1, points, points) transition table."""
    x, y = np.asarray(list(before), dtype=np.int64), np.asarray(list(after), dtype=np.int64)
    if len(x) != len(y):
        raise ValueError("before and after must pair up")
    flat = np.bincount((x - 1) * points + y - 1, minlength=points * points)
    return flat.reshape(1, points, points).astype(np.int64)


def paired_stability(before: Iterable[int], after: Iterable[int], points: int,
                     agree: Iterable[int]) -> StabilityTable:
    """Stability of one statement from its paired ratings (for callers and tests)."""
    table = transition_table(before, after, points)
    return stability_from_transitions(table, np.array([True]), np.array([0]), agree)


def is_stable(table: StabilityTable, stopping: StoppingSection) -> tuple[BoolArray, BoolArray]:
    """(known, stable) per cell under the study's chosen stability test.

    ``known`` is False when the statement was not carried or nobody rated it both
    times; a statement whose paired ratings did not change at all is stable.
    """
    known = table.carried & (table.n_paired > 0)
    if stopping.stability == "percent_change":
        # compare the share (moved / 2n, one correctly rounded division) with the limit;
        # 100 * 0.15 is not exactly 15 in binary, so the percentage is not used here
        with np.errstate(invalid="ignore", divide="ignore"):
            share = table.moved / (2.0 * table.n_paired)
        stable = share <= stopping.percent_change_limit
    elif stopping.stability == "wilcoxon":
        no_change = table.wilcoxon.n == 0
        stable = no_change | (table.wilcoxon.p >= stopping.alpha)
    else:
        stable = table.mcnemar_p >= stopping.alpha
    return known, np.asarray(known & stable)
