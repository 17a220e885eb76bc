"""Revising, dropping and adding statements between rounds.

All changes go into the next round's draft; the round being rated is never changed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import (
    ConcurrentChange,
    InvalidValue,
    NoMoreRounds,
    NotFound,
    RevisionNotAllowed,
)
from engine.loading import get_study, study_file_of
from engine.models import Round, RoundItem, Statement, StatementVersion
from engine.rounds import (
    latest_round,
    latest_versions,
    open_round_or_none,
    round_by_status,
    set_round_items,
)
from engine.visible import is_blank

MAX_STATEMENT_CHARS = 1500


async def _draft_for_changes(session: AsyncSession, study_id: str) -> Round:
    current = await open_round_or_none(session, study_id)
    if current is not None:
        raise RevisionNotAllowed(
            f"Round {current.number} is open; statements can be changed after it closes, for "
            "the next round.")
    draft = await round_by_status(session, study_id, "draft")
    if draft is not None:
        return draft
    spec = study_file_of(await get_study(session, study_id))
    last = await latest_round(session, study_id)
    if last is None or last.number >= spec.study.max_rounds:
        raise NoMoreRounds(f"No further round is possible (the study allows at most "
                           f"{spec.study.max_rounds}), so statements can no longer change.")
    draft = Round(study_id=study_id, number=last.number + 1, status="draft")
    session.add(draft)
    await session.flush()
    return draft


async def _statement(session: AsyncSession, study_id: str, code: str) -> Statement:
    statement = await session.scalar(select(Statement).where(
        Statement.study_id == study_id, Statement.code == code))
    if statement is None:
        raise NotFound(f"There is no statement {code}.")
    if statement.dropped_in_round is not None:
        raise NotFound(f"Statement {code} was dropped in round {statement.dropped_in_round}.")
    return statement


def _clean_text(text: str) -> str:
    text = " ".join(text.split())
    if is_blank(text):
        raise InvalidValue("The statement text is empty (only blank or invisible "
                           "characters); nothing was changed.")
    if len(text) > MAX_STATEMENT_CHARS:
        raise InvalidValue(f"Statements can be at most {MAX_STATEMENT_CHARS} characters.")
    return text


async def _draft_versions(session: AsyncSession, draft: Round) -> list[StatementVersion]:
    return list(await session.scalars(
        select(StatementVersion).join(RoundItem, RoundItem.statement_version_id
                                      == StatementVersion.id)
        .where(RoundItem.round_id == draft.id)))


Wording = tuple[int, str]


async def domains(session: AsyncSession, study_id: str) -> list[str]:
    """The study's domains, in the order of their first statement."""
    return list(dict.fromkeys((await session.scalars(
        select(Statement.domain).where(Statement.study_id == study_id)
        .order_by(Statement.position))).all()))


async def statement_code(session: AsyncSession, version: StatementVersion) -> str:
    """The code of the statement a version belongs to."""
    return str(await session.scalar(select(Statement.code).where(
        Statement.id == version.statement_id)))


async def newest_wording(session: AsyncSession, study_id: str, code: str) -> Wording | None:
    """The id and text of a statement's newest version, read without loading it: what a
    /revise is based on, to be compared again once the study is locked."""
    row = (await session.execute(
        select(StatementVersion.id, StatementVersion.text)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(Statement.study_id == study_id, Statement.code == code)
        .order_by(StatementVersion.version.desc()).limit(1))).first()
    return (row[0], row[1]) if row is not None else None


async def revise_statement(
    session: AsyncSession, study_id: str, code: str, text: str, now: datetime,
    note: str | None = None, seen: Wording | None = None,
) -> StatementVersion:
    """A new version for the next round, linked to the one it revises.

    ``seen``: the wording the reviser started from (see :func:`newest_wording`); when
    another coordinator's revision was stored since, this one is refused, not merged.
    """
    text = _clean_text(text)
    draft = await _draft_for_changes(session, study_id)
    statement = await _statement(session, study_id, code)
    current = (await latest_versions(session, study_id))[code]
    if seen is not None and seen != (current.id, current.text):
        raise ConcurrentChange(f"{code} was just revised by another coordinator; nothing "
                               "changed. Its wording is now: " + current.text)
    if " ".join(current.text.split()) == text:
        # A new version would be a new question: stability would restart for nothing.
        raise InvalidValue(f"{code} already has exactly this wording (spacing aside); "
                           "nothing was changed.")
    if current.created_for_round == draft.number:
        # Revised twice before the round opens: amend the pending version in place.
        current.text, current.change_note = text, note
        await session.flush()
        version = current
    else:
        version = StatementVersion(
            statement_id=statement.id, version=current.version + 1, text=text,
            revised_from_id=current.id, change_note=note, created_for_round=draft.number,
            created_at=now)
        session.add(version)
        await session.flush()
    versions = [v for v in await _draft_versions(session, draft)
                if v.statement_id != statement.id]
    await set_round_items(session, draft, [*versions, version])
    return version


async def drop_statement(
    session: AsyncSession, study_id: str, code: str, now: datetime, reason: str | None = None,
) -> Statement:
    """Remove a statement from the next round onwards (its past ratings stay)."""
    draft = await _draft_for_changes(session, study_id)
    statement = await _statement(session, study_id, code)
    statement.dropped_in_round = draft.number
    statement.drop_reason = reason
    versions = [v for v in await _draft_versions(session, draft)
                if v.statement_id != statement.id]
    await set_round_items(session, draft, versions)
    return statement


async def add_statement(
    session: AsyncSession, study_id: str, domain: str, text: str, now: datetime,
    code: str | None = None,
) -> StatementVersion:
    """A new statement, first rated in the next round."""
    text = _clean_text(text)
    domain = " ".join(domain.split())
    if is_blank(domain) or len(domain) > 80:
        raise InvalidValue("Give a domain of 1 to 80 characters.")
    draft = await _draft_for_changes(session, study_id)
    twin = next((v for v in await _draft_versions(session, draft) if v.text == text), None)
    if twin is not None:
        twin_code = await session.scalar(select(Statement.code).where(
            Statement.id == twin.statement_id))
        raise InvalidValue(f"That statement is already on round {draft.number}'s ballot as "
                           f"{twin_code}; nothing was changed.")
    codes = set((await session.scalars(select(Statement.code).where(
        Statement.study_id == study_id))).all())
    if code is None:
        number = len(codes) + 1
        while f"S{number:02d}" in codes:
            number += 1
        code = f"S{number:02d}"
    elif code in codes:
        raise InvalidValue(f"Statement id {code} is already taken.")
    position = (await session.scalar(select(func.max(Statement.position)).where(
        Statement.study_id == study_id))) or 0
    statement = Statement(study_id=study_id, code=code, domain=domain, position=position + 1,
                          added_in_round=draft.number)
    session.add(statement)
    await session.flush()
    version = StatementVersion(statement_id=statement.id, version=1, text=text,
                               created_for_round=draft.number, created_at=now)
    session.add(version)
    await session.flush()
    await set_round_items(session, draft, [*await _draft_versions(session, draft), version])
    return version
