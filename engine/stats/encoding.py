"""Turn a ratings DataFrame into integer codes once, so every later step is array work.

Input contract (long format, one row per rating)::

    round        int     round number (1, 2, ...)
    statement    any     statement id (str or int); the same id in rounds r and r + 1
                         means the statement was carried unchanged
    participant  any     pseudonymous participant id
    rating       Int64   1..points, or NA for "unable to rate"
    group        str     optional stakeholder group (NA: none)

Statements are ordered "naturally" (S2 before S10), rounds numerically, so results
never depend on the order of the input rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

try:  # private but long-stable; only a speed-up, see _factorize
    from pandas._libs.hashtable import StringHashTable as _StringHashTable
except ImportError:  # pragma: no cover - a future pandas may move it
    _StringHashTable = None

from engine.stats.descriptive import CountTable
from engine.stats.ordering import natural_key
from engine.stats.quantiles import IntArray, QuantileMethod
from engine.stats.rules import GroupTable

REQUIRED_COLUMNS = ("round", "statement", "participant", "rating")


@dataclass(frozen=True, eq=False)
class EncodedRatings:
    """Ratings as integer codes plus the tables that map codes back to ids.

    Per input row: ``round_index``, ``statement``, ``participant``, ``rating`` (0 =
    unable to rate), ``group`` (-1 = none; encoded only when a rule needs groups) and
    ``cell`` (the row's statement-in-round).
    Per cell (sorted by round, then statement): ``cell_round`` and ``cell_statement``.
    """

    points: int
    round_index: IntArray
    statement: IntArray
    participant: IntArray
    rating: IntArray
    group_column: pd.Series | None  # raw group names; encoded on first use (every_group)
    cell: IntArray
    rounds: IntArray
    statements: list[Any]
    participants: int
    cell_round: IntArray
    cell_statement: IntArray
    _groups: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def group(self) -> IntArray | None:
        """Per row: index into :attr:`groups`, -1 for none; None without a group column."""
        return self._encoded_groups()[0]

    @property
    def groups(self) -> list[str]:
        """Stakeholder group names in natural order."""
        return self._encoded_groups()[1]

    def _encoded_groups(self) -> tuple[IntArray | None, list[str]]:
        if "codes" not in self._groups:
            if self.group_column is None:
                self._groups.update(codes=None, names=[])
            else:
                codes, names = _group_codes(self.group_column)
                self._groups.update(codes=codes, names=names)
        return self._groups["codes"], self._groups["names"]

    @property
    def n_cells(self) -> int:
        return len(self.cell_round)

    def counts(self, method: QuantileMethod) -> CountTable:
        """Counts per scale point of every cell (statement in a round)."""
        width = self.points + 1
        flat = np.bincount(self.cell * width + self.rating, minlength=self.n_cells * width)
        flat = flat.reshape(self.n_cells, width)
        return CountTable(flat[:, 1:], flat[:, 0], method)

    def group_counts(self, method: QuantileMethod) -> GroupTable:
        """Counts of every (cell, group) pair for the groups present in the cell's round."""
        codes, names = self._encoded_groups()
        if codes is None or not names:
            raise ValueError("every_group needs a group column with at least one group")
        n_groups, width = len(names), self.points + 1
        has = codes >= 0
        present = np.bincount(self.round_index[has] * n_groups + codes[has],
                              minlength=len(self.rounds) * n_groups) > 0
        key = self.cell[has] * n_groups + codes[has]
        flat = np.bincount(key * width + self.rating[has],
                           minlength=self.n_cells * n_groups * width)
        flat = flat.reshape(self.n_cells * n_groups, width)
        pairs = np.arange(self.n_cells * n_groups)
        cell, group = pairs // n_groups, pairs % n_groups
        keep = present[self.cell_round[cell] * n_groups + group]
        table = CountTable(flat[keep, 1:], flat[keep, 0], method)
        return GroupTable(table, cell[keep], [names[g] for g in group[keep]])

    def participants_per_round(self) -> IntArray:
        """Distinct participants with at least one row (rated or unable) in each round."""
        seen = np.zeros(len(self.rounds) * self.participants, dtype=bool)
        seen[self.round_index * self.participants + self.participant] = True
        return np.asarray(seen.reshape(len(self.rounds), self.participants).sum(axis=1),
                          dtype=np.int64)


def _factorize(raw: npt.NDArray[np.object_],
               allow_missing: bool = False) -> tuple[IntArray, list[Any]]:
    """pandas.factorize, with a shortcut for the common all-strings column.

    pandas' string hash table is about twice as fast as the generic object one, but it
    treats anything that is not a str as missing (-1); unless the caller accepts that,
    such a column goes through the public API instead.
    """
    if _StringHashTable is not None:
        uniques, codes = _StringHashTable(1024).factorize(raw)
        if allow_missing or len(codes) == 0 or int(codes.min()) >= 0:
            return np.asarray(codes, dtype=np.int64), list(uniques)
    found, table = pd.factorize(raw)
    return np.asarray(found, dtype=np.int64), list(table)


def _codes(values: pd.Series, name: str) -> tuple[IntArray, list[Any]]:
    """Codes in first-seen order; a missing id is a data error."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        uniques: list[Any] = list(values.cat.categories)
    else:
        codes, uniques = _factorize(values.to_numpy(dtype=object))
    if len(codes) and int(codes.min()) < 0:
        raise ValueError(f"column {name!r} has missing values")
    return codes, uniques


def _codes_in_natural_order(values: pd.Series, name: str) -> tuple[IntArray, list[Any]]:
    codes, uniques = _codes(values, name)
    order = sorted(range(len(uniques)), key=lambda i: natural_key(uniques[i]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return rank[codes], [uniques[i] for i in order]


def _group_codes(values: pd.Series) -> tuple[IntArray, list[str]]:
    """Group codes in natural order of the names, -1 where the group is missing."""
    raw = values.to_numpy(dtype=object)
    codes, uniques = _factorize(raw, allow_missing=True)
    unknown = codes < 0
    if unknown.any() and not pd.isna(raw[unknown]).all():  # non-str names: use pandas
        found, table = pd.factorize(raw)
        codes, uniques = np.asarray(found, dtype=np.int64), list(table)
    names = [str(u) for u in uniques]
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    rank[-1] = -1  # code -1 (missing) indexes the last slot
    return rank[codes], [names[i] for i in order]


def _integers(values: pd.Series, name: str) -> IntArray:
    if values.dtype.kind in "iu" and not isinstance(values.dtype,
                                                    pd.api.extensions.ExtensionDtype):
        return np.asarray(values.to_numpy(), dtype=np.int64)
    if values.isna().any():
        raise ValueError(f"column {name!r} has missing values")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        raise ValueError(f"column {name!r} must hold integers")
    array = numbers.to_numpy(dtype=np.float64)
    if not np.all(np.floor(array) == array):
        raise ValueError(f"column {name!r} must hold integers")
    return np.asarray(array, dtype=np.int64)


def _dense_ranks(values: IntArray) -> tuple[IntArray, IntArray]:
    """Sorted distinct values and each value's index among them (small ranges: no sort)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    low, high = int(values.min()), int(values.max())
    if high - low <= 1_000_000:
        present = np.bincount(values - low, minlength=high - low + 1) > 0
        distinct = np.flatnonzero(present).astype(np.int64) + low
        index_of = np.cumsum(present) - 1
        return distinct, index_of[values - low].astype(np.int64)
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct.astype(np.int64), inverse.astype(np.int64)


def _ratings(values: pd.Series, points: int) -> IntArray:
    """Ratings as integers with 0 for "unable to rate"; anything off the scale is an error."""
    if isinstance(values.dtype, pd.Int64Dtype):
        array = values.to_numpy(dtype=np.int64, na_value=0)
        missing = values.isna().to_numpy()
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna() & values.notna()
        if bad.any():
            raise ValueError(f"rating {values[bad].iloc[0]!r} is not a number")
        floats = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(floats)
        if not np.all(np.floor(floats[~missing]) == floats[~missing]):
            raise ValueError("ratings must be integers")
        array = np.where(missing, 0, floats).astype(np.int64)
    outside = ~missing & ((array < 1) | (array > points))
    if outside.any():
        raise ValueError(f"rating {int(array[outside][0])} outside the {points}-point scale "
                         f"(1-{points})")
    return np.where(missing, 0, array).astype(np.int64)


def encode_ratings(ratings: pd.DataFrame, scale_points: int) -> EncodedRatings:
    """Validate and encode a long-format ratings table; raise ValueError on bad data."""
    missing = [c for c in REQUIRED_COLUMNS if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings need columns {list(REQUIRED_COLUMNS)}; missing {missing}")
    if scale_points < 2:
        raise ValueError("a scale needs at least two points")
    round_numbers = _integers(ratings["round"], "round")
    rating = _ratings(ratings["rating"], scale_points)
    statement, statements = _codes_in_natural_order(ratings["statement"], "statement")
    participant, participant_ids = _codes(ratings["participant"], "participant")
    rounds, round_index = _dense_ranks(round_numbers)

    n_statements = max(len(statements), 1)
    key = round_index * n_statements + statement
    present = np.zeros(len(rounds) * n_statements, dtype=bool)
    present[key] = True
    cells = np.flatnonzero(present)
    cell_of_key = np.full(len(present), -1, dtype=np.int64)
    cell_of_key[cells] = np.arange(len(cells), dtype=np.int64)
    cell = cell_of_key[key]
    _check_duplicates(cell, participant, len(participant_ids), ratings, statements, rounds,
                      round_index, statement)
    return EncodedRatings(
        points=scale_points,
        round_index=round_index,
        statement=statement,
        participant=participant,
        rating=rating,
        group_column=ratings["group"] if "group" in ratings.columns else None,
        cell=cell,
        rounds=rounds,
        statements=statements,
        participants=len(participant_ids),
        cell_round=(cells // n_statements).astype(np.int64),
        cell_statement=(cells % n_statements).astype(np.int64),
    )


def _check_duplicates(cell: IntArray, participant: IntArray, n_participants: int,
                      ratings: pd.DataFrame, statements: Sequence[Any], rounds: IntArray,
                      round_index: IntArray, statement: IntArray) -> None:
    """One rating per participant, statement and round: a repeat is a data error."""
    if len(cell) == 0:
        return
    key = cell * max(n_participants, 1) + participant
    size = (int(cell.max()) + 1) * max(n_participants, 1)
    if size <= 50_000_000:  # dense tally: linear time
        if int(np.bincount(key, minlength=size).max()) < 2:
            return
        first = np.zeros(len(key), dtype=bool)
        unique_rows = np.unique(key, return_index=True)[1]
        first[unique_rows] = True
        row = int(np.flatnonzero(~first)[0])
    else:
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        repeated = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
        if not len(repeated):
            return
        row = int(order[repeated[0] + 1])
    who = ratings["participant"].iloc[row]
    raise ValueError(
        f"participant {who!r} rated statement {statements[int(statement[row])]!r} more "
        f"than once in round {int(rounds[int(round_index[row])])}"
    )
