"""A `delphi run` worker killed with SIGKILL while it holds outbox leases, on PostgreSQL:
the other worker delivers those rows within seconds (once the dead one's advisory lock
has been seen free for the grace period), not after the two-minute lease, and each
expert gets each message exactly once. (That a live worker's leases are left alone is
proven in-process, tests/bot/test_dispatcher_liveness.py: here the HTTP client's 5 s
read timeout would end a held send long before the grace period.)

The Telegram fake holds the experts' chats, so the first worker's sends are in flight
(left the bot, not yet at Telegram) when it dies; the fake drops the requests of a
client that went away, as a real connection cut before the request arrived would."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app.cli import main
from bot.delivery.dispatcher import LEASE
from bot.delivery.liveness import lock_key
from engine.db import make_engine
from engine.models import OutboxMessage
from tests.conftest import PG_URL
from tests.engine.helpers import EXAMPLES
from tests.fakes.telegram_api import running_telegram_fake
from tests.reliability.workers import fresh_database, start_worker, until, worker_config
from tests.telegram.harness import card_of, command, free_port, press

EXPERTS = 5
SECRET = "dead-worker-secret"
HOLDS_LOCK = re.compile(r"outbox worker (\S+) holds its liveness lock")

def worker_id_in(log: Path) -> str:
    """The id a worker claims under, from its log."""
    [worker] = HOLDS_LOCK.findall(log.read_text(errors="replace"))
    assert lock_key(worker) is not None
    return str(worker)


pytestmark = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL "
                                "(DELPHI_TEST_DATABASE_URL); SQLite allows one worker")


async def test_a_killed_workers_leases_go_to_the_other_within_seconds(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    env = {**os.environ, "DEAD_TG_TOKEN": "", "DEAD_SECRET": SECRET}
    async with fresh_database() as url, running_telegram_fake() as fake:
        env["DEAD_TG_TOKEN"] = fake.token
        os.environ["DEAD_TG_TOKEN"], os.environ["DEAD_SECRET"] = fake.token, SECRET
        coordinator = fake.create_user("Cora", username="cora_c")
        configs = []
        for name in ("doomed", "survivor"):
            port = free_port()  # each sets the webhook to itself when it starts
            configs.append(worker_config(
                tmp_path / f"{name}.toml", url=url, fake_base_url=fake.base_url,
                webhook_url=f"http://127.0.0.1:{port}/telegram", port=port,
                coordinator=coordinator.id, token_env="DEAD_TG_TOKEN",
                secret_env="DEAD_SECRET"))
        for argv in (["db", "upgrade"], ["study", "load"]):
            assert await asyncio.to_thread(main, [*argv, "--config", str(configs[0])]) == 0
        engine = make_engine(url)

        async def leases() -> list[tuple[str | None, object, str]]:
            async with engine.connect() as connection:
                return [tuple(row) for row in (await connection.execute(
                    select(OutboxMessage.claimed_by, OutboxMessage.claimed_until,
                           OutboxMessage.status).where(OutboxMessage.kind == "round_open")))]

        logs = {name: tmp_path / f"{name}.log" for name in ("doomed", "survivor")}
        files = {name: path.open("wb") for name, path in logs.items()}
        # The survivor starts first; the doomed one then takes the webhook, serves the
        # coordinator and, woken by its own commit, usually claims the broadcast at once.
        # The other's poll can claim it first, so the worker killed is the one found
        # holding the leases, whatever its name.
        workers = {"survivor": await start_worker(configs[1], env, files["survivor"]),
                   "doomed": await start_worker(configs[0], env, files["doomed"])}
        survivor, doomed = workers["survivor"], workers["doomed"]
        try:
            invites = await command(coordinator, "invite", str(EXPERTS), expect="single-use")
            tokens = [t.split()[0] for t in invites.visible_text.split("start=")[1:]]
            experts = [fake.create_user(f"Dw{i}", username=f"dw_{i}") for i in range(EXPERTS)]
            for user, token in zip(experts, tokens, strict=True):
                consent = await command(user, "start", token, expect="I agree")
                await press(user, consent, "I agree to take part")
            names = {worker_id_in(logs[name]): name for name in workers}

            fake.hold_chats(user.id for user in experts)
            await command(coordinator, "openround", "7d", expect="Round 1 is open")
            await until(lambda: fake.holds.waiting == EXPERTS, "the first cards in flight")
            claimed = await leases()
            doomed_id = max(names, key=lambda worker: sum(row[0] == worker for row in claimed))
            if names[doomed_id] == "survivor":
                survivor, doomed = doomed, survivor
                logs = {"doomed": logs["survivor"], "survivor": logs["doomed"]}
            doomed.kill()  # now, well inside the HTTP client's 5 s read timeout
            await doomed.wait()
            held = await leases()
            mine = [row for row in held if row[0] == doomed_id]
            assert mine, (doomed_id, held)
            # The fake cancels the requests of the client that went away; only then open
            # the chats, so whatever arrives was sent by a live worker.
            await until(lambda: fake.holds.waiting <= EXPERTS - len(mine),
                        "the dead worker's requests dropped")
            fake.release_chats()
            for user in experts:
                await user.wait_for_message(lambda m: card_of(m) == (1, 1, 5),
                                            timeout=LEASE.total_seconds() / 2)
            await asyncio.sleep(1.5)  # a duplicate, if any, would arrive now
            delivered = await leases()
            async with engine.connect() as connection:
                times = (await connection.execute(select(OutboxMessage.delivered_at).where(
                    OutboxMessage.kind == "round_open"))).scalars().all()
        finally:
            if doomed.returncode is None:
                doomed.kill()
                await doomed.wait()
            survivor.terminate()
            assert await asyncio.wait_for(survivor.wait(), 30) == 0
            for file in files.values():
                file.close()
            await engine.dispose()

    # A row given back keeps its claimant but holds no lease.
    expiry = min(until_ for _, until_, _ in mine if until_ is not None)
    assert {status for _, _, status in delivered} == {"delivered"}
    assert doomed_id not in {claimed_by for claimed_by, _, _ in delivered}
    assert all(time is not None and time < expiry for time in times)  # before the lease ran out
    for user in experts:
        texts = [m.visible_text for m in user.bot_messages]
        assert sum(t.startswith("Round 1 is open") for t in texts) == 1, user.transcript()
        assert sum(card_of(m) == (1, 1, 5) for m in user.bot_messages) == 1, user.transcript()
    log = logs["survivor"].read_text(errors="replace")
    assert f"outbox leases of {doomed_id}" in log, log
    assert not fake.internal_errors
