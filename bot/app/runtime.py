"""`delphi run`: the composition root that wires store, study, conductor, adapters, outbox.

One process serves every configured messenger over one database, one outbox dispatcher
and one scheduler (deadlines, nudges, digests). SIGINT / SIGTERM stop it cleanly:
adapters stop taking updates first, then the scheduler, then the dispatcher, then the
database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress

from bot.app.config import Config
from bot.app.failures import CommandError
from bot.app.readiness import require_current_schema
from bot.chat.ports import Adapter, Dialogue
from bot.chat.text import Step, say, slash, spell
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from bot.dialogue.scheduler import Scheduler
from engine.clock import Clock, SystemClock
from engine.db import Store
from engine.errors import StudyMismatch
from engine.loading import get_study
from engine.studyfile import StudyFile, load_study_file

log = logging.getLogger(__name__)


async def check_ready(store: Store, config: Config, config_path: str) -> StudyFile:
    """Refuse to start on an outdated schema or a study file that differs from the loaded one."""
    await require_current_schema(store, config_path)
    spec = load_study_file(config.study_path)
    async with store.transaction() as session:
        study = await get_study(session, spec.study.id)
        if study.content_hash != spec.content_hash():
            raise StudyMismatch(
                f"{config.study_path} differs from the study loaded in the database; "
                "change statements with the coordinator commands, not by editing the file.")
    return spec


def missing_coordinators(config: Config) -> list[str]:
    """A served messenger without a coordinator: nobody there could open a round."""
    from adapters.slack.render import slack_command

    served = {"telegram": (config.telegram, config.coordinators.telegram, slash),
              "slack": (config.slack, config.coordinators.slack, slack_command)}
    return [f"no coordinator is configured for {platform}, so nobody there can run the study. "
            f"Send {spell(say(Step('whoami')), spelling)} to the bot, put the id it shows in "
            f"[coordinators] {platform} = [...] in the config, and restart."
            for platform, (section, ids, spelling) in served.items()
            if section is not None and not ids]


def coordinators_of(config: Config) -> Coordinators:
    return Coordinators.of(config.coordinators.telegram, config.coordinators.slack)


def build_adapters(dialogue: Dialogue, config: Config) -> list[Adapter]:
    """The configured messengers. Imported here, at the composition root, because
    adapters depend on the bot package and not the other way round."""
    adapters: list[Adapter] = []
    if config.telegram is not None:
        from adapters.telegram.adapter import TelegramAdapter

        adapters.append(TelegramAdapter(dialogue, config.telegram))
    if config.slack is not None:
        from adapters.slack import build_slack_adapter

        adapters.append(build_slack_adapter(dialogue, config.slack))
    return adapters


class Service:
    """Everything `delphi run` starts, built whole here, started in order, stopped in reverse.

    The study context is made once, with the service's own ways to write an invite (through
    every adapter) and to react to a commit that queued messages (wake the dispatcher,
    re-plan the scheduler); ``adapters`` makes the messengers for the conductor.
    """

    def __init__(self, store: Store, clock: Clock, spec: StudyFile, coordinators: Coordinators,
                 adapters: Callable[[Dialogue], Sequence[Adapter]]) -> None:
        self.store = store
        self.context = StudyContext(store, clock, spec, coordinators,
                                    invite_link=self._invite_link,
                                    outbox_committed=self._outbox_committed)
        self.conductor = Conductor(self.context)
        self.adapters = list(adapters(self.conductor))
        self.dispatcher = Dispatcher(store, clock, {a.platform: a for a in self.adapters},
                                     coordinators=coordinators.ids)
        self.scheduler = Scheduler(self.context, self.conductor.coordination,
                                   on_outbox=self.dispatcher.wake)

    async def start(self) -> None:
        started: list[Adapter] = []
        try:
            for adapter in self.adapters:
                await adapter.start()
                started.append(adapter)
        except BaseException:
            for adapter in reversed(started):
                await adapter.stop()
            raise
        try:
            await self.scheduler.start()  # catches up on what fell due while down
        except BaseException:
            for adapter in reversed(self.adapters):
                with suppress(Exception):
                    await adapter.stop()
            raise
        self.dispatcher.start()

    def _invite_link(self, token: str) -> str:
        """How each served messenger redeems ``token``: a Telegram link, a Slack command."""
        return " · ".join(adapter.invite_form(token) for adapter in self.adapters) or token

    def _outbox_committed(self) -> None:
        """A commit queued messages (a round opened, a deadline moved...): deliver them,
        and let the scheduler re-plan."""
        self.dispatcher.wake()
        self.scheduler.poke()

    async def stop(self) -> None:
        for adapter in reversed(self.adapters):
            with suppress(Exception):
                await adapter.stop()
        await self.scheduler.stop()
        await self.dispatcher.stop()


# Objects allocated between two young-generation collections once the bot serves.
YOUNG_GENERATION_THRESHOLD = 20_000


def freeze_startup_heap() -> None:
    """Take what start-up loaded (the libraries, the study, the adapters: some 250,000
    objects that live as long as the process) out of the garbage collector's scans, and
    collect the young generation less often.

    A full collection walks every tracked object; over the start-up heap it takes about
    150 ms, and every expert's press waits for it. ``gc.freeze`` is Python's own tool for
    objects that never become garbage: the collector then only scans what the bot creates
    while it runs.

    Python's default (a young collection every 700 new objects) suits short scripts. Here
    every collection re-scans the objects of the requests still in flight (bolt's and
    PTB's request objects, ORM sessions), which are alive and cannot be collected. Once
    every ``YOUNG_GENERATION_THRESHOLD`` objects, the bot collects the same garbage in
    about a third of the collector's time: measured in ``delphi run`` under the Slack
    benchmark, from about 1.2 s to 0.4 s over 4,000 presses.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)


async def run_bot(config: Config, config_path: str) -> int:
    if config.telegram is None and config.slack is None:
        raise CommandError(f"{config_path}: no messenger configured; add a [telegram] or "
                           "[slack] section (see config.example.toml)")
    store = Store.from_url(config.database_url)
    try:
        spec = await check_ready(store, config, config_path)
        clock = SystemClock()
        service = Service(store, clock, spec, coordinators_of(config),
                          lambda dialogue: build_adapters(dialogue, config))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await service.start()
        for warning in missing_coordinators(config):
            log.warning("%s", warning)
            print(f"delphi: warning: {warning}", file=sys.stderr, flush=True)
        freeze_startup_heap()
        log.info("delphi is running study %s on %s", spec.study.id,
                 ", ".join(a.platform for a in service.adapters))
        print(f"delphi: running study {spec.study.id!r} on "
              f"{', '.join(a.platform for a in service.adapters)}; Ctrl-C stops.", flush=True)
        try:
            await stop.wait()
        finally:
            await service.stop()
        print("delphi: stopped.", flush=True)
        return 0
    finally:
        await store.dispose()
