"""Consensus and stability statistics (pandas / numpy / scipy), platform-neutral.

Public API (everything the rest of the engine needs):

- :func:`analyze` (``ratings, consensus, scale_points, stopping=None, eligible=None``)
  -> one row per round and statement: descriptive statistics, consensus class and
  reason, stability against the previous round, stopping status. See
  :mod:`engine.stats.api` for the columns.
- :func:`decide` / :func:`decide_after_round`: the pure stopping decision.
- :func:`sensitivity_table` / :func:`default_definitions` / :func:`changed_statements`: the
  round under alternative consensus definitions.
- :func:`classify`: one statement's class and reason from a list of ratings; the
  vectorised rules live in :mod:`engine.stats.rules`.
- :func:`encode_ratings`: validate and encode a ratings table once when several of the
  above run on the same data.
- :func:`read_ratings_csv` / :func:`write_results_csv`: the ``delphi analyze`` file
  formats (:mod:`engine.stats.ratings_file`, :mod:`engine.stats.results_file`).

Ratings are a long table ``round, statement, participant, rating[, group]`` with
``rating`` a nullable integer (NA = unable to rate). One module per job: quantiles,
descriptive, rand, rules, stability, stopping, sensitivity, encoding, ordering, compat
(which rule makes sense on which scale).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.stats.api import analyze, decide_after_round
    from engine.stats.encoding import EncodedRatings, encode_ratings
    from engine.stats.ratings_file import RatingsFileError, read_ratings_csv
    from engine.stats.results_file import format_value, write_results_csv
    from engine.stats.rules import Verdict, classify
    from engine.stats.sensitivity import (
        Definition,
        changed_statements,
        default_definitions,
        sensitivity_table,
        with_confidence,
    )
    from engine.stats.stopping import StatementState, StoppingDecision, decide

# Imported on first use: `delphi study check` imports engine.stats.compat and should not
# pay for pandas and scipy.
_HOME = {
    "analyze": "api", "decide_after_round": "api",
    "EncodedRatings": "encoding", "encode_ratings": "encoding",
    "RatingsFileError": "ratings_file", "read_ratings_csv": "ratings_file",
    "format_value": "results_file", "write_results_csv": "results_file",
    "Verdict": "rules", "classify": "rules",
    "Definition": "sensitivity", "changed_statements": "sensitivity",
    "default_definitions": "sensitivity", "sensitivity_table": "sensitivity",
    "with_confidence": "sensitivity",
    "StatementState": "stopping", "StoppingDecision": "stopping", "decide": "stopping",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "Definition",
    "EncodedRatings",
    "RatingsFileError",
    "StatementState",
    "StoppingDecision",
    "Verdict",
    "analyze",
    "changed_statements",
    "classify",
    "decide",
    "decide_after_round",
    "default_definitions",
    "encode_ratings",
    "format_value",
    "read_ratings_csv",
    "sensitivity_table",
    "with_confidence",
    "write_results_csv",
]
