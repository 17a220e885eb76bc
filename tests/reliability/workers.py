"""Running several `delphi run` processes on one PostgreSQL database, for the scale-out
tests: a database of their own, a round-robin balancer, and the worker processes."""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import aiohttp
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.db import make_engine
from tests.conftest import PG_URL
from tests.fakes.telegram_model import SimulatedUser
from tests.telegram.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def fresh_database(server: str = PG_URL, prefix: str = "delphi") -> AsyncIterator[str]:
    """A database of its own on ``server``, dropped after (the workers, or the bot under a
    benchmark, are separate processes: no per-test schema)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@asynccontextmanager
async def round_robin(ports: list[int]) -> AsyncIterator[tuple[int, list[int]]]:
    """A minimal load balancer: each webhook POST goes to the next worker in turn.
    Yields its port and how many requests each worker was sent."""
    served = [0] * len(ports)
    turn = itertools.cycle(range(len(ports)))
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        index = next(turn)
        served[index] += 1
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "x-telegram-bot-api-secret-token")}
        async with session.post(f"http://127.0.0.1:{ports[index]}/telegram",
                                data=await request.read(), headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read())

    app = web.Application()
    app.router.add_post("/telegram", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port, served
    finally:
        await runner.cleanup()
        await session.close()


def worker_config(path: Path, *, url: str, fake_base_url: str, webhook_url: str, port: int,
                  coordinator: int | Sequence[int], token_env: str, secret_env: str) -> Path:
    """A webhook worker's config; ``study.toml`` must sit beside it."""
    coordinators = ", ".join(map(str, [coordinator] if isinstance(coordinator, int)
                                 else coordinator))
    path.write_text(
        f'[database]\nurl = "{url}"\n[study]\nfile = "study.toml"\n'
        f'[telegram]\ntoken_env = "{token_env}"\nbase_url = "{fake_base_url}"\n'
        f'mode = "webhook"\nwebhook_url = "{webhook_url}"\n'
        f'listen = "127.0.0.1"\nport = {port}\nsecret_token_env = "{secret_env}"\n'
        f'rate_limit = false\n[coordinators]\ntelegram = [{coordinators}]\n')
    return path


async def start_worker(config: Path, env: dict[str, str],
                       log: IO[bytes] | None = None) -> asyncio.subprocess.Process:
    """`delphi run` as a process; returns once it says it is running. ``log`` receives its
    log lines (stderr); without it they are discarded."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.app.cli", "run", "--config", str(config), cwd=config.parent,
        env={**env, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE,
        stderr=log if log is not None else asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert b"running study" in line, line
    return process



async def stop_workers(workers: Sequence[asyncio.subprocess.Process],
                       logs: Sequence[IO[bytes]] = ()) -> None:
    """Terminate every worker, then require each to exit with status 0 (a clean shutdown
    is part of what the two-worker tests check), then close their log files."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        assert await asyncio.wait_for(worker.wait(), 30) == 0
    for log in logs:
        log.close()


async def round_one_summaries(users: Iterable[SimulatedUser]) -> None:
    """Wait until every user has been sent the round 1 summary (the close reached them)."""
    for user in users:
        await user.wait_for_message(
            lambda m: m.visible_text.startswith("Round 1 summary"), timeout=30)

async def until(condition: Callable[[], bool | Awaitable[bool]], what: str,
                limit: float = 60.0, every: float = 0.1) -> None:
    """Poll ``condition`` (a callable returning a bool or an awaitable bool) until it is
    true; ``limit`` only turns a hang into a failure, it is not a timing assertion."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting ({limit:.0f} s): {what}")
        await asyncio.sleep(every)
