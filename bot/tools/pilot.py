"""`delphi pilot`: take a study's ballot yourself, in the terminal, before any expert does.

The pilot is an expert of a throw-away study (a temporary SQLite file) run by the real
conductor: the same consent text, screening questions, statement cards, comments, Back,
review and submit an expert gets in Telegram or Slack, with buttons shown as numbered
choices. When the pilot submits, a simulated panel rates too, the round closes, and the
pilot reads the summary an expert would receive. At the end: how long it took per
statement, and the longest card (messages over a platform's limit are split).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from adapters.console.render import choices, render
from adapters.memory import MemoryChat
from bot.chat.text import spell
from bot.tools.demo import Demo, example_study
from engine.db import Store
from engine.loading import load_study
from engine.schema import upgrade
from engine.studyfile import StudyFile, load_study_file

SIMULATED_PANEL = 14
HELP = ("Type a number to press that choice (^number: a choice of the message above, e.g. "
        "how sure you are), text to answer a comment request, /ballot, /progress or /help "
        "like an expert, or q to quit.")


class Terminal:
    """Shows a chat's new and edited messages, reads the pilot's next line."""

    def __init__(self, chat: MemoryChat, out: TextIO, source: TextIO) -> None:
        self.chat = chat
        self.out = out
        self.source = source
        self.shown: dict[int, int] = {}  # message id -> number of versions already shown

    def show_new(self) -> None:
        for message in self.chat.messages:
            versions = len(message.history) + 1
            if self.shown.get(message.id) == versions:
                continue
            updated = message.id in self.shown
            self.shown[message.id] = versions
            if updated and not message.card.buttons:
                self.out.write(f"(updated) {message.card.plain_text().splitlines()[-1]}\n\n")
                continue
            self.out.write(("(updated)\n" if updated else "") + render(message.card) + "\n")
        self.out.flush()

    async def read(self) -> str | None:
        self.out.write("> ")
        self.out.flush()
        line = await asyncio.to_thread(self.source.readline)
        return None if line == "" else line.strip()


def _submitted(chat: MemoryChat) -> bool:
    return any("ballot is submitted" in m.card.plain_text() for m in chat.messages[-3:])


def _finished(chat: MemoryChat) -> bool:
    text = chat.last.plain_text() if chat.messages else ""
    return any(word in text for word in ("Nothing more will be sent", "not ask you to rate",
                                         "You have withdrawn"))


async def _interact(terminal: Terminal, chat: MemoryChat) -> bool:
    """Until the pilot submits round 1; False when they quit or leave the study."""
    while True:
        terminal.show_new()
        if _submitted(chat):
            return True
        if _finished(chat):
            return False
        line = await terminal.read()
        if line is None or line.lower() in ("q", "quit", "exit"):
            return False
        if not line:
            continue
        if line.startswith("/"):
            name, _, args = line[1:].partition(" ")
            await chat.command(name, args)
        elif line.isascii() and line.lstrip("^").isdigit() and len(line) <= 4:
            # N presses a choice of the newest message with buttons; ^N one of the message
            # above it (a rated card's "how sure are you?").
            above = line.startswith("^")
            line = line.lstrip("^")
            pressables = [m for m in reversed(chat.messages) if m.card.buttons]
            pressable = pressables[1 if above else 0] if len(pressables) > above else None
            options = choices(pressable.card) if pressable else []
            if not 1 <= int(line) <= len(options):
                terminal.out.write(f"Choose 1 to {len(options)}. {HELP}\n")
                continue
            reply = await chat.press_data(options[int(line) - 1].data, pressable)
            if reply.toast:
                terminal.out.write(f"  ({reply.toast})\n\n")
        else:
            await chat.say(line)


def _shows_round_two(spec: StudyFile) -> bool:
    """Whether round 2 shows the pilot anything round 1 cannot: a reason asked for an
    outlying rating, each group's figures, replies to comments."""
    return (spec.feedback.ask_reason != "off" or spec.feedback.by_group
            or spec.feedback.replies)


async def _round_two(demo: Demo, terminal: Terminal, pilot: MemoryChat, spec: StudyFile,
                     out: TextIO) -> None:
    """With those settings on, round 2 opens for the pilot too: the panel's figures, by
    group; the comments to reply to; the reason question after an outlying rating."""
    if not _shows_round_two(spec):
        return
    await demo.coordinator.command("openround", f"{spec.schedule.round_days}d")
    if "Round 2 is open" not in demo.coordinator.last.plain_text():
        return
    await demo.deliver()
    out.write("\nRound 2 opens, as the experts see it: the panel's answers beside each "
              "statement" + (", by group" if spec.feedback.by_group else "")
              + (", comments you can reply to" if spec.feedback.replies else "")
              + (", and a one-line reason asked after a rating away from the panel"
                 if spec.feedback.ask_reason != "off" else "") + ".\n\n")
    if await _interact(terminal, pilot):
        await demo.rate_round(2, quiet=True)
        await demo.close_round()
        terminal.show_new()
    out.write("\nPilot ended.\n")


async def run_pilot(study: Path | None, seed: int, out: TextIO = sys.stdout,
                    source: TextIO = sys.stdin) -> int:
    spec: StudyFile = load_study_file(study) if study else example_study()
    with tempfile.TemporaryDirectory() as folder:
        store = Store.from_url(f"sqlite:///{Path(folder) / 'pilot.db'}")
        try:
            await upgrade(store.engine)
            demo = Demo(store, spec, seed, SIMULATED_PANEL)
            async with store.transaction() as session:
                await load_study(session, spec, demo.clock.now())
            await demo.enrol()
            await demo.coordinator.command("invite", "1")
            token = spell(demo.coordinator.last.sections[-1].text).strip()
            pilot = demo.messenger.chat(demo.conductor, "pilot", "Pilot")
            out.write(f"Piloting {spec.study.title}\n{HELP}\n\n")
            await pilot.command("start", token)
            terminal = Terminal(pilot, out, source)
            started = time.monotonic()
            await demo.coordinator.command("openround", f"{spec.schedule.round_days}d")
            await demo.deliver()
            if not await _interact(terminal, pilot):
                out.write("\nPilot ended.\n")
                return 0
            minutes = (time.monotonic() - started) / 60
            out.write("\nThe simulated panel is rating round 1 and the coordinator closes "
                      "it...\n")
            await demo.rate_round(1, quiet=True)
            await demo.close_round()
            terminal.show_new()
            longest = max(len(m.card.plain_text()) for m in pilot.messages)
            count = len(spec.statements)
            out.write(f"Your ballot: {count} statements in {minutes:.1f} minutes "
                      f"({minutes * 60 / count:.0f} s per statement). Longest message: "
                      f"{longest} characters (Telegram splits above 4096, Slack sections "
                      "above 3000).\n")
            await _round_two(demo, terminal, pilot, spec, out)
        finally:
            await store.dispose()
    return 0
