"""Instructions a press costs the bot, floor beside delphi: the press benches' CPU share,
counted so that the machine's load cannot move it.

``telegram_bench`` and ``slack_bench`` time presses on a shared 2-core machine, where the
same run can be a quarter faster or slower from one minute to the next. Here the same bots
(the bare library's floor and the real ``delphi run`` on SQLite) run under valgrind's
callgrind, which counts the instructions a process executes: the same code on the same
presses gives the same count, busy machine or not (to within half a percent).

For each messenger and bot: start it with counting off (start-up is not a press), warm it
up with two phases of EXPERTS experts, count PHASES more phases (each expert opens the
ballot and rates five statements), then count an idle stretch of IDLE_S seconds. Under
valgrind a press takes tens of times longer, so the bot's own timers (delphi's outbox
poll and scheduler, the long poll of getUpdates) would be charged to presses that many
times over: what the idle stretch runs per second is taken off the phases' count for
their duration. The result is instructions per press, and floor / delphi: the share of
the bare library's capacity delphi keeps, in instructions.

Instructions are not time: a cache miss costs more than an instruction, and delphi's
working set (SQLite pages, SQLAlchemy) is larger than the floor's, so its share of CPU
time runs a few points below its share of instructions. The timed benches stay the
target's measure; this one says whether a change made the bot do less.

Needs valgrind (``apt-get install valgrind``); without it the benchmark says so and
measures nothing. Run with ``python -m bench press_instructions``.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench import slack_bench, telegram_bench
from bench.study_setup import STUDY
from engine.studyfile import load_study_file

EXPERTS = 20
WARM_UP_PHASES = 2
PHASES = 3
IDLE_S = 10.0
START_TIMEOUT_S = 300.0  # importing delphi under valgrind takes a while
KINDS = ("floor", "delphi")


class Callgrind:
    """One process under callgrind, counting only between :meth:`on` and :meth:`off`."""

    def __init__(self, folder: Path, label: str) -> None:
        self.base = folder / f"callgrind.{label}"

    def prefix(self) -> list[str]:
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={self.base}.%p"]

    @staticmethod
    def control(pid: int, *flags: str) -> None:
        subprocess.run(["callgrind_control", *flags, str(pid)], check=True,
                       capture_output=True, timeout=120)

    def on(self, pid: int) -> None:
        self.control(pid, "-i", "on")

    def dump(self, pid: int) -> None:
        """Write what was counted since the last dump as the next part, and start over."""
        self.control(pid, "-d")

    def off(self, pid: int) -> None:
        self.control(pid, "-i", "off")

    def parts(self, pid: int) -> list[int]:
        """The instructions of each dumped part, in order."""
        found = []
        for number in range(1, 100):
            path = Path(f"{self.base}.{pid}.{number}")
            if not path.exists():
                break
            found.append(_summary(path))
        return found


def _summary(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise ValueError(f"no summary line in {path}")


async def _count(pid: int, callgrind: Callgrind,
                 phases: Callable[[], Awaitable[int]]) -> dict[str, float]:
    """Count ``phases`` (which return how many presses they made), then an idle stretch."""
    callgrind.on(pid)
    started = time.monotonic()
    presses = await phases()
    busy_s = time.monotonic() - started
    callgrind.dump(pid)
    started = time.monotonic()
    await asyncio.sleep(IDLE_S)
    callgrind.dump(pid)
    idle_s = time.monotonic() - started
    callgrind.off(pid)
    await asyncio.sleep(0.5)  # the dump is written by the process itself
    busy, idle = callgrind.parts(pid)[:2]
    background = idle / idle_s * busy_s
    return {"presses": presses, "busy_s": busy_s, "instructions": busy,
            "idle_per_s": idle / idle_s,
            "per_press": (busy - background) / presses}


async def _slack(folder: Path) -> dict[str, dict[str, float]]:
    from tests.fakes.slack_api import running_slack_fake
    from tests.fakes.slack_client import SlackPlatformClient

    presses = len(load_study_file(STUDY).statements)
    counted: dict[str, dict[str, float]] = {}
    async with running_slack_fake() as fake:
        for kind in KINDS:
            sets = [fake.create_users(EXPERTS, prefix=f"{kind}{n}c")
                    for n in range(WARM_UP_PHASES + PHASES)]
            callgrind = Callgrind(folder, f"slack-{kind}")
            home = folder / f"slack-{kind}"
            home.mkdir()
            process, port = await slack_bench._start_bot(
                kind, fake, [u for s in sets for u in s], home, prefix=callgrind.prefix())
            try:
                async with SlackPlatformClient(
                        fake, bolt_url=f"http://127.0.0.1:{port}/slack/events",
                        signing_secret=slack_bench.SECRET) as client:
                    await slack_bench._wait_listening(client, START_TIMEOUT_S)
                    for users in sets[:WARM_UP_PHASES]:
                        await slack_bench._phase(client, users, presses)

                    async def phases(client: Any = client, sets: Any = sets) -> int:
                        return sum([int((await slack_bench._phase(client, users, presses))
                                        ["presses"]) for users in sets[WARM_UP_PHASES:]])

                    counted[kind] = await _count(process.pid, callgrind, phases)
            finally:
                await slack_bench._stop(process)
    return counted


async def _telegram(folder: Path) -> dict[str, dict[str, float]]:
    from tests.fakes.telegram_api import running_telegram_fake

    presses = len(load_study_file(STUDY).statements)
    counted: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        async with running_telegram_fake(record_calls=False, callback_query_ttl=600) as fake:
            sets = [fake.create_users(EXPERTS, prefix=f"{kind}{n}C")
                    for n in range(WARM_UP_PHASES + PHASES)]
            callgrind = Callgrind(folder, f"telegram-{kind}")
            home = folder / f"telegram-{kind}"
            home.mkdir()
            process = await telegram_bench._start_bot(
                fake, kind, [u for s in sets for u in s], home, prefix=callgrind.prefix(),
                start_timeout=START_TIMEOUT_S)
            is_next = telegram_bench._next_card(kind)
            try:
                for users in sets[:WARM_UP_PHASES]:
                    await telegram_bench._phase(users, presses, 0.0, is_next)

                async def phases(sets: Any = sets, is_next: Any = is_next) -> int:
                    return sum([int((await telegram_bench._phase(users, presses, 0.0, is_next))
                                    ["presses"]) for users in sets[WARM_UP_PHASES:]])

                counted[kind] = await _count(process.pid, callgrind, phases)
            finally:
                await telegram_bench._stop(process)
    return counted


def _result(messenger: str, library: str, counted: dict[str, dict[str, float]]
            ) -> tuple[dict[str, Any], str]:
    floor, ours = counted["floor"], counted["delphi"]
    share = floor["per_press"] / ours["per_press"]
    row = {"case": f"{messenger}: instructions per press, floor / delphi, {EXPERTS} experts x "
                   f"{PHASES} phases",
           "reps": int(ours["presses"]),
           "floor_instructions_per_press": floor["per_press"],
           "delphi_instructions_per_press": ours["per_press"],
           "instruction_share": share}
    line = (f"{messenger}: {floor['per_press'] / 1e6:.2f} M instructions a press for bare "
            f"{library}, {ours['per_press'] / 1e6:.2f} M for delphi; floor / delphi = "
            f"{share:.3f} (idle: {floor['idle_per_s'] / 1e6:.1f} and "
            f"{ours['idle_per_s'] / 1e6:.1f} M a second, taken off)")
    return row, line


async def _run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        telegram = await _telegram(Path(folder))
        slack = await _slack(Path(folder))
    rows, lines = zip(_result("telegram", "PTB", telegram), _result("slack", "bolt", slack),
                      strict=True)
    return {"name": "press instructions", "rows": list(rows),
            "summary": [*lines, "instructions counted by callgrind: the share of the bare "
                        "library's capacity delphi keeps, the same on a busy machine"]}


def run() -> dict[str, Any]:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return {"name": "press instructions", "rows": [],
                "summary": ["not measured: valgrind is not installed (apt-get install "
                            "valgrind)"]}
    return asyncio.run(_run())


if __name__ == "__main__":
    for summary in run()["summary"]:
        print(summary)
