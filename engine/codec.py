"""How a statement's numbers are spelled outside Python, in one place.

- The scale counts of a stored result (``round_results.details["counts"]``): a JSON object
  has only string keys, so ``{1: 0, 2: 3}`` is stored as ``{"1": 0, "2": 3}`` and read
  back as integers here, never by hand.
- The key of a wording: the statement code for its first wording and ``S05.v2`` for a
  revised one. A revised statement is a new question, so the analysis must not test it
  for stability against the old wording; ``ratings.csv``, ``delphi analyze``, the report
  and the coordinator's listings all name wordings with this key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def encode_counts(counts: Mapping[int, int]) -> dict[str, int]:
    """Scale point -> count, as stored in JSON."""
    return {str(point): int(count) for point, count in counts.items()}


def decode_counts(stored: Mapping[str, Any] | None) -> dict[int, int]:
    """The counts :func:`encode_counts` stored (an absent object reads as no counts)."""
    return {int(point): int(count) for point, count in (stored or {}).items()}


def version_key(code: str, version: int) -> str:
    """``S05`` for a statement's first wording, ``S05.v2`` for its second."""
    return code if version == 1 else f"{code}.v{version}"
