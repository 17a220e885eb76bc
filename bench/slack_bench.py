"""Button presses through Slack: `delphi run` beside a bare bolt floor, both as processes.

The Slack Web API fake and the simulated experts (signed requests to the bot's real bolt
HTTP endpoint, signature checking on) live in this process; the bot under test runs as
its own process, so the fake's and the clients' cost does not eat the bot's CPU:

- delphi: the real ``delphi run`` with a ``[slack]`` section: bolt, our adapter, the
  conductor, SQLite;
- floor: a bare bolt ``AsyncApp`` on the same aiohttp mounting whose action listener only
  acks and makes the same Web API calls (chat.update of the pressed message, then
  chat.postMessage of the next card, with delphi's own Block Kit), no database.

Each expert opens the ballot with ``/delphi ballot`` and presses "4" on every card as soon
as the next card is in the DM (saturation). A press counts when its next card has arrived;
``ack`` is the time to bolt's HTTP answer (Slack's 3-second rule). REPS runs of EXPERTS
experts each per bot, the bots' runs taking turns; the median of the runs' presses/s is
reported, and the ratio delphi / floor (target >= 0.8, issue 15), also run by run.

Run with ``python -m bench.slack_bench`` (or ``python -m bench slack_bench``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.processes import cpu_seconds

EXPERTS = 200
REPS = 7
ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "engine" / "examples" / "tiny.toml"
SECRET = "bench-signing-secret"
CARD = "Round 1 · Statement"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the floor (runs in its own process: python -m bench.slack_bench --floor) ------------

def _floor_cards() -> tuple[Any, Any]:
    """delphi's own Block Kit for a statement card and a rated card, rendered once."""
    from adapters.slack.render import render
    from bot.chat import actions
    from bot.chat.cards import Button, Card, Section

    rate = [Button(label, actions.encode(actions.Rate(1, "S01", v))) for v, label in
            enumerate(["1 · Strongly disagree", "2", "3", "4", "5 · Strongly agree"], 1)]
    card = Card(heading=f"{CARD} 1 of 5 · Sun protection",
                sections=(Section("Adults should apply a broad-spectrum sunscreen of SPF 30 or "
                                  "higher on days with a UV index of 3 or more."),),
                buttons=(tuple(rate), (Button("Unable to rate", "1|r|1|S01|u"),
                                       Button("Comment", "1|m|1|S01"))))
    rated = Card(heading=card.heading, sections=(card.sections[0], Section("✓ 4 · Agree",
                                                                           "bold")),
                 buttons=((Button("Change", "1|g|1|1"),),))
    return render(card)[0], render(rated)[0]


