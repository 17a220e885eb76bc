"""Hostile coordinator arguments, sent through python-telegram-bot against the Telegram
fake in a study kept in America/New_York: each gets one sentence, nothing is written and
nothing is logged as an error (the traceback the campaign found is gone)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.db import Store
from engine.models import Invite, Round
from engine.studyfile import load_study_file
from tests.engine.helpers import EXAMPLES, loaded
from tests.fakes.telegram_api import running_telegram_fake
from tests.fakes.telegram_model import SimulatedUser
from tests.telegram.harness import command, one_expert_in_round_one, press, running_bot

HUGE = "12345678901234567890123"
TOO_FAR = "A deadline can be at most 365 days ahead; nothing was changed."
PAST = "The deadline must be in the future; nothing was changed."
BEFORE_ROUND = [
    ("invite ²", "Use: /invite <number from 1 to 200>"),
    ("invite ١", "Use: /invite <number from 1 to 200>"),
    (f"invite {HUGE}", "Use: /invite <number from 1 to 200>"),
    ("invite 201", "Use: /invite <number from 1 to 200> (201 is not from 1 to 200.)"),
    ("openround 9999-12-31 23:59", TOO_FAR),
    ("openround 999d", TOO_FAR),
    ("openround 2020-01-01", PAST),
    ("openround ２０２７-01-01", "Cannot read the deadline"),
    ("openround 2026-02-30", "There is no date or time '2026-02-30'"),
    ("openround 2026-01-05 25:00", "There is no date or time"),
]
IN_ROUND = [
    ("hide ²", "Use: /hide <comment number>, e.g. /hide 12 (see /comments)."),
    (f"hide {HUGE}", "Use: /hide <comment number>"),
    (f"unhide #{HUGE}", "Use: /unhide <comment number>"),
    ("hide 99999", "There is no comment #99999"),
    ("comments ²", "Use: /comments [round number]"),
    (f"comments {HUGE}", "Use: /comments [round number]"),
    ("extend 999d", TOO_FAR),
    ("extend 9999-12-31 23:59", TOO_FAR),
    ("extend 9999-12-31", TOO_FAR),
    (f"extend {HUGE}h", "Cannot read the deadline '12345678901234567890123h'"),
    ("extend 2026-01-01", PAST),
    ("extend ³d", "Cannot read the deadline"),
]


async def _answer(user: SimulatedUser, text: str) -> str:
    sent = user.send_text("/" + text)
    return (await user.wait_for_message(since=sent)).visible_text


async def _state(store: Store) -> tuple[int, list[tuple[int, str, datetime | None]]]:
    async with store.transaction() as session:
        invites = await session.scalar(select(func.count()).select_from(Invite)) or 0
        rounds = [(r.number, r.status, r.deadline) for r in await session.scalars(
            select(Round).order_by(Round.number))]
    return invites, rounds


async def test_hostile_arguments_get_a_sentence_and_change_nothing(
        store: Store, clock: ManualClock, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    study = tmp_path / "study.toml"
    study.write_text((EXAMPLES / "tiny.toml").read_text().replace(
        'max_rounds = 2', 'max_rounds = 2\ntimezone = "America/New_York"'))
    spec = await loaded(store, clock.now(), load_study_file(study))
    assert spec.study.timezone == "America/New_York"
    caplog.set_level(logging.WARNING)
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        before = await _state(store)
        for text, sentence in BEFORE_ROUND:
            assert sentence in await _answer(bot.coordinator, text), text
        assert await _state(store) == before
        ask = await command(bot.coordinator, "openround", "7d",
                            expect="No expert is on the panel yet")
        assert await _state(store) == before  # asked first: nobody has joined
        assert await press(bot.coordinator, ask, "Open round 1 anyway") == "Round 1 is open."
        opened = await _state(store)
        for text, sentence in IN_ROUND:
            assert sentence in await _answer(bot.coordinator, text), text
        assert await _state(store) == opened
        assert "Round 1 now closes" in await _answer(bot.coordinator, "extend 2026-01-20 18:00")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert errors == []
    _, rounds = await _state(store)
    assert rounds[0][2] is not None
    assert rounds[0][2].replace(tzinfo=None) == datetime(2026, 1, 20, 23, 0)  # 18:00 EST


async def test_hostile_time_zones_get_a_sentence(store: Store, clock: ManualClock,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    spec = await loaded(store, clock.now())
    caplog.set_level(logging.WARNING)
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        expert, _ = await one_expert_in_round_one(bot)
        for zone in ("Europe", "Europe/" + "x" * 300, "²", "../../etc/passwd",
                     "/etc/localtime", "Mars/Olympus", "zone.tab"):
            answer = await _answer(expert, f"timezone {zone}")
            assert answer.startswith("Your time zone is UTC. To change it send e.g. "
                                     "/timezone Europe/Berlin"), (zone, answer)
        assert await _answer(expert, "timezone America/New_York") == \
            "Times are now shown in America/New_York."
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
