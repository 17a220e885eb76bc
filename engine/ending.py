"""Why the study stopped, recorded once when it stops.

A study stops in one of three ways: the stopping rule found every statement resolved
(or stable), the round just closed was the pre-registered maximum, or the coordinator
ended it early. The reason is stored on the study (``end_reason``, ``ended_at``) so
that the report and the experts' final summary state it, and so that "the study has
ended" is a fact in the database rather than something inferred from the rounds.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import NoMoreRounds, RoundAlreadyOpen, Step
from engine.models import Round, RoundItem, Study


class StopReason(StrEnum):
    RESOLVED = "resolved"
    MAX_ROUNDS = "max_rounds"
    COORDINATOR = "coordinator"

    @property
    def label(self) -> str:
        return STOP_LABELS[self]


STOP_LABELS: dict[StopReason, str] = {
    StopReason.RESOLVED: "every statement was resolved under the stopping rule",
    StopReason.MAX_ROUNDS: "the pre-registered maximum number of rounds was reached",
    StopReason.COORDINATOR: "the coordinator ended it",
}


async def record_end(session: AsyncSession, study_id: str, now: datetime,
                     reason: StopReason) -> bool:
    """Mark the study ended (conditional update: the first reason recorded stays)."""
    result = await session.execute(
        update(Study).where(Study.id == study_id, Study.ended_at.is_(None))
        .values(ended_at=now, end_reason=str(reason))
        .execution_options(synchronize_session="fetch"))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def stop_reason(session: AsyncSession, study_id: str) -> StopReason | None:
    value = await session.scalar(select(Study.end_reason).where(Study.id == study_id))
    return StopReason(value) if value else None


async def end_by_coordinator(session: AsyncSession, study_id: str, now: datetime) -> int:
    """End the study after its last closed round; returns that round's number.

    Refused while a round is open (close it first, so its ratings are analysed), before
    any round has closed, and once the study has ended. The prepared draft round is
    removed with a conditional delete, so a concurrent /openround and /endstudy leave
    one winner.
    """
    if await stop_reason(session, study_id) is not None:
        raise NoMoreRounds("The study has already ended.")
    rounds = (await session.scalars(select(Round).where(Round.study_id == study_id)
                                    .order_by(Round.number))).all()
    open_ = [r for r in rounds if r.status == "open"]
    if open_:
        raise RoundAlreadyOpen(f"Round {open_[0].number} is open: close it first (",
                               Step("closeround"), "), then end the study.")
    closed = [r.number for r in rounds if r.status == "closed"]
    if not closed:
        raise NoMoreRounds("No round has closed yet, so there is no result to end with.")
    for draft in (r for r in rounds if r.status == "draft"):
        await session.execute(delete(RoundItem).where(RoundItem.round_id == draft.id))
        gone = await session.execute(delete(Round).where(
            Round.id == draft.id, Round.status == "draft"))
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise RoundAlreadyOpen(f"Round {draft.number} was just opened: close it "
                                   "first, then end the study.")
    if not await record_end(session, study_id, now, StopReason.COORDINATOR):
        raise NoMoreRounds("The study has already ended.")
    return closed[-1]
