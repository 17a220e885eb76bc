"""Two `delphi run` processes in webhook mode behind one load balancer, one PostgreSQL
database: both serve experts, both run an outbox dispatcher and a scheduler, and still
every rating lands once and every expert gets each broadcast message exactly once."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app.cli import main
from engine.db import make_engine
from engine.models import Rating
from tests.conftest import PG_URL
from tests.engine.helpers import EXAMPLES
from tests.fakes.telegram_api import running_telegram_fake
from tests.fakes.telegram_model import SimulatedUser
from tests.reliability.workers import (
    fresh_database,
    round_one_summaries,
    round_robin,
    start_worker,
    stop_workers,
    worker_config,
)
from tests.telegram.harness import card_of, command, free_port, press

EXPERTS = 6
SECRET = "two-workers-secret"
LABELS = {2: "2", 4: "4"}

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL "
                                "(DELPHI_TEST_DATABASE_URL); SQLite allows one worker")


async def test_two_webhook_workers_share_one_database(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    env = {**os.environ, "TWO_TG_TOKEN": "", "TWO_SECRET": SECRET}
    async with fresh_database() as url, running_telegram_fake() as fake:
        env["TWO_TG_TOKEN"] = fake.token
        os.environ["TWO_TG_TOKEN"], os.environ["TWO_SECRET"] = fake.token, SECRET
        coordinator = fake.create_user("Cora", username="cora_c")
        worker_ports = [free_port(), free_port()]
        async with round_robin(worker_ports) as (proxy, served):
            configs = [worker_config(tmp_path / f"worker{index}.toml", url=url,
                                     fake_base_url=fake.base_url,
                                     webhook_url=f"http://127.0.0.1:{proxy}/telegram",
                                     port=port, coordinator=coordinator.id,
                                     token_env="TWO_TG_TOKEN", secret_env="TWO_SECRET")
                       for index, port in enumerate(worker_ports)]
            for argv in (["db", "upgrade"], ["study", "load"]):
                assert await asyncio.to_thread(main, [*argv, "--config", str(configs[0])]) == 0
            workers = [await start_worker(c, env) for c in configs]
            try:
                invites = await command(coordinator, "invite", str(EXPERTS),
                                        expect="single-use")
                tokens = [t.split()[0] for t in invites.visible_text.split("start=")[1:]]
                experts = [fake.create_user(f"Wk{i}", username=f"wk_{i}")
                           for i in range(EXPERTS)]

                async def join(user: SimulatedUser, token: str) -> None:
                    consent = await command(user, "start", token, expect="I agree")
                    await press(user, consent, "I agree to take part")

                await asyncio.gather(*(join(u, t) for u, t in zip(experts, tokens, strict=True)))
                await command(coordinator, "openround", "7d", expect="Round 1 is open")

                async def rate(user: SimulatedUser, value: int) -> None:
                    card = await user.wait_for_message(lambda m: card_of(m) == (1, 1, 5),
                                                       timeout=30)
                    for position in range(1, 6):
                        await press(user, card, LABELS[value])
                        card = await user.wait_for_message(
                            lambda m, p=position: card_of(m) == (1, p + 1, 5)
                            or "Review" in m.visible_text, since=card, timeout=30)
                    await press(user, card, "Submit my ballot")

                await asyncio.gather(*(rate(u, 4 if i % 3 else 2)
                                       for i, u in enumerate(experts)))
                confirm = await command(coordinator, "closeround", expect="Close round 1")
                await press(coordinator, confirm, "Close the round")
                await round_one_summaries(experts)
                await asyncio.sleep(1.5)  # let a duplicate, if any, arrive before counting
            finally:
                await stop_workers(workers)
        engine = make_engine(url)
        async with engine.connect() as connection:
            stored = (await connection.execute(
                select(func.count()).select_from(Rating))).scalar_one()
        await engine.dispose()
    assert stored == EXPERTS * 5
    assert all(count > 0 for count in served), served  # both workers took requests
    for user in experts:
        texts = [m.visible_text for m in user.bot_messages]
        assert sum(t.startswith("Round 1 summary") for t in texts) == 1, user.transcript()
        assert sum(t.startswith("Round 1 is open") for t in texts) == 1, user.transcript()
    assert not fake.internal_errors
