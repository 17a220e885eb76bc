"""A statement's verdict under the frozen protocol: the one place a result is decided.

The consensus rules (:mod:`engine.stats.rules`) say whether a round's ratings reach
the pre-registered threshold; the stopping rule (:mod:`engine.stats.stopping`) says
whether the statement is rated again. Neither says what the study *concludes* about the
statement. That is decided here, from the statement's latest stored result and the
protocol frozen with the study (``require_stability``, ``min_valid``), so the report,
the experts' summary, ``/results``, ``/status``, the demo and the exports cannot
disagree with each other or with the protocol they print.

Final vocabulary (``Verdict``), in the order the report lists them:

- ``endorsed`` / ``rejected``: consensus for / against, and stable when the protocol
  requires stability;
- ``not_stable``: consensus, but stability was required and not shown;
- ``stable_disagreement``: no consensus and stable between two rounds;
- ``no_consensus``: no consensus and still moving (or rated only once);
- ``too_few_valid``: fewer valid ratings than ``min_valid`` (never consensus);
- ``not_rated``: no stored result (added too late, or nobody rated it);
- ``dropped``: dropped by the steering committee.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.studyfile import StudyFile


class Verdict(StrEnum):
    ENDORSED = "endorsed"
    REJECTED = "rejected"
    NOT_STABLE = "not_stable"
    STABLE_DISAGREEMENT = "stable_disagreement"
    NO_CONSENSUS = "no_consensus"
    TOO_FEW_VALID = "too_few_valid"
    NOT_RATED = "not_rated"
    DROPPED = "dropped"

    @property
    def label(self) -> str:
        """The final wording (the study has ended)."""
        return LABELS[self]

    def label_while(self, study_ended: bool) -> str:
        """The wording while rounds remain (``study_ended=False``) or after the study."""
        return LABELS[self] if study_ended else INTERIM_LABELS.get(self, LABELS[self])

    @property
    def reached(self) -> bool:
        """Consensus the study reports as a result (endorsed or rejected)."""
        return self in (Verdict.ENDORSED, Verdict.REJECTED)


LABELS: dict[Verdict, str] = {
    Verdict.ENDORSED: "consensus to endorse",
    Verdict.REJECTED: "consensus to reject",
    Verdict.NOT_STABLE: "consensus not yet stable when rounds ran out",
    Verdict.STABLE_DISAGREEMENT: "stable disagreement",
    Verdict.NO_CONSENSUS: "no consensus, still moving",
    Verdict.TOO_FEW_VALID: "too few valid ratings",
    Verdict.NOT_RATED: "not rated",
    Verdict.DROPPED: "dropped",
}
INTERIM_LABELS: dict[Verdict, str] = {
    Verdict.NOT_STABLE: "consensus, not yet stable",
    Verdict.NO_CONSENSUS: "no consensus yet",
}
UNCERTAIN = (Verdict.NOT_STABLE, Verdict.STABLE_DISAGREEMENT, Verdict.NO_CONSENSUS,
             Verdict.TOO_FEW_VALID, Verdict.NOT_RATED)


@dataclass(frozen=True)
class VerdictRules:
    """The part of the frozen protocol that turns statistics into a verdict."""

    require_stability: bool = False
    min_valid: int = 1

    @classmethod
    def of(cls, spec: StudyFile) -> VerdictRules:
        return cls(require_stability=spec.stopping.require_stability,
                   min_valid=spec.consensus.min_valid)


def verdict(consensus: str | None, stable: bool | None, n: int | None,
            rules: VerdictRules, *, dropped: bool = False,
            n_unable: int | None = None) -> Verdict:
    """The verdict of one statement from its latest result.

    ``consensus`` is the stored class (``in`` / ``out`` / ``none``) or None when the
    statement has no result; ``stable`` is None when stability could not be assessed
    (first rating of a wording, nobody rated both rounds), which never counts as stable.
    A result without a single answer (``n`` and ``n_unable`` both 0) is ``not_rated``.
    """
    if dropped:
        return Verdict.DROPPED
    if consensus is None or (not n and n_unable == 0):
        return Verdict.NOT_RATED
    if (n or 0) < max(1, rules.min_valid):
        return Verdict.TOO_FEW_VALID
    if consensus in ("in", "out"):
        if rules.require_stability and not stable:
            return Verdict.NOT_STABLE
        return Verdict.ENDORSED if consensus == "in" else Verdict.REJECTED
    return Verdict.STABLE_DISAGREEMENT if stable else Verdict.NO_CONSENSUS
