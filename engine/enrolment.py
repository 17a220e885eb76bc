"""Invites, enrolment, consent, screening and withdrawal.

A platform identity is attached to a fresh pseudonymous participant when an invite is
redeemed; from then on the rest of the engine sees only the participant.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from engine.clock import known_time_zone
from engine.errors import (
    AlreadyEnrolled,
    InvalidValue,
    InviteInvalid,
    InviteUsed,
    NotEnrolled,
    ParticipantInactive,
)
from engine.loading import get_study, study_spec
from engine.locks import hold_study
from engine.models import Identity, Invite, Participant, ScreeningAnswer
from engine.privacy import erase_identity
from engine.studyfile import ScreeningQuestion

TOKEN_BYTES = 16  # 22 URL-safe characters: fits Telegram's 64-character start parameter
INVITE_USED = ("This invite has already been used. Each invite is personal; ask the study "
               "coordinator for your own.")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class PlatformUser:
    """Who pressed: as the adapter knows them. Stored only in ``identities``."""

    platform: str
    user_id: str
    chat_id: str
    display_name: str | None = None
    username: str | None = None
    timezone: str | None = None  # IANA name when the platform knows it (Slack does)


async def create_invites(
    session: AsyncSession,
    study_id: str,
    count: int,
    now: datetime,
    group: str | None = None,
    expires_at: datetime | None = None,
) -> list[str]:
    """Make ``count`` single-use tokens; only their hashes are stored, so print them now."""
    if not 1 <= count <= 1000:
        raise InvalidValue("Ask for between 1 and 1000 invites at a time.")
    await get_study(session, study_id)
    tokens = [secrets.token_urlsafe(TOKEN_BYTES) for _ in range(count)]
    session.add_all(
        Invite(study_id=study_id, token_hash=hash_token(token), created_at=now,
               expires_at=expires_at, stakeholder_group=group)
        for token in tokens
    )
    return tokens


# Built once: this lookup is on every event (see engine.db.upsert).
_PARTICIPANT_BY_IDENTITY = (
    select(Participant)
    .join(Identity, Identity.participant_id == Participant.id)
    .where(Identity.study_id == bindparam("study_id"),
           Identity.platform == bindparam("platform"),
           Identity.user_id == bindparam("user_id")))


async def find_participant(
    session: AsyncSession, study_id: str, platform: str, user_id: str
) -> Participant | None:
    return await session.scalar(_PARTICIPANT_BY_IDENTITY, {
        "study_id": study_id, "platform": platform, "user_id": user_id})


async def redeem_invite(
    session: AsyncSession, study_id: str, token: str, who: PlatformUser, now: datetime
) -> Participant:
    """Enrol ``who`` with a single-use invite; replaying the same redemption changes nothing.

    Two accounts redeeming one invite at the same moment (or one account two invites)
    queue on the study's lock, so the second sees the first's enrolment and is refused;
    the claim itself is a conditional update as well, so an invite is never used twice.
    """
    await hold_study(session, study_id)
    invite = await session.scalar(select(Invite).where(
        Invite.study_id == study_id, Invite.token_hash == hash_token(token.strip())))
    if invite is None or (invite.expires_at is not None and invite.expires_at <= now):
        raise InviteInvalid(
            "This invite link is not valid (or has expired). Ask the study coordinator for a "
            "new one."
        )
    existing = await find_participant(session, study_id, who.platform, who.user_id)
    if invite.participant_id is not None:
        if existing is not None and existing.id == invite.participant_id:
            return existing
        raise InviteUsed(INVITE_USED)
    if existing is not None:
        raise AlreadyEnrolled("You are already enrolled in this study.")
    # Pseudonyms are numbered under the study's lock, so without gaps or clashes.
    count = await session.scalar(
        select(func.count()).select_from(Participant).where(Participant.study_id == study_id))
    participant = Participant(
        study_id=study_id, pseudonym=f"P{(count or 0) + 1:02d}", role="expert",
        status="enrolled", stakeholder_group=invite.stakeholder_group, enrolled_at=now,
        timezone=_known_zone(who.timezone),
    )
    session.add(participant)
    await session.flush()
    session.add(Identity(
        participant_id=participant.id, study_id=study_id, platform=who.platform,
        user_id=who.user_id, chat_id=who.chat_id, display_name=who.display_name,
        username=who.username, created_at=now,
    ))
    claimed = await session.execute(
        update(Invite).where(Invite.id == invite.id, Invite.participant_id.is_(None))
        .values(participant_id=participant.id, redeemed_at=now)
        .execution_options(synchronize_session=False))
    if not getattr(claimed, "rowcount", 0):
        raise InviteUsed(INVITE_USED)  # the caller's rollback takes the new rows back out
    await session.flush()
    return participant


def _known_zone(name: str | None) -> str | None:
    """A platform's time zone name if Python knows it; otherwise the study default applies."""
    return name if name and known_time_zone(name) else None


