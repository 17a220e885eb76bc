"""Races between two `delphi run` workers behind one balancer on one PostgreSQL database:
the competing updates are queued at the fake Telegram together, one after the other,
and the balancer hands one to each worker, which serve them at the same moment.

- Two accounts sending `/start` with one invite: one is enrolled, the other is told the
  invite is used, and nothing of the loser is stored.
- Two coordinators sending `/openround` with different deadlines: one round opens with
  the winner's deadline, the loser is told it is already open, every expert is told the
  stored deadline once, and the deadline task follows it.
- Both coordinators confirming the close at once: the round closes once, each expert
  gets one summary, the other press is told the round was already closed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.cli import main
from bot.dialogue.texts import format_time
from engine.db import make_engine
from engine.models import Identity, Invite, Participant, Round, ScheduledTask
from tests.conftest import PG_URL
from tests.engine.helpers import EXAMPLES
from tests.fakes.telegram_api import running_telegram_fake
from tests.fakes.telegram_model import ChatMessage, SimulatedUser
from tests.reliability.workers import (
    fresh_database,
    round_one_summaries,
    round_robin,
    start_worker,
    stop_workers,
    until,
    worker_config,
)
from tests.telegram.harness import command, free_port, press

PAIRS = 4
SECRET = "worker-races-secret"
USED = "This invite has already been used"
CONSENT = "I agree to take part"

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL "
                                "(DELPHI_TEST_DATABASE_URL); SQLite allows one worker")


async def answer(user: SimulatedUser, sent: ChatMessage, *expected: str) -> ChatMessage:
    """The bot's first message after ``sent`` that contains one of ``expected``."""
    return await user.wait_for_message(
        lambda m: any(e in m.visible_text or e in m.button_texts for e in expected),
        since=sent, timeout=30)


async def test_two_workers_enrol_one_account_per_invite_open_one_round_close_it_once(
        tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    env = {**os.environ, "RACE_TG_TOKEN": "", "RACE_SECRET": SECRET}
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    async with fresh_database() as url, running_telegram_fake() as fake:
        env["RACE_TG_TOKEN"] = fake.token
        cora = fake.create_user("Cora", username="cora_c")
        cole = fake.create_user("Cole", username="cole_c")
        ports = [free_port(), free_port()]
        async with round_robin(ports) as (proxy, served):
            configs = [worker_config(tmp_path / f"worker{i}.toml", url=url,
                                     fake_base_url=fake.base_url,
                                     webhook_url=f"http://127.0.0.1:{proxy}/telegram",
                                     port=port, coordinator=[cora.id, cole.id],
                                     token_env="RACE_TG_TOKEN", secret_env="RACE_SECRET")
                       for i, port in enumerate(ports)]
            os.environ["RACE_TG_TOKEN"], os.environ["RACE_SECRET"] = fake.token, SECRET
            for argv in (["db", "upgrade"], ["study", "load"]):
                assert await asyncio.to_thread(main, [*argv, "--config", str(configs[0])]) == 0
            files = [log.open("wb") for log in logs]
            workers = [await start_worker(c, env, f) for c, f in zip(configs, files, strict=True)]
            try:
                invites = await command(cora, "invite", str(PAIRS), expect="single-use")
                tokens = [t.split()[0] for t in invites.visible_text.split("start=")[1:]]
                pairs = [(fake.create_user(f"Ann{i}"), fake.create_user(f"Ben{i}"))
                         for i in range(PAIRS)]
                # Released together: both /start of a pair queued back to back, so the
                # balancer gives one to each worker.
                sent = [(a.send_command("start", t), b.send_command("start", t))
                        for (a, b), t in zip(pairs, tokens, strict=True)]
                winners = []
                for (a, b), (to_a, to_b) in zip(pairs, sent, strict=True):
                    got = [await answer(a, to_a, CONSENT, USED),
                           await answer(b, to_b, CONSENT, USED)]
                    used = [USED in m.visible_text for m in got]
                    assert sorted(used) == [False, True], [m.visible_text for m in got]
                    winner, consent = (a, got[0]) if used[1] else (b, got[1])
                    await press(winner, consent, CONSENT)
                    winners.append(winner)

                # Two coordinators open round 1 at once with different deadlines.
                to_cora, to_cole = (cora.send_command("openround", "3d"),
                                    cole.send_command("openround", "10d"))
                opened = [await answer(cora, to_cora, "Round 1 is open", "already open"),
                          await answer(cole, to_cole, "Round 1 is open", "already open")]
                texts = [m.visible_text for m in opened]
                refused = ["Round 1 is already open" in t for t in texts]
                assert sorted(refused) == [False, True], texts
                won = refused.index(False)
                for user in winners:
                    await user.wait_for_message(
                        lambda m: m.visible_text.startswith("Round 1 is open"), timeout=30)
                engine = make_engine(url)
                try:
                    async def deadline_task() -> bool:
                        async with engine.connect() as connection:
                            return bool((await connection.execute(
                                select(func.count()).select_from(ScheduledTask).where(
                                    ScheduledTask.kind == "deadline"))).scalar_one())

                    await until(deadline_task, "the deadline task is planned")
                    async with engine.connect() as connection:
                        first = (await connection.execute(
                            select(Round).where(Round.number == 1))).one()
                        due = (await connection.execute(select(ScheduledTask.due_at).where(
                            ScheduledTask.kind == "deadline"))).scalar_one()
                        counts = [(await connection.execute(
                            select(func.count()).select_from(model))).scalar_one()
                            for model in (Participant, Identity)]
                        claimed = (await connection.execute(
                            select(func.count()).select_from(Invite).where(
                                Invite.participant_id.is_not(None)))).scalar_one()
                finally:
                    await engine.dispose()

                # Both confirm closing round 1 at once.
                confirms = [await command(user, "closeround", expect="Close round 1")
                            for user in (cora, cole)]
                presses = [user.press_button(card, "Close the round")
                           for user, card in zip((cora, cole), confirms, strict=True)]
                closed = sorted([str((await q.wait_answered(timeout=30)).answer_text)
                                 for q in presses])
                await round_one_summaries(winners)
                await asyncio.sleep(1.5)  # let a duplicate, if any, arrive before counting
            finally:
                await stop_workers(workers, files)
    assert all(count > 0 for count in served), served
    assert counts == [PAIRS, PAIRS] and claimed == PAIRS
    # The winner's deadline is stored, told to every expert, and followed by the scheduler.
    assert first.status == "open"
    assert first.deadline - first.opened_at == timedelta(days=(3, 10)[won])
    told = format_time(first.deadline, "UTC")
    assert f"until {told}" in texts[won]
    assert due == first.deadline
    for user in winners:
        announced = [m.visible_text for m in user.bot_messages
                     if m.visible_text.startswith("Round 1 is open")]
        assert len(announced) == 1 and f"until {told}" in announced[0], user.transcript()
    # One close; the other press is told so.
    assert closed == ["Round 1 closed.", "Round 1 was already closed; nothing was changed."]
    for user in winners:
        summaries = [m for m in user.bot_messages if m.visible_text.startswith("Round 1 summary")]
        assert len(summaries) == 1, user.transcript()
    for log in logs:
        assert "Traceback" not in log.read_text(errors="replace"), log.read_text()
    assert not fake.internal_errors
