"""The stopping rule: which statements are settled, and whether the study is finished.

A pure function of the latest round's results, so the round lifecycle can call it
after closing a round and tests can call it with plain values.

Per statement (``StoppingSection``):

- ``resolved``: consensus reached (in or out) and, when ``require_stability`` is set,
  stable against the previous round. A statement rated for the first time has no
  stability yet, so under ``require_stability`` it stays open one more round.
- ``stable``: no consensus, but stable: more rounds are unlikely to change it.
- ``open``: anything else; it is rated again next round.

The study is finished when every statement is resolved or stable, or when the round
just closed is ``max_rounds``. The statements to put to the panel next round are the
open ones, plus the resolved ones when ``carry_consensus`` asks to re-rate them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from engine.studyfile import StoppingSection

Status = Literal["resolved", "stable", "open"]


@dataclass(frozen=True)
class StatementState:
    """What the stopping rule needs to know about one statement after a round."""

    statement: Hashable
    consensus: Literal["in", "out", "none"]
    stable: bool | None  # None: not carried from the previous round, or nobody paired


@dataclass(frozen=True)
class StoppingDecision:
    finished: bool
    reason: str
    status: dict[Hashable, Status] = field(default_factory=dict)
    why: dict[Hashable, str] = field(default_factory=dict)
    carry: tuple[Hashable, ...] = ()  # statements to rate next round (empty when finished)
    stopped_because: Literal["resolved", "max_rounds"] | None = None  # None: not finished


def statement_status(consensus: str, stable: bool | None,
                     stopping: StoppingSection) -> tuple[Status, str]:
    """Status of one statement with the reason in words."""
    reached = consensus in ("in", "out")
    if reached and not stopping.require_stability:
        return "resolved", f"consensus {consensus}"
    if reached and stable:
        return "resolved", f"consensus {consensus} and stable ({stopping.stability})"
    if reached:
        if stable is None:
            return "open", (f"consensus {consensus} but stability not yet known "
                            "(needs a second rating)")
        return "open", f"consensus {consensus} but not yet stable ({stopping.stability})"
    if stable:
        return "stable", f"no consensus, stable ({stopping.stability})"
    if stable is None:
        return "open", "no consensus yet"
    return "open", f"no consensus, still changing ({stopping.stability})"


def decide(states: Iterable[StatementState], stopping: StoppingSection, round_number: int,
           max_rounds: int) -> StoppingDecision:
    """Apply the stopping rule after round ``round_number`` of at most ``max_rounds``."""
    items: Sequence[StatementState] = list(states)
    status: dict[Hashable, Status] = {}
    why: dict[Hashable, str] = {}
    for state in items:
        status[state.statement], why[state.statement] = statement_status(
            state.consensus, state.stable, stopping)
    open_ = [s.statement for s in items if status[s.statement] == "open"]
    resolved = sum(1 for v in status.values() if v == "resolved")
    stable = sum(1 for v in status.values() if v == "stable")
    summary = f"{resolved} resolved, {stable} stable without consensus, {len(open_)} open"
    if not open_:
        return StoppingDecision(True, f"every statement is settled ({summary})", status, why,
                                stopped_because="resolved")
    if round_number >= max_rounds:
        return StoppingDecision(True, f"round {round_number} was the last of {max_rounds} "
                                      f"({summary})", status, why,
                                stopped_because="max_rounds")
    carry = [s.statement for s in items
             if status[s.statement] == "open"
             or (stopping.carry_consensus and status[s.statement] == "resolved")]
    return StoppingDecision(False, f"continue to round {round_number + 1} ({summary})",
                            status, why, tuple(carry))
