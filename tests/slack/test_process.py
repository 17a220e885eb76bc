"""`delphi run` serving a Slack panel as its own process, as a workspace would reach it.

Signed requests go to the process's bolt endpoint (HTTP mode, port from the config) and
its Web API calls go to the loopback fake (``api_url``). A coordinator invites, experts
join and rate, an attacker forges, backdates and replays requests; the export made
afterwards by ``delphi export`` must hold exactly what the experts pressed.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.app.cli import main
from tests.engine.helpers import EXAMPLES
from tests.fakes.slack_api import FakeMessage, FakeSlackApi, SimulatedUser, running_slack_fake
from tests.fakes.slack_client import BoltReply, Signing, SlackPlatformClient
from tests.slack.harness import TOKENS, card_of, find_button
from tests.telegram.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "process-test-signing-secret"
WAIT = 30.0
# What each expert presses on statements 1-5 of round 1 (None: unable to rate).
PLAN: list[list[int | None]] = [[5, 4, 4, 2, 5], [3, 5, None, 1, 4], [4, 4, 2, 2, 5]]
CHANGED = 1  # expert 0 changes statement 1 from 5 to this, after rating everything


@asynccontextmanager
async def delphi_run(folder: Path, fake: FakeSlackApi, coordinator: SimulatedUser
                     ) -> AsyncIterator[tuple[SlackPlatformClient, asyncio.subprocess.Process]]:
    """A prepared database and `delphi run` with a [slack] section; stopped with SIGTERM."""
    shutil.copy(EXAMPLES / "tiny.toml", folder / "study.toml")
    port = free_port()
    config = folder / "config.toml"
    config.write_text(
        '[database]\nurl = "sqlite:///delphi.db"\n[study]\nfile = "study.toml"\n'
        '[slack]\nbot_token_env = "TEST_SLACK_TOKEN"\nsigning_secret_env = "TEST_SLACK_SECRET"\n'
        f'api_url = "{fake.api_url}"\nport = {port}\n'
        f'[coordinators]\nslack = ["{coordinator.id}"]\n')
    for argv in (["db", "upgrade"], ["study", "load"]):
        assert await asyncio.to_thread(main, [*argv, "--config", str(config)]) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.app.cli", "run", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=folder)
    try:
        async with SlackPlatformClient(fake, bolt_url=f"http://127.0.0.1:{port}/slack/events",
                                       signing_secret=SECRET) as slack:
            await _until_listening(slack, process)
            yield slack, process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), WAIT)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _until_listening(slack: SlackPlatformClient,
                           process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        assert process.returncode is None, "delphi run exited at start-up"
        try:
            if (await slack.url_verification("ready")).status == 200:
                return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("delphi run did not start listening")


async def _rating_card(user: SimulatedUser, position: int) -> FakeMessage:
    """Wait for the round 1 card of ``position`` that still has its rating buttons."""
    return await user.wait_for_message(
        lambda m: card_of(m) == (1, position, 5)
        and any(b.text == "Unable to rate" for b in m.buttons), timeout=WAIT)


async def _press(slack: SlackPlatformClient, user: SimulatedUser, label: str,
                 message: FakeMessage) -> BoltReply:
    """Press a button on ``message`` and wait until the bot has edited that message."""
    edits = message.edits
    reply = await slack.press(user, find_button(user, label, message))
    assert reply.status == 200, reply.body
    await user.wait_until(lambda: user.message(message.ts).edits > edits or None,
                          timeout=WAIT, what=f"{label!r} answered")
    return reply


async def test_delphi_run_serves_a_slack_panel_and_refuses_forged_requests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_slack_fake() as fake:
        monkeypatch.setenv("TEST_SLACK_TOKEN", fake.bot_token)  # the CLI's and the process's
        monkeypatch.setenv("TEST_SLACK_SECRET", SECRET)
        coordinator = fake.create_user("carol", real_name="Carol Coordinator")
        async with delphi_run(tmp_path, fake, coordinator) as (slack, process):
            await slack.slash_command(coordinator, "/delphi", f"invite {len(PLAN)}")
            invites = await coordinator.wait_for_message(
                lambda m: len(TOKENS.findall(m.visible_text)) == len(PLAN), timeout=WAIT)
            experts = []
            for index, token in enumerate(TOKENS.findall(invites.visible_text)):
                expert = fake.create_user(f"expert{index}", real_name=f"Alice Expert{index}")
                await slack.slash_command(expert, "/delphi", f"join {token}")
                consent = await expert.wait_for_message(
                    lambda m: any(b.text == "I agree to take part" for b in m.buttons),
                    timeout=WAIT)
                reply = await slack.press(expert, find_button(expert, "I agree to take part",
                                                              consent))
                assert reply.status == 200
                await expert.wait_for_message(lambda m: "on the panel" in m.visible_text,
                                              timeout=WAIT)
                experts.append(expert)

            await slack.slash_command(coordinator, "/delphi", "openround 7d")
            first_presses = {}
            for expert, plan in zip(experts, PLAN, strict=True):
                for position, value in enumerate(plan, start=1):
                    card = await _rating_card(expert, position)
                    label = "Unable to rate" if value is None else str(value)
                    reply = await _press(slack, expert, label, card)
                    if position == 1:
                        first_presses[expert.id] = (card, reply)
                await expert.wait_for_message(lambda m: "Review" in m.visible_text,
                                              timeout=WAIT)

            # Expert 0 changes statement 1; a replay of their first press must not undo it.
            expert = experts[0]
            first_card, first_press = first_presses[expert.id]
            change = await slack.press(expert, find_button(expert, "Change",
                                                           expert.message(first_card.ts)))
            assert change.status == 200
            changed = await _rating_card(expert, 1)  # a fresh card for statement 1
            pressed = await slack.press(expert, find_button(expert, str(CHANGED), changed))
            assert pressed.status == 200
            await expert.wait_until(lambda: expert.message(changed.ts).edits > 0 or None,
                                    timeout=WAIT, what="the change recorded")
            replayed = await slack.replay(first_press)
            retried = await slack.retry(first_press, retry_num=1)
            assert (replayed.status, retried.status) == (200, 200)  # bolt accepts; we dedupe
            # One user's requests are handled in arrival order: once /delphi progress is
            # answered, the replay and the retry have been handled too.
            await slack.slash_command(expert, "/delphi", "progress")
            await expert.wait_for_message(lambda m: "5 of 5 answered" in m.visible_text,
                                          timeout=WAIT)

            # Forged and stale requests: 401, nothing recorded, nothing sent.
            target = experts[1]
            stale_card = target.message(first_presses[target.id][0].ts)
            messages = len(target.messages)
            for signing in (Signing.FORGED, Signing.STALE, Signing.MISSING):
                press = await slack.press(target, find_button(target, "Change", stale_card),
                                          signing=signing)
                command = await slack.slash_command(coordinator, "/delphi", "closeround",
                                                    signing=signing)
                assert (press.status, command.status) == (401, 401)
            assert len(target.messages) == messages

            await slack.slash_command(coordinator, "/delphi", "closeround")
            confirm = await coordinator.wait_for_message(
                lambda m: any(b.text == "Close the round" for b in m.buttons), timeout=WAIT)
            await _press(slack, coordinator, "Close the round", confirm)
            await coordinator.wait_for_message(lambda m: "Round 1 closed." in m.visible_text,
                                               timeout=WAIT)
        out, err = await process.communicate()

    assert process.returncode == 0, err.decode()
    assert b"stopped" in out
    for secret in (fake.bot_token, SECRET):
        assert secret.encode() not in out + err  # never printed, never logged
    config = str(tmp_path / "config.toml")
    assert await asyncio.to_thread(main, ["export", "--config", config,
                                          "--out", str(tmp_path / "out")]) == 0
    with (tmp_path / "out" / "ratings.csv").open(newline="") as exported:
        rows = list(csv.DictReader(exported))
    expected = {(f"P{index:02d}", f"S{position:02d}"): "" if value is None else str(value)
                for index, plan in enumerate(PLAN, start=1)
                for position, value in enumerate(plan, start=1)}
    expected[("P01", "S01")] = str(CHANGED)
    assert {(row["participant"], row["statement"]): row["rating"] for row in rows} == expected
    assert {row["round"] for row in rows} == {"1"} and len(rows) == len(expected)
