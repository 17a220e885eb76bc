"""Building blocks for engine tests: a loaded study with an active panel."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, record_consent, redeem_invite
from engine.loading import load_study
from engine.studyfile import StudyFile, load_study_file

EXAMPLES = Path(__file__).resolve().parents[2] / "engine" / "examples"


def tiny_study() -> StudyFile:
    return load_study_file(EXAMPLES / "tiny.toml")


async def loaded(store: Store, now: datetime, spec: StudyFile | None = None) -> StudyFile:
    spec = spec or tiny_study()
    async with store.transaction() as session:
        await load_study(session, spec, now)
    return spec


async def enrol_panel(store: Store, study_id: str, size: int, now: datetime) -> list[int]:
    """Invite, enrol and consent ``size`` experts; return their participant ids."""
    async with store.transaction() as session:
        tokens = await create_invites(session, study_id, size, now)
    ids = []
    for index, token in enumerate(tokens):
        who = PlatformUser("telegram", str(1000 + index), str(1000 + index), f"Expert {index}",
                           f"expert{index}")
        async with store.transaction() as session:
            participant = await redeem_invite(session, study_id, token, who, now)
            await record_consent(session, participant.id, True, now)
            ids.append(participant.id)
    return ids
