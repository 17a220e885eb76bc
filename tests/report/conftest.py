"""A finished two-round study, run in-process through the conductor and the memory chats.

Round 1: five experts rate S01-S05 (one "unable to rate", three comments); S03 has no
consensus and is revised, S06 is added for round 2 and S07 added then dropped; one comment
is hidden by the coordinator and one expert withdraws. Round 2 (the last): four experts rate
S03 v2 and S06. Final classes: in S01 S02 S05 (round 1) and S03 (round 2), out S04,
no consensus S06, dropped S07.

Platform ids contain a hyphen and names a space, so neither can occur by accident inside
the base64 of an embedded image when the tests scan the outputs for them.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory import MemoryChat, MemoryMessenger
from bot.app.cli import main as cli_main
from bot.delivery.dispatcher import Dispatcher
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store, make_engine
from tests.engine.helpers import EXAMPLES, loaded

PLATFORM = "memory"
COORDINATOR = "coord-id-4711"
ROUND_1 = {0: [5, 5, 4, 2, 5], 1: [4, 5, 4, 1, 5], 2: [5, 4, 1, 2, 4],
           3: [4, 2, 2, None, 5], 4: [5, 4, 2, 1, 4]}
ROUND_1_COMMENTS = {(1, 2): "Depends on the fabric and on the UV index.",
                    (2, 2): "This one is rude and should be moderated.",
                    (4, 3): "Sunscreen alone is not enough for acne patients outdoors."}
ROUND_2 = {0: [4, 2], 1: [5, 4], 2: [4, None], 3: [4, 3]}  # S03 v2, S06
ROUND_2_COMMENTS = {(1, 1): "Hats help but fabric matters; fabric protection varies.",
                    (3, 1): "Evidence on fabric is thin."}
REVISED_S03 = "Protective clothing is more reliable than sunscreen in strong sun."
FINAL = {"S01": "recommendations", "S02": "recommendations", "S05": "recommendations",
         "S03": "recommendations", "S04": "rejected", "S06": "uncertainty",
         "S07": "dropped"}


@dataclass
class FinishedStudy:
    store: Store
    clock: ManualClock
    conductor: Conductor
    messenger: MemoryMessenger
    dispatcher: Dispatcher
    coordinator: MemoryChat
    experts: list[MemoryChat]
    hidden_comment_id: int
    round_2_first_cards: list[str]  # what each expert saw first in round 2 (S03 v2)

    @property
    def study_id(self) -> str:
        return self.conductor.context.study_id

    async def deliver(self) -> int:
        return await self.dispatcher.run_once()


async def _rate(chat: MemoryChat, values: list[int | None],
                comments: dict[int, str]) -> None:
    for position, value in enumerate(values):
        if position in comments:
            await chat.press("Comment")
            await chat.say(comments[position])
        reply = await chat.press("Unable to rate" if value is None else str(value))
        assert reply.toast is not None and reply.toast.startswith("Recorded")
    await chat.press("Submit my ballot")


async def run_study(store: Store, clock: ManualClock) -> FinishedStudy:
    spec = await loaded(store, clock.now())
    conductor = Conductor(StudyContext(
        store, clock, spec,
        Coordinators(frozenset({(PLATFORM, COORDINATOR)})),
        invite_link=lambda token: f"token:{token}"))
    messenger = MemoryMessenger()
    dispatcher = Dispatcher(store, clock, {PLATFORM: messenger})
    coordinator = messenger.chat(conductor, COORDINATOR, "Dr Coordinator Quill")
    await coordinator.command("invite", "5")
    tokens = re.findall(r"token:(\S+)", coordinator.last.plain_text())
    experts = []
    for index, token in enumerate(tokens):
        chat = messenger.chat(conductor, f"uid-9{index}7-x", f"Zelda Plumtree{index}")
        await chat.command("start", token)
        await chat.press("I agree to take part")
        experts.append(chat)
    clock.advance(timedelta(hours=1))
    await coordinator.command("openround", "7d")
    await dispatcher.run_once()
    for index, chat in enumerate(experts):
        clock.advance(timedelta(minutes=5))
        await _rate(chat, ROUND_1[index],
                    {p: t for (e, p), t in ROUND_1_COMMENTS.items() if e == index})
    clock.advance(timedelta(days=1))
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    await dispatcher.run_once()
    clock.advance(timedelta(hours=2))
    await experts[4].command("withdraw")
    await experts[4].press("Yes, withdraw")
    await coordinator.command("comments")
    listing = coordinator.last.plain_text()
    found = re.search(r"#(\d+) .*?S03.*?rude", listing)
    assert found, listing
    hidden = int(found.group(1))
    await coordinator.command("hide", str(hidden))
    await coordinator.command("revise", f"S03 {REVISED_S03}")
    await coordinator.command("add", "Sun protection | Wide-brimmed hats should be "
                                     "recommended to all outdoor workers.")
    await coordinator.command("add", "Sun protection | Hats are useful for outdoor workers.")
    await coordinator.command("drop", "S07 duplicate of S06")
    clock.advance(timedelta(hours=1))
    await coordinator.command("openround", "7d")
    await dispatcher.run_once()
    first_cards = [chat.last.plain_text() for chat in experts[:4]]
    for index, chat in enumerate(experts[:4]):
        clock.advance(timedelta(minutes=5))
        await _rate(chat, ROUND_2[index],
                    {p: t for (e, p), t in ROUND_2_COMMENTS.items() if e == index})
    clock.advance(timedelta(days=1))
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    await dispatcher.run_once()
    return FinishedStudy(store, clock, conductor, messenger, dispatcher, coordinator,
                         experts, hidden, first_cards)



def study_in_sqlite_file(tmp_path: Path,
                         run: Callable[[Store, ManualClock], Awaitable[object]]) -> Path:
    """A migrated SQLite file in ``tmp_path`` holding the study ``run`` drives, and the
    config naming it: what `delphi report` and `delphi export` read, the way a researcher
    sets them up (the tiny study file beside the config, `delphi db upgrade` first)."""
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    database = tmp_path / "delphi.db"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n'
                      '[study]\nfile = "study.toml"\n[telegram]\ntoken = "123:abc"\n'
                      '[coordinators]\ntelegram = [42]\n')
    assert cli_main(["db", "upgrade", "--config", str(config)]) == 0

    async def drive() -> None:
        store = Store(make_engine(f"sqlite:///{database}"))
        try:
            await run(store, ManualClock())
        finally:
            await store.dispose()

    asyncio.run(drive())
    return config

@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed on first use when we are root and it is missing."""
    found = shutil.which("chromium")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 \
            and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
        if subprocess.run(install, check=False, capture_output=True, timeout=900,
                          env=env).returncode != 0:
            # a fresh machine has no package lists yet
            subprocess.run(["apt-get", "update"], check=False, capture_output=True,
                           timeout=900, env=env)
            subprocess.run(install, check=False, capture_output=True, timeout=900, env=env)
        found = shutil.which("chromium")
    if found is None:
        pytest.skip("headless render test needs Debian's `chromium` (apt-get install "
                    "chromium; installed automatically only when running as root)")
    return found


@pytest.fixture(scope="session")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`delphi demo`'s output folder (a smaller panel, run once for the session)."""
    from bot.app.cli import main

    out = tmp_path_factory.mktemp("demo") / "out"
    assert main(["demo", "--out", str(out), "--seed", "3", "--experts", "8"]) == 0
    return out


@pytest.fixture
async def finished(store: Store, clock: ManualClock) -> FinishedStudy:
    return await run_study(store, clock)