async def _floor(api_url: str, port: int) -> None:
    import re

    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.context.ack.async_ack import AsyncAck
    from slack_sdk.web.async_client import AsyncWebClient

    card, rated = _floor_cards()
    session = aiohttp.ClientSession()
    client = AsyncWebClient(token=os.environ["BENCH_SLACK_TOKEN"], base_url=api_url,
                            session=session)
    app = AsyncApp(client=client, signing_secret=SECRET, process_before_response=False)

    @app.command("/delphi")
    async def ballot(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        opened = await client.conversations_open(users=body["user_id"])
        await client.chat_postMessage(channel=opened["channel"]["id"], text=card.text,
                                      blocks=card.blocks)

    @app.action(re.compile(r"^delphi\."))
    async def press(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        container = body["container"]
        await client.chat_update(channel=container["channel_id"], ts=container["message_ts"],
                                 text=rated.text, blocks=rated.blocks)
        await client.chat_postMessage(channel=container["channel_id"], text=card.text,
                                      blocks=card.blocks)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", events)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await _until_sigterm()
    await runner.cleanup()
    await session.close()


async def _until_sigterm() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


class _StubConductor:
    """Answers every press with the floor's cards at once: the adapter without delphi's
    database work, to show what the adapter itself costs."""

    def __init__(self) -> None:
        from bot.chat.cards import Button, Card, Section

        self.card = Card(heading=f"{CARD} 1 of 5 · Sun protection",
                         sections=(Section("Adults should apply a broad-spectrum sunscreen."),),
                         buttons=(tuple(Button(str(v), f"1|r|1|S01|{v}")
                                        for v in range(1, 6)),))
        self.rated = Card(heading=self.card.heading,
                          sections=(Section("✓ 4 · Agree", "bold"),))
        self.title = "Benchmark"

    async def handle(self, event: Any) -> Any:
        from bot.chat.cards import Reply
        from bot.chat.events import Pressed

        if isinstance(event, Pressed):
            return Reply(toast="Recorded", edit=self.rated, send=[self.card])
        return Reply(send=[self.card])


async def _adapter_only(api_url: str, port: int) -> None:
    from pydantic import SecretStr

    from adapters.slack.adapter import SlackAdapter
    from adapters.slack.settings import SlackSection

    settings = SlackSection(bot_token=SecretStr(os.environ["BENCH_SLACK_TOKEN"]),
                            signing_secret=SecretStr(SECRET), api_url=api_url, port=port)
    adapter = SlackAdapter(_StubConductor(), settings)  # type: ignore[arg-type]
    await adapter.start()
    await _until_sigterm()
    await adapter.stop()


# --- the experts ---------------------------------------------------------------------

async def _expert(slack: Any, user: Any, presses: int, pressed: list[float],
                  acks: list[float]) -> None:
    from tests.slack.harness import find_button

    def next_card(since: int) -> Any:
        def check() -> Any:
            for message in user.dm.newest_first():
                if message.seq < since:
                    return None
                if message.from_bot and (CARD in message.text or "Review" in message.text) \
                        and message.edits == 0:
                    return message
            return None
        return check

    since = user.dm.next_seq
    await slack.slash_command(user, "/delphi", "ballot")
    card = await user.wait_until(next_card(since), timeout=120, what="first card")
    for _ in range(presses):
        since = user.dm.next_seq
        started = time.perf_counter()
        reply = await slack.press(user, find_button(user, "4", card))
        assert reply.status == 200, reply.body
        acks.append(reply.elapsed)
        card = await user.wait_until(next_card(since), timeout=120, what="next card")
        pressed.append(time.perf_counter() - started)


async def _phase(slack: Any, users: list[Any], presses: int) -> dict[str, float]:
    pressed: list[float] = []
    acks: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_expert(slack, u, presses, pressed, acks) for u in users))
    wall = time.perf_counter() - started
    return {"presses": len(pressed), "wall_s": wall, "presses_per_s": len(pressed) / wall,
            "p50_s": statistics.median(pressed), "p99_s": _percentile(pressed, 0.99),
            "ack_p99_s": _percentile(acks, 0.99)}


async def _prepare_delphi(fake: Any, users: list[Any], folder: Path, port: int) -> Path:
    from bench.study_setup import prepare_study
    from engine.enrolment import PlatformUser

    os.environ["BENCH_SLACK_TOKEN"], os.environ["BENCH_SLACK_SECRET"] = fake.bot_token, SECRET
    return await prepare_study(
        folder,
        f'[slack]\nbot_token_env = "BENCH_SLACK_TOKEN"\nsigning_secret_env = '
        f'"BENCH_SLACK_SECRET"\napi_url = "{fake.api_url}"\nport = {port}\n',
        [PlatformUser("slack", u.id, u.dm.id, u.name, u.name) for u in users])