async def get_participant(session: AsyncSession, participant_id: int) -> Participant:
    participant = await session.get(Participant, participant_id)
    if participant is None:
        raise NotEnrolled("You are not enrolled in this study; you need an invite link.")
    return participant


async def _screening_questions(session: AsyncSession, study_id: str) -> list[ScreeningQuestion]:
    return list((await study_spec(session, study_id)).screening)


async def next_screening_question(
    session: AsyncSession, participant: Participant
) -> ScreeningQuestion | None:
    """The first screening question this participant has not answered, if screening."""
    if participant.status != "screening":
        return None
    answered = set((await session.scalars(select(ScreeningAnswer.question_id).where(
        ScreeningAnswer.participant_id == participant.id))).all())
    questions = await _screening_questions(session, participant.study_id)
    return next((q for q in questions if q.id not in answered), None)


async def screening_answered(session: AsyncSession, participant_id: int,
                             question_id: str) -> bool:
    """Whether this participant has answered this screening question already."""
    return await session.get(ScreeningAnswer, (participant_id, question_id)) is not None


async def record_consent(
    session: AsyncSession, participant_id: int, accepted: bool, now: datetime
) -> Participant:
    """Consent moves an enrolled participant on (to screening or active); a decline is final.

    Pressing the same consent button again changes nothing.
    """
    participant = await get_participant(session, participant_id)
    if participant.status != "enrolled":
        return participant
    if not accepted:
        participant.status = "declined"
        return participant
    participant.consented_at = now
    questions = await _screening_questions(session, participant.study_id)
    participant.status = "screening" if questions else "active"
    return participant


async def record_screening_answer(
    session: AsyncSession, participant_id: int, question_id: str, answer: str, now: datetime
) -> Participant:
    """Store one answer; an ineligible answer ends participation; the last one activates."""
    participant = await get_participant(session, participant_id)
    if participant.status != "screening":
        if participant.status in ("active", "ineligible"):
            return participant  # a replayed press after screening ended
        raise ParticipantInactive("There is no screening question waiting for you.")
    questions = {q.id: q for q in await _screening_questions(session, participant.study_id)}
    question = questions.get(question_id)
    if question is None or answer not in question.options:
        raise InvalidValue("That answer is not one of the options; please use the buttons.")
    already = await session.get(ScreeningAnswer, (participant.id, question_id))
    if already is not None:
        return participant
    session.add(ScreeningAnswer(participant_id=participant.id, question_id=question_id,
                                answer=answer, answered_at=now))
    if question.assigns_group:
        participant.stakeholder_group = answer
    elif answer not in question.eligible:
        participant.status = "ineligible"
        return participant
    await session.flush()
    if await next_screening_question(session, participant) is None:
        participant.status = "active"
    return participant


async def withdraw(session: AsyncSession, participant_id: int, now: datetime) -> Participant:
    """Withdraw from the study; ratings already given stay, pseudonymous, as consented.

    With ``[privacy] erase_on_withdrawal = true`` the platform identity is erased too.
    """
    participant = await get_participant(session, participant_id)
    if participant.status != "withdrawn":
        participant.status = "withdrawn"
        participant.withdrawn_at = now
    if (await study_spec(session, participant.study_id)).privacy.erase_on_withdrawal:
        await erase_identity(session, participant.id, now, actor=participant.pseudonym)
    return participant
