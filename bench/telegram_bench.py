"""Button presses through Telegram: `delphi run` beside a bare PTB floor, both as processes.

The Bot API fake and the simulated experts live in this process; the bot under test
runs as its own process (the real `delphi run` on SQLite, or the floor: a bare PTB bot
making the same Bot API calls with no database, bench/telegram_floor.py), so the fake's
own cost does not eat the bot's CPU.

Both bots run from the start, each against its own fake; every phase has its own 200
experts:
- saturation: every expert presses through the ballot as fast as answers come back;
  gives the throughput (presses/s). After a warm-up run each, REPS runs per bot
  alternate (floor, delphi, floor, ...), so a change in the shared machine's load falls
  on both alike; the median of each bot's runs gives the ratio delphi / floor, which is
  also printed run by run;
- paced: every expert reads each statement for a random time (exponential, mean
  THINK_MEAN_S) before pressing, as people do; gives the latency an expert feels,
  p50 / p99 from the press to the answered callback query ("recorded").

Targets (issue 15): throughput at least 0.8 of the floor; p99 under 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.processes import cpu_seconds, status_mb
from bench.study_setup import STUDY, prepare_study
from engine.enrolment import PlatformUser
from engine.studyfile import load_study_file
from tests.fakes.telegram_api import FakeTelegram, running_telegram_fake
from tests.fakes.telegram_model import ChatMessage, SimulatedUser

EXPERTS = 200
REPS = 5
KINDS = ("floor", "delphi")
THINK_MEAN_S = 4.0
ROOT = Path(__file__).resolve().parents[1]
CARD = "Round 1 · Statement"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _open_ballot(user: SimulatedUser) -> ChatMessage:
    sent = user.send_command("ballot")
    return await user.wait_for_message(lambda m: m.visible_text.startswith(CARD),
                                       since=sent, timeout=120)


async def _expert(user: SimulatedUser, message: ChatMessage, presses: int,
                  think: Callable[[], float], is_next: Callable[[ChatMessage], bool],
                  latencies: list[float]) -> None:
    for _ in range(presses):
        pause = think()
        if pause:
            await asyncio.sleep(pause)
        started = time.perf_counter()
        query = user.press_button(message, "4")
        await query.wait_answered(timeout=120)
        latencies.append(time.perf_counter() - started)
        message = await user.wait_for_message(is_next, since=message, timeout=120)


async def _phase(users: list[SimulatedUser], presses: int, think_mean: float,
                 is_next: Callable[[ChatMessage], bool]) -> dict[str, float]:
    rng = random.Random(7)

    def think() -> float:
        return rng.expovariate(1 / think_mean) if think_mean else 0.0

    firsts = await asyncio.gather(*(_open_ballot(u) for u in users))  # not measured
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(_expert(u, m, presses, think, is_next, latencies)
                           for u, m in zip(users, firsts, strict=True)))
    wall = time.perf_counter() - started
    return {"presses": len(latencies), "wall_s": wall, "presses_per_s": len(latencies) / wall,
            "p50_s": statistics.median(latencies), "p99_s": _percentile(latencies, 0.99)}


async def _stop(process: asyncio.subprocess.Process) -> float | None:
    peak = status_mb(process.pid, "VmHWM")

    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()
    return peak


async def _prepare_delphi(fake: FakeTelegram, users: list[SimulatedUser], folder: Path) -> Path:
    os.environ["BENCH_TG_TOKEN"] = fake.token
    return await prepare_study(
        folder,
        f'[telegram]\ntoken_env = "BENCH_TG_TOKEN"\nbase_url = "{fake.base_url}"\n'
        f'base_file_url = "{fake.base_file_url}"\nrate_limit = false\n',
        [PlatformUser("telegram", str(u.id), str(u.id), u.first_name) for u in users])


async def _start_bot(fake: FakeTelegram, kind: str, users: list[SimulatedUser],
                     folder: Path, prefix: Sequence[str] = (),
                     start_timeout: float = 60) -> asyncio.subprocess.Process:
    """``prefix``: what runs the Python interpreter (a profiler, say), if anything."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_TG_TOKEN": fake.token}
    if kind == "delphi":
        config = await _prepare_delphi(fake, users, folder)
        argv = ["-m", "bot.app.cli", "run", "--config", str(config)]
    else:
        argv = ["-m", "bench.telegram_floor", fake.base_url, fake.token]
    process = await asyncio.create_subprocess_exec(
        *prefix, sys.executable, *argv, cwd=folder, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    await fake.wait_until_polling(timeout=start_timeout)
    return process


def _next_card(kind: str) -> Callable[[ChatMessage], bool]:
    if kind == "delphi":
        return lambda m: m.visible_text.startswith(CARD) or "Review" in m.visible_text
    return lambda m: m.visible_text.startswith(CARD)


async def _run_all(folder: Path) -> dict[str, dict[str, Any]]:
    presses = len(load_study_file(STUDY).statements)
    async with contextlib.AsyncExitStack() as stack:
        fakes, sets, paced, processes = {}, {}, {}, {}
        for kind in KINDS:
            fakes[kind] = await stack.enter_async_context(running_telegram_fake(
                record_calls=False, callback_query_ttl=120))
            sets[kind] = [fakes[kind].create_users(EXPERTS, prefix=f"{kind}{rep}F")
                          for rep in range(REPS + 1)]
            paced[kind] = fakes[kind].create_users(EXPERTS, prefix=f"{kind}P")
        for kind in KINDS:
            everyone = [u for batch in sets[kind] for u in batch] + paced[kind]
            processes[kind] = await _start_bot(fakes[kind], kind, everyone, folder)
        try:
            for kind in KINDS:  # warm-up: caches, pools, the first ballots
                await _phase(sets[kind][0], presses, 0.0, _next_card(kind))
            runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
            for rep in range(1, REPS + 1):
                for kind in KINDS:
                    spent = cpu_seconds(processes[kind].pid)
                    run = await _phase(sets[kind][rep], presses, 0.0, _next_card(kind))
                    spent = cpu_seconds(processes[kind].pid) - spent
                    runs[kind].append({**run, "cpu_ms_per_press":
                                       spent * 1000 / run["presses"]})
            human = {kind: await _phase(paced[kind], presses, THINK_MEAN_S, _next_card(kind))
                     for kind in KINDS}
        finally:
            peaks = {kind: await _stop(processes[kind]) for kind in KINDS}
    return {kind: {"runs": runs[kind], "presses_per_s": statistics.median(
        r["presses_per_s"] for r in runs[kind]), "cpu_ms_per_press": statistics.median(
        r["cpu_ms_per_press"] for r in runs[kind]), "paced": human[kind],
        "peak_rss_mb": peaks[kind]} for kind in KINDS}


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        results = await _run_all(Path(folder))
    floor, ours = results["floor"], results["delphi"]
    ratio = ours["presses_per_s"] / floor["presses_per_s"]
    paired = [d["presses_per_s"] / f["presses_per_s"]
              for d, f in zip(ours["runs"], floor["runs"], strict=True)]
    rows = []
    for label, result in (("floor (bare PTB)", floor), ("delphi run", ours)):
        median = sorted(result["runs"], key=lambda r: r["presses_per_s"])[REPS // 2]
        for phase, data in ((f"saturation x {REPS} runs", median),
                            ("paced", result["paced"])):
            rows.append({"case": f"{label}, {phase}, {EXPERTS} experts",
                         "median_s": data["p50_s"], "min_s": data["p50_s"],
                         "reps": data["presses"], **data,
                         "peak_rss_mb": result["peak_rss_mb"]})

    def line(label: str, result: dict[str, Any]) -> str:
        p = result["paced"]
        each = ", ".join(f"{r['presses_per_s']:.0f}" for r in result["runs"])
        return (f"{label}: {result['presses_per_s']:.0f} presses/s at saturation (median "
                f"of {REPS} runs: {each}), {result['cpu_ms_per_press']:.2f} ms of the bot's "
                f"CPU a press; paced at mean {THINK_MEAN_S:g} s per "
                f"statement {p['presses_per_s']:.0f} presses/s, p50 {p['p50_s'] * 1000:.1f} ms, "
                f"p99 {p['p99_s'] * 1000:.1f} ms; peak RSS {result['peak_rss_mb'] or 0:.0f} MB")

    capacity = floor["cpu_ms_per_press"] / ours["cpu_ms_per_press"]
    return {
        "name": "telegram presses",
        "rows": rows,
        "ratio_to_floor": ratio,
        "paired_ratios": paired,
        "cpu_ratio_to_floor": capacity,
        "summary": [line("floor", floor), line("delphi", ours),
                    f"throughput ratio delphi / floor = {ratio:.2f} (target >= 0.8); run by "
                    f"run: {', '.join(f'{r:.2f}' for r in paired)}; paced p99 "
                    f"{ours['paced']['p99_s'] * 1000:.1f} ms (target < 100 ms)",
                    f"CPU per press floor / delphi = {capacity:.2f} (the share of the bare "
                    "library's capacity delphi keeps, whatever else the machine runs)"],
    }


def run() -> dict[str, Any]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for summary in run()["summary"]:
        print(summary)
