"""A ready-to-rate study for a benchmark's `delphi run` process: config, migrated SQLite
database, the tiny study loaded, the experts enrolled and consented, round 1 open."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.cli import main as delphi
from engine import rounds
from engine.clock import SystemClock
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, record_consent, redeem_invite
from engine.studyfile import load_study_file

STUDY = Path(__file__).resolve().parents[1] / "engine" / "examples" / "tiny.toml"


async def prepare_study(folder: Path, messenger_toml: str,
                        experts: list[PlatformUser]) -> Path:
    """Write ``folder/config.toml`` (database, study and the given messenger section) and
    prepare its database through the real CLI and engine; return the config's path."""
    config = folder / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{folder / "bench.db"}"\n'
        f'[study]\nfile = "{STUDY}"\n{messenger_toml}')
    for argv in (["db", "upgrade"], ["study", "load"]):
        code = await asyncio.to_thread(delphi, [*argv, "--config", str(config)])
        assert code == 0, argv
    spec = load_study_file(STUDY)
    clock = SystemClock()
    store = Store.from_url(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    try:
        async with store.transaction() as session:
            tokens = await create_invites(session, spec.study.id, len(experts), clock.now())
            for who, token in zip(experts, tokens, strict=True):
                participant = await redeem_invite(session, spec.study.id, token, who,
                                                  clock.now())
                await record_consent(session, participant.id, True, clock.now())
            await rounds.open_round(session, spec.study.id, clock.now())
    finally:
        await store.dispose()
    return config
