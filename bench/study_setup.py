"""A ready-to-rate study for a benchmark's `delphi run` process: config, migrated database
(SQLite in the folder unless a URL is given), a study loaded (the tiny one unless a file
is given), the experts enrolled and consented, round 1 open."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app.cli import main as delphi
from engine import rounds
from engine.clock import SystemClock
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, record_consent, redeem_invite
from engine.studyfile import load_study_file

STUDY = Path(__file__).resolve().parents[1] / "engine" / "examples" / "tiny.toml"
INVITES_PER_CALL = 1000  # create_invites' own limit


async def prepare_study(folder: Path, messenger_toml: str, experts: list[PlatformUser], *,
                        study: Path = STUDY, database_url: str | None = None) -> Path:
    """Write ``folder/config.toml`` (database, study and the given messenger section) and
    prepare its database through the real CLI and engine; return the config's path."""
    url = database_url or f"sqlite:///{folder / 'bench.db'}"
    config = folder / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[study]\nfile = "{study}"\n{messenger_toml}')
    for argv in (["db", "upgrade"], ["study", "load"]):
        code = await asyncio.to_thread(delphi, [*argv, "--config", str(config)])
        assert code == 0, argv
    spec = load_study_file(study)
    clock = SystemClock()
    store = Store.from_url(url)
    try:
        async with store.transaction() as session:
            for start in range(0, len(experts), INVITES_PER_CALL):
                chunk = experts[start:start + INVITES_PER_CALL]
                tokens = await create_invites(session, spec.study.id, len(chunk), clock.now())
                for who, token in zip(chunk, tokens, strict=True):
                    participant = await redeem_invite(session, spec.study.id, token, who,
                                                      clock.now())
                    await record_consent(session, participant.id, True, clock.now())
            await rounds.open_round(session, spec.study.id, clock.now())
    finally:
        await store.dispose()
    return config
