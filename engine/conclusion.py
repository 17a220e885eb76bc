"""Closing a round for good: statistics, stored results, the stopping rule, the next draft.

One call, inside the coordinator's transaction, so a round is never half closed: either
the round is closed *and* its results stored *and* the next round prepared, or nothing.

Statements are analysed under an *analysis key*: the statement id for its first wording
and ``S05.v2`` for a revised wording, because a revised statement is a new question and
must not be tested for stability against the old one. ``ratings.csv`` uses the same keys,
so ``delphi analyze`` on the export reproduces the stored results.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.ballots import ballot_items
from engine.db import Store
from engine.ending import StopReason, record_end
from engine.loading import get_study, study_file_of
from engine.models import (
    CONFIDENCE_LEVELS,
    Ballot,
    Participant,
    Rating,
    Round,
    RoundResult,
    Statement,
    StatementVersion,
)
from engine.round_reading import RoundReading, ballot_marks
from engine.rounds import close_round, open_round_or_none, panel_size, prepare_next_round
from engine.stats.api import analyze, decide_after_round
from engine.studyfile import StudyFile
from engine.verdict import Verdict, VerdictRules, verdict

RATING_COLUMNS = ["round", "statement", "participant", "rating", "group"]


def analysis_key(code: str, version: int) -> str:
    return code if version == 1 else f"{code}.v{version}"


@dataclass(frozen=True)
class StatementOutcome:
    code: str
    domain: str
    version_id: int
    n: int
    n_unable: int
    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    pct_agree: float | None
    pct_disagree: float | None
    consensus: str
    reason: str
    status: str
    carried: bool
    stable: bool | None
    verdict: Verdict


@dataclass(frozen=True)
class Conclusion:
    round: int
    outcomes: list[StatementOutcome]
    next_round: int | None
    finished: bool
    reason: str
    panel_size: int
    submitted: int
    stopped_because: StopReason | None = None  # set when this round ended the study


async def ratings_frame(session: AsyncSession, study_id: str,
                        up_to_round: int | None = None,
                        confidence: bool = False,
                        ballots: Collection[int] | None = None) -> pd.DataFrame:
    """Every rating the statistics use, in ``delphi analyze``'s long format (pseudonyms
    only); with ``confidence``, a ``confidence`` column too (low / medium / high, or
    empty); with ``ballots``, only the ratings on those ballots. Under ``[consensus]
    ballots = "submitted"`` only ratings on submitted ballots count, otherwise every
    answered statement."""
    query = (select(Round.number, Statement.code, StatementVersion.version,
                    Participant.pseudonym, Rating.value, Participant.stakeholder_group,
                    Rating.confidence)
             .join(Ballot, Ballot.id == Rating.ballot_id)
             .join(Round, Round.id == Ballot.round_id)
             .join(Participant, Participant.id == Ballot.participant_id)
             .join(StatementVersion, StatementVersion.id == Rating.statement_version_id)
             .join(Statement, Statement.id == StatementVersion.statement_id)
             .where(Round.study_id == study_id)
             .order_by(Round.number, Statement.position, Participant.pseudonym))
    if up_to_round is not None:
        query = query.where(Round.number <= up_to_round)
    if ballots is not None:
        query = query.where(Ballot.id.in_(ballots))
    if study_file_of(await get_study(session, study_id)).consensus.ballots == "submitted":
        query = query.where(Ballot.submitted_at.is_not(None))
    rows = (await session.execute(query)).all()
    frame = pd.DataFrame(
        [(r, analysis_key(code, version), who, value, group)
         for r, code, version, who, value, group, _ in rows], columns=RATING_COLUMNS)
    frame["rating"] = frame["rating"].astype("Int64")
    if confidence:
        frame["confidence"] = pd.array(
            [CONFIDENCE_LEVELS.get(level) if level else None for *_, level in rows],
            dtype=object)
    return frame


def _value(row: dict[str, Any], name: str) -> Any:
    value = row.get(name)
    if value is None or pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def _empty_row() -> dict[str, Any]:
    return {"n": 0, "n_unable": 0, "consensus": "none", "reason": "no ratings",
            "status": "open"}


def _results(spec: StudyFile, round_: Round, frame: pd.DataFrame, eligible: int
             ) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    if frame.empty:
        return pd.DataFrame(), {}
    results = analyze(frame, spec.consensus, spec.scale.points, spec.stopping,
                      eligible={round_.number: eligible})
    rows = results[results["round"] == round_.number]
    return results, {str(r["statement"]): r for r in rows.to_dict("records")}


def _stable(row: dict[str, Any]) -> bool | None:
    stable = _value(row, "stable")
    return None if stable is None else bool(stable)


def _outcome(item: Any, row: dict[str, Any], carried: bool,
             rules: VerdictRules) -> StatementOutcome:
    consensus = str(_value(row, "consensus") or "none")
    n, n_unable = int(_value(row, "n") or 0), int(_value(row, "n_unable") or 0)
    stable = _stable(row)
    return StatementOutcome(
        code=item.code, domain=item.domain, version_id=item.version_id,
        n=n, n_unable=n_unable,
        median=_value(row, "median"), q1=_value(row, "q1"), q3=_value(row, "q3"),
        iqr=_value(row, "iqr"), pct_agree=_value(row, "pct_agree"),
        pct_disagree=_value(row, "pct_disagree"), consensus=consensus,
        reason=str(_value(row, "reason") or ""), status=str(_value(row, "status") or "open"),
        carried=carried, stable=stable,
        verdict=verdict(consensus, stable, n, rules, n_unable=n_unable))


def _details(row: dict[str, Any], points: int) -> dict[str, Any]:
    skip = {"round", "statement", "n", "n_unable", "median", "q1", "q3", "iqr", "pct_agree",
            "pct_disagree", "consensus", "reason"}
    details = {k: _value(row, k) for k in row if k not in skip and not k.startswith("count_")}
    details["counts"] = {str(p): int(_value(row, f"count_{p}") or 0)
                         for p in range(1, points + 1)}
    details["reason"] = _value(row, "reason")
    return details


async def read_round(store: Store, study_id: str) -> RoundReading | None:
    """The open round's ratings, read apart from any transaction before its close takes
    the write lock (engine.round_reading); None when no round is open or the store
    cannot read apart."""
    async def read(session: AsyncSession) -> RoundReading | None:
        round_ = await open_round_or_none(session, study_id)
        if round_ is None:
            return None
        spec = study_file_of(await get_study(session, study_id))
        return RoundReading(round_.id, round_.number, spec.consensus.ballots == "submitted",
                            await ratings_frame(session, study_id, round_.number),
                            await ballot_marks(session, round_.id))
    return await store.read_apart(read)


async def _round_frame(session: AsyncSession, spec: StudyFile, round_: Round,
                       reading: RoundReading | None) -> pd.DataFrame:
    """The ratings up to ``round_`` as they are now: the reading brought up to date when
    it is of this round, else read here."""
    if (reading is None or reading.round_id != round_.id
            or reading.submitted_only != (spec.consensus.ballots == "submitted")):
        return await ratings_frame(session, spec.study.id, round_.number)
    changed = reading.changed(await ballot_marks(session, round_.id))
    if not changed:
        return reading.frame
    return reading.updated(changed, await ratings_frame(session, spec.study.id,
                                                        round_.number, ballots=changed))


async def conclude_round(session: AsyncSession, study_id: str, now: datetime,
                         reading: RoundReading | None = None) -> Conclusion:
    """Close the open round, store every statement's result, prepare the next round.
    With ``reading`` (read_round, made before this transaction), only the ballots that
    changed since are read here."""
    spec = study_file_of(await get_study(session, study_id))
    closed = await close_round(session, study_id, now)
    round_ = closed.round
    items = await ballot_items(session, round_)
    frame = await _round_frame(session, spec, round_, reading)
    results, by_key = _results(spec, round_, frame, closed.panel_size)
    if results.empty:
        finished = round_.number >= spec.study.max_rounds
        carry = [] if finished else [i.code for i in items]
        reason = "no ratings were given"
        stop: StopReason | None = StopReason.MAX_ROUNDS if finished else None
    else:
        decision = decide_after_round(results, spec.stopping, spec.study.max_rounds,
                                      round_.number)
        keys = {analysis_key(i.code, i.version): i.code for i in items}
        carry_keys = set(map(str, decision.carry))
        missing = [i.code for i in items if analysis_key(i.code, i.version) not in by_key]
        finished = decision.finished and not (missing and round_.number
                                              < spec.study.max_rounds)
        carry = [] if finished else [keys[k] for k in keys if k in carry_keys] + missing
        reason = decision.reason
        stop = (StopReason(decision.stopped_because) if decision.stopped_because
                else StopReason.MAX_ROUNDS) if finished else None
    outcomes = []
    for item in items:
        row = by_key.get(analysis_key(item.code, item.version), _empty_row())
        outcomes.append(_outcome(item, row, item.code in carry, VerdictRules.of(spec)))
        session.add(RoundResult(
            round_id=round_.id, statement_version_id=item.version_id,
            n=int(_value(row, "n") or 0), n_unable=int(_value(row, "n_unable") or 0),
            median=_value(row, "median"), q1=_value(row, "q1"), q3=_value(row, "q3"),
            iqr=_value(row, "iqr"), pct_agree=_value(row, "pct_agree"),
            pct_disagree=_value(row, "pct_disagree"),
            consensus=str(_value(row, "consensus") or "none"),
            reason=str(_value(row, "reason") or ""),
            details=_details(row, spec.scale.points), computed_at=now))
    draft = await prepare_next_round(session, study_id, carry) if carry else None
    if draft is None:
        stop = stop or StopReason.RESOLVED
        await record_end(session, study_id, now, stop)
    submitted = await session.scalar(select(func.count()).select_from(Ballot).where(
        Ballot.round_id == round_.id, Ballot.submitted_at.is_not(None))) or 0
    return Conclusion(round=round_.number, outcomes=outcomes,
                      next_round=draft.number if draft else None,
                      finished=draft is None, reason=reason,
                      panel_size=closed.panel_size, submitted=submitted,
                      stopped_because=stop if draft is None else None)


async def live_results(session: AsyncSession, study_id: str,
                       round_: Round) -> list[StatementOutcome]:
    """The open round's statistics so far (nothing stored; no stability yet)."""
    spec = study_file_of(await get_study(session, study_id))
    items = await ballot_items(session, round_)
    frame = await ratings_frame(session, study_id, round_.number)
    frame = frame[frame["round"] == round_.number]
    _, by_key = _results(spec, round_, frame, await panel_size(session, round_))
    rules = VerdictRules.of(spec)
    return [_outcome(item, by_key.get(analysis_key(item.code, item.version), _empty_row()),
                     False, rules) for item in items]
