"""A statement's statistics in one round: the one shape of those numbers in the engine.

Computed by :func:`engine.stats.analyze` when a round closes (:meth:`from_analysis`),
stored as a ``round_results`` row (:meth:`to_row`) and read back from it
(:meth:`from_row`) by everything that shows them afterwards: the experts' feedback cards,
the round's chart, the report. The coordinator's live ``/results`` builds them from the
analysis of the open round. What the numbers *conclude* is not decided here but by
:func:`engine.verdict.verdict`, which :meth:`verdict` asks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.codec import decode_counts, encode_counts, version_key
from engine.models import RoundResult
from engine.verdict import Verdict, VerdictRules, verdict

# The analysis columns that are fields of their own; every other column is kept, as it
# came, in ``further``.
_OWN_COLUMNS = frozenset({
    "round", "statement", "n", "n_unable", "median", "q1", "q3", "iqr", "pct_agree",
    "pct_disagree", "consensus", "reason", "stable", "status", "pct_change"})
_STORED_ELSEWHERE = frozenset({"counts", "reason", "stable", "status", "pct_change"})


@dataclass(frozen=True)
class StatementStatistics:
    """Wording ``version`` of statement ``code`` as the panel rated it in round ``round``.

    Percentages are 0-100; a number that is undefined (a quantile of no ratings) is None.
    ``stable`` is None when stability was not assessed (first rating of a wording, or
    nobody rated both rounds). ``further`` holds the analysis' other columns (response
    rate, mean and SD, RAND/UCLA, Wilcoxon, McNemar), stored for re-analysis.
    """

    round: int
    code: str
    version: int
    n: int = 0
    n_unable: int = 0
    counts: Mapping[int, int] = field(default_factory=dict)
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    iqr: float | None = None
    pct_agree: float | None = None
    pct_disagree: float | None = None
    consensus: str = "none"
    reason: str = ""
    stable: bool | None = None
    status: str = "open"
    pct_change: float | None = None
    further: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The wording's key in the analysis and in ``ratings.csv`` (``S05.v2``)."""
        return version_key(self.code, self.version)

    def verdict(self, rules: VerdictRules, *, dropped: bool = False) -> Verdict:
        """What the study concludes from these numbers under the frozen protocol."""
        return verdict(self.consensus, self.stable, self.n, rules, dropped=dropped,
                       n_unable=self.n_unable)

    @classmethod
    def unrated(cls, round_number: int, code: str, version: int,
                points: int) -> StatementStatistics:
        """A wording on the round's ballot that nobody answered."""
        return cls(round_number, code, version, counts=dict.fromkeys(range(1, points + 1), 0),
                   reason="no ratings")

    @classmethod
    def from_analysis(cls, row: Mapping[str, Any], code: str,
                      version: int) -> StatementStatistics:
        """One row of :func:`engine.stats.analyze`'s table (a ``to_dict("records")``
        record: numpy scalars, NA for undefined)."""
        plain = {name: _plain(value) for name, value in row.items()}
        counts = {int(name.removeprefix("count_")): int(value or 0)
                  for name, value in plain.items() if name.startswith("count_")}
        stable = plain.get("stable")
        return cls(
            round=int(plain["round"]), code=code, version=version,
            n=int(plain.get("n") or 0), n_unable=int(plain.get("n_unable") or 0),
            counts=counts, median=plain.get("median"), q1=plain.get("q1"),
            q3=plain.get("q3"), iqr=plain.get("iqr"), pct_agree=plain.get("pct_agree"),
            pct_disagree=plain.get("pct_disagree"),
            consensus=str(plain.get("consensus") or "none"),
            reason=str(plain.get("reason") or ""),
            stable=None if stable is None else bool(stable),
            status=str(plain.get("status") or "open"),
            pct_change=plain.get("pct_change"),
            further={name: value for name, value in plain.items()
                     if name not in _OWN_COLUMNS and not name.startswith("count_")})

    @classmethod
    def from_row(cls, row: RoundResult, round_number: int, code: str,
                 version: int) -> StatementStatistics:
        """A stored result, read back as it was stored when its round closed."""
        details = row.details or {}
        stable = details.get("stable")
        return cls(
            round=round_number, code=code, version=version, n=row.n, n_unable=row.n_unable,
            counts=decode_counts(details.get("counts")), median=row.median, q1=row.q1,
            q3=row.q3, iqr=row.iqr, pct_agree=row.pct_agree, pct_disagree=row.pct_disagree,
            consensus=row.consensus, reason=row.reason,
            stable=None if stable is None else bool(stable),
            status=str(details.get("status") or "open"),
            pct_change=_number(details.get("pct_change")),
            further={name: value for name, value in details.items()
                     if name not in _STORED_ELSEWHERE})

    def to_row(self, round_id: int, version_id: int, computed_at: datetime) -> RoundResult:
        """The ``round_results`` row that :meth:`from_row` reads back unchanged."""
        return RoundResult(**self.row_values(round_id, version_id, computed_at))

    def row_values(self, round_id: int, version_id: int,
                   computed_at: datetime) -> dict[str, Any]:
        """:meth:`to_row`'s columns, for inserting many rows in one statement."""
        return dict(
            round_id=round_id, statement_version_id=version_id, n=self.n,
            n_unable=self.n_unable, median=self.median, q1=self.q1, q3=self.q3,
            iqr=self.iqr, pct_agree=self.pct_agree, pct_disagree=self.pct_disagree,
            consensus=self.consensus, reason=self.reason,
            details={**self.further, "pct_change": self.pct_change, "stable": self.stable,
                     "status": self.status, "counts": encode_counts(self.counts),
                     "reason": self.reason},
            computed_at=computed_at)


def _plain(value: Any) -> Any:
    """A pandas / numpy value as plain Python: None for NA and NaN."""
    import pandas as pd

    if value is None or pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number
