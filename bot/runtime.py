"""`delphi run`: the composition root that wires the store, the study and the messengers."""

from __future__ import annotations

from bot.config import Config
from engine.db import Store
from engine.errors import StudyMismatch
from engine.loading import get_study
from engine.studyfile import load_study_file


async def check_ready(store: Store, config: Config, config_path: str) -> str:
    """Refuse to start on an outdated schema or a study file that differs from the loaded one.

    Returns the study id.
    """
    from bot.cli import require_current_schema

    await require_current_schema(store, config_path)
    spec = load_study_file(config.study_path)
    async with store.transaction() as session:
        study = await get_study(session, spec.study.id)
        if study.content_hash != spec.content_hash():
            raise StudyMismatch(
                f"{config.study_path} differs from the study loaded in the database; "
                "change statements with the coordinator commands, not by editing the file.")
    return spec.study.id


async def run_bot(config: Config, config_path: str) -> int:
    from bot.cli import CommandError

    store = Store.from_url(config.database_url)
    try:
        await check_ready(store, config, config_path)
        if config.telegram is None and config.slack is None:
            raise CommandError(f"{config_path}: no messenger configured; add a [telegram] or "
                               "[slack] section (see config.example.toml)")
        raise CommandError("this build has no messenger adapter yet: the Telegram and Slack "
                           "adapters are still being built (see README, Status)")
    finally:
        await store.dispose()