async def _wait_listening(slack: Any, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if (await slack.url_verification("ready")).status == 200:
                return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the bot under test did not start listening")
        await asyncio.sleep(0.1)


async def _stop(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()


KINDS = ("floor", "adapter", "delphi")
LABELS = {"floor": "floor (bare bolt)", "adapter": "slack adapter, conductor stubbed",
          "delphi": "delphi run (slack)"}


async def _start_bot(kind: str, fake: Any, users: list[Any], folder: Path,
                     prefix: Sequence[str] = ()) -> tuple[asyncio.subprocess.Process, int]:
    """``prefix``: what runs the Python interpreter (a profiler, say), if anything."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_SLACK_TOKEN": fake.bot_token,
           "BENCH_SLACK_SECRET": SECRET}
    if kind == "delphi":
        config = await _prepare_delphi(fake, users, folder, port)
        argv = ["-m", "bot.app.cli", "run", "--config", str(config)]
    else:
        argv = ["-m", "bench.slack_bench", f"--{kind}", fake.api_url, str(port)]
    process = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, *argv, cwd=folder, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    return process, port


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    best = sorted(runs, key=lambda r: r["presses_per_s"])[len(runs) // 2]
    return {"runs": runs, "median": best,
            "presses_per_s": statistics.median(r["presses_per_s"] for r in runs),
            "cpu_ms_per_press": statistics.median(r["cpu_ms_per_press"] for r in runs)}


async def _run_all(folder: Path) -> dict[str, dict[str, Any]]:
    """Every bot runs as its own process from the start; their measured runs alternate
    (floor, adapter, delphi, floor, ...), so a change in the machine's load during the
    benchmark falls on all of them alike instead of on whichever ran last."""
    from tests.fakes.slack_api import running_slack_fake
    from tests.fakes.slack_client import SlackPlatformClient

    presses = 5  # the tiny study's ballot
    async with running_slack_fake() as fake, contextlib.AsyncExitStack() as stack:
        sets = {kind: [fake.create_users(EXPERTS, prefix=f"{kind}{rep}x")
                       for rep in range(REPS + 1)] for kind in KINDS}
        clients, pids = {}, {}
        for kind in KINDS:
            process, port = await _start_bot(kind, fake, [u for s in sets[kind] for u in s],
                                             folder)
            stack.push_async_callback(_stop, process)
            pids[kind] = process.pid
            clients[kind] = await stack.enter_async_context(SlackPlatformClient(
                fake, bolt_url=f"http://127.0.0.1:{port}/slack/events",
                signing_secret=SECRET))
        for kind in KINDS:
            await _wait_listening(clients[kind])
            await _phase(clients[kind], sets[kind][0], presses)  # warm-up: caches, pools
        runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
        for rep in range(1, REPS + 1):
            for kind in KINDS:
                spent = cpu_seconds(pids[kind])
                run = await _phase(clients[kind], sets[kind][rep], presses)
                spent = cpu_seconds(pids[kind]) - spent
                runs[kind].append({**run, "cpu_ms_per_press": spent * 1000 / run["presses"]})
    return {kind: _summary(runs[kind]) for kind in KINDS}


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        results = await _run_all(Path(folder))
    floor, adapter, ours = (results[kind] for kind in KINDS)
    ratio = ours["presses_per_s"] / floor["presses_per_s"]
    adapter_ratio = adapter["presses_per_s"] / floor["presses_per_s"]
    paired = [d["presses_per_s"] / f["presses_per_s"]
              for d, f in zip(ours["runs"], floor["runs"], strict=True)]
    rows = []
    for kind in KINDS:
        result = results[kind]
        median = result["median"]
        rows.append({"case": f"{LABELS[kind]}, saturation, {EXPERTS} experts x {REPS} runs",
                     "median_s": median["p50_s"], "min_s": min(r["p50_s"] for r in
                                                               result["runs"]),
                     "reps": REPS, "presses_per_s": result["presses_per_s"],
                     "p99_s": median["p99_s"], "ack_p99_s": median["ack_p99_s"]})

    def line(label: str, result: dict[str, Any]) -> str:
        median = result["median"]
        each = ", ".join(f"{r['presses_per_s']:.0f}" for r in result["runs"])
        return (f"{label}: {result['presses_per_s']:.0f} presses/s (median of {REPS} runs: "
                f"{each}), {result['cpu_ms_per_press']:.2f} ms of the bot's CPU a press; "
                "press to "
                f"next card p50 {median['p50_s'] * 1000:.0f} ms, p99 "
                f"{median['p99_s'] * 1000:.0f} ms; ack p99 {median['ack_p99_s'] * 1000:.0f} ms")

    capacity = floor["cpu_ms_per_press"] / ours["cpu_ms_per_press"]
    return {"name": "slack presses", "rows": rows, "ratio_to_floor": ratio,
            "ratio_adapter_to_floor": adapter_ratio, "paired_ratios": paired,
            "cpu_ratio_to_floor": capacity,
            "summary": [line("floor", floor), line("adapter only", adapter),
                        line("delphi", ours),
                        f"throughput ratio delphi / floor = {ratio:.2f} (target >= 0.8); "
                        f"run by run: {', '.join(f'{r:.2f}' for r in paired)}; "
                        f"adapter with a stub conductor / floor = {adapter_ratio:.2f}",
                        f"CPU per press floor / delphi = {capacity:.2f} (the share of the "
                        "bare library's capacity delphi keeps, whatever else the machine "
                        "runs)"]}


def run() -> dict[str, Any]:
    return asyncio.run(_run())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--floor"]:
        asyncio.run(_floor(sys.argv[2], int(sys.argv[3])))
    elif sys.argv[1:2] == ["--adapter"]:
        asyncio.run(_adapter_only(sys.argv[2], int(sys.argv[3])))
    else:
        for summary in run()["summary"]:
            print(summary)
