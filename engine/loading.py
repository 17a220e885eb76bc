"""Putting a validated study file into the database, once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from engine.errors import StudyMismatch, StudyNotLoaded
from engine.models import Round, RoundItem, Statement, StatementVersion, Study
from engine.studyfile import StudyFile


@dataclass(frozen=True)
class LoadOutcome:
    study_id: str
    created: bool
    statements: int


def protocol_hash(protocol: dict[str, object]) -> str:
    return hashlib.sha256(
        json.dumps(protocol, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


async def load_study(session: AsyncSession, spec: StudyFile, now: datetime) -> LoadOutcome:
    """Create the study, its statements (version 1) and round 1 as a draft.

    Loading the same file again is a no-op; loading a *different* file for a study id
    that already exists is refused, because ratings already refer to the old wording.
    """
    existing = await session.get(Study, spec.study.id)
    if existing is not None:
        if existing.content_hash != spec.content_hash():
            raise StudyMismatch(
                f"The database already holds study {spec.study.id!r} loaded from a different "
                "file; revise statements with the coordinator commands, or use a new study id "
                "or a new database."
            )
        return LoadOutcome(spec.study.id, created=False, statements=len(spec.statements))
    protocol = spec.protocol()
    session.add(
        Study(
            id=spec.study.id,
            title=spec.study.title,
            description=spec.study.description,
            definition=spec.model_dump(mode="json"),
            content_hash=spec.content_hash(),
            protocol=protocol,
            protocol_hash=protocol_hash(protocol),
            protocol_frozen_at=None,
            loaded_at=now,
        )
    )
    await session.flush()  # no ORM relationships, so the parent row goes in first explicitly
    first_round = Round(study_id=spec.study.id, number=1, status="draft")
    session.add(first_round)
    await session.flush()
    for position, item in enumerate(spec.statements, start=1):
        statement = Statement(
            study_id=spec.study.id, code=item.id, domain=item.domain, position=position,
            added_in_round=1,
        )
        session.add(statement)
        await session.flush()
        version = StatementVersion(
            statement_id=statement.id, version=1, text=item.text, created_for_round=1,
            created_at=now,
        )
        session.add(version)
        await session.flush()
        session.add(RoundItem(round_id=first_round.id, statement_version_id=version.id,
                              position=position))
    return LoadOutcome(spec.study.id, created=True, statements=len(spec.statements))


async def get_study(session: AsyncSession, study_id: str) -> Study:
    study = await session.get(Study, study_id)
    if study is None:
        raise StudyNotLoaded(
            f"Study {study_id!r} is not in the database yet; run `delphi study load`."
        )
    return study


_DEFINITIONS: dict[str, StudyFile] = {}


def study_file_of(study: Study) -> StudyFile:
    """The validated definition stored with the study (the file as it was loaded).

    A definition never changes once loaded (its content hash is the key), so the parsed
    form is kept: validating it on every button press would dominate the press's cost.
    """
    cached = _DEFINITIONS.get(study.content_hash)
    if cached is None:
        cached = _DEFINITIONS[study.content_hash] = StudyFile.model_validate(study.definition)
    return cached


async def only_study_id(session: AsyncSession) -> str | None:
    """The single study in a database, for commands that were not told which one."""
    ids = (await session.scalars(select(Study.id).limit(2))).all()
    return ids[0] if len(ids) == 1 else None


async def study_spec(session: AsyncSession, study_id: str) -> StudyFile:
    """The study's definition, read once per database (it never changes once loaded)."""
    memo = session.info.get("memo")
    key = ("spec", study_id)
    if memo is not None and key in memo:
        cached: StudyFile = memo[key]
        return cached
    spec = study_file_of(await get_study(session, study_id))
    if memo is not None:
        memo[key] = spec
    return spec
