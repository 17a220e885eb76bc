"""Erasure: removing a participant's platform identity while keeping their pseudonymous data.

What an expert gave (ratings, comments) stays under the pseudonym, as the consent allows;
what could name them (platform user id, chat id, display name, username) lives only in
``identities`` and is deleted here, with any pending free-text input. Without an identity
no message can reach them any more: the outbox dispatcher fails such rows
("no identity (erased?)").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.audit import record_audit
from engine.conversation import clear_pending
from engine.errors import NotEnrolled
from engine.models import Identity, Participant


@dataclass(frozen=True)
class Erasure:
    pseudonym: str
    identities_deleted: int
    withdrawn: bool  # True when this erasure also withdrew an active participant


async def erase_identity(session: AsyncSession, participant_id: int, now: datetime,
                         actor: str) -> Erasure:
    """Delete the participant's identity and pending input, withdraw them if still taking
    part, and record who did it. Erasing twice changes nothing more (but is audited)."""
    participant = await session.get(Participant, participant_id)
    if participant is None:
        raise NotEnrolled(f"No participant with id {participant_id}.")
    withdrawn = False
    if participant.status not in ("withdrawn", "declined", "ineligible"):
        participant.status = "withdrawn"
        participant.withdrawn_at = now
        withdrawn = True
    result = await session.execute(delete(Identity).where(
        Identity.participant_id == participant_id))
    deleted = int(getattr(result, "rowcount", 0) or 0)
    await clear_pending(session, participant_id)
    await record_audit(session, participant.study_id, actor, "erase_identity", True, now,
                       participant=participant.pseudonym, identities=deleted,
                       withdrawn=withdrawn)
    return Erasure(participant.pseudonym, deleted, withdrawn)


async def participant_by_pseudonym(session: AsyncSession, pseudonym: str,
                                   study_id: str | None = None) -> list[Participant]:
    """Participants with this pseudonym (one per study; several studies may share a name)."""
    query = select(Participant).where(Participant.pseudonym == pseudonym)
    if study_id is not None:
        query = query.where(Participant.study_id == study_id)
    return list((await session.scalars(query)).all())
