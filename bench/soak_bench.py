"""Soak: 1,000 experts rate 100 statements each through Telegram, on SQLite and PostgreSQL.

The Bot API fake and the simulated experts live in this process; the real `delphi run`
is its own process (polling, as in bench/telegram_bench.py), its stderr kept in a file.
The 100-statement study is generated from engine/examples/tiny.toml's shape into a
temporary folder; enrolment and consent go through the engine beforehand (not measured).
Then every expert opens the ballot with /ballot (not measured) and presses through all
statements as fast as the answers come back (saturation: all experts at once), or after a
random reading time when DELPHI_SOAK_THINK_S is set. Each expert presses its own
deterministic mix of values (and now and then "unable to rate"), so the database can be
checked afterwards: exactly one rating per expert and statement, with the value pressed.

Per database: presses/s, p50 / p99 from the press to the answered callback query
("Recorded: ..."), errors (target zero: presses not answered, a wrong toast, a rated card
not showing the value, a missing or wrong next card, refused calls seen by the fake, the
bot's non-zero exit, ERROR / Traceback lines in its stderr), the bot's peak RSS (VmHWM,
target under 300 MB) and the CPU share of the bot and of this process (the fake plus the
simulated experts share one core; at 90 % and more this process is the bottleneck).

Scale and databases from the environment (defaults: the issue's full size, both):
DELPHI_SOAK_EXPERTS (1000), DELPHI_SOAK_STATEMENTS (100), DELPHI_SOAK_THINK_S (0),
DELPHI_SOAK_DATABASES ("sqlite,postgresql"), DELPHI_SOAK_DATABASE_URL (a PostgreSQL
server; a fresh database is created on it and dropped afterwards; the leg is skipped if
the server does not answer). Run alone: ``python -m bench soak_bench``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.processes import cpu_seconds, status_mb
from bench.study_setup import STUDY, prepare_study
from bot.chat import actions
from engine.db import Store, make_engine
from engine.enrolment import PlatformUser
from engine.models import Ballot, Identity, Rating, Statement, StatementVersion
from tests.fakes.telegram_api import FakeTelegram, running_telegram_fake
from tests.fakes.telegram_model import ChatMessage, SimulatedUser
from tests.reliability.workers import fresh_database

ROOT = Path(__file__).resolve().parents[1]
LOGS = Path("bench-results")
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
RSS_TARGET_MB = 300
# Telegram stops accepting an answer to a button press after a short while (the fake's
# default, 15 s); here the window is long, and answers later than it are counted instead.
TELEGRAM_WINDOW_S = 15.0
# How long an expert waits for the answer and the next card before sending /ballot to
# carry on; generous, since at saturation every press waits behind 1,000 others.
WAIT_S = 120.0
MAX_RETRIES = 3  # /ballot in a row without getting on
PROGRESS_EVERY_S = 60.0
FREEZE_EVERY_S = 10.0
DOMAINS = 10
LABELS = {1: "Strongly disagree", 2: "Disagree", 3: "Neither agree nor disagree",
          4: "Agree", 5: "Strongly agree"}  # tiny.toml's scale, which the study keeps
TEXTS = (
    "Adults with {d} should be offered a structured review of their treatment at least "
    "once a year, including adherence, side effects and goals.",
    "For {d}, first-line management should follow the current national guideline unless "
    "the patient has a documented contraindication.",
    "Patient-reported outcomes should be recorded at every visit for {d}, using a validated "
    "instrument in the patient's own language.",
    "Shared decision-making about {d} should include a written summary of the options, "
    "their benefits and their harms.",
    "Referral to a specialist service for {d} is appropriate when two first-line options "
    "have failed or were not tolerated.",
)


@dataclass(frozen=True)
class Scale:
    experts: int
    statements: int
    think_s: float

    @classmethod
    def from_env(cls) -> Scale:
        return cls(int(os.environ.get("DELPHI_SOAK_EXPERTS", "1000")),
                   int(os.environ.get("DELPHI_SOAK_STATEMENTS", "100")),
                   float(os.environ.get("DELPHI_SOAK_THINK_S", "0")))

    @property
    def label(self) -> str:
        return f"{self.experts} experts x {self.statements} statements"


@dataclass
class Tally:
    """What the simulated experts saw; every count should stay zero."""

    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0
    wrong_toasts: int = 0
    wrong_edits: int = 0
    missing_cards: int = 0
    wrong_cards: int = 0
    #: times an expert whose press went unanswered (or got no next card) sent /ballot to
    #: carry on, as a person would; and experts who could not carry on even so
    recoveries: int = 0
    stuck_experts: int = 0


# --- the study ---------------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _toml(document: dict[str, Any]) -> str:
    """Enough TOML for a study file: top-level tables and arrays of tables of scalars."""
    lines: list[str] = []
    for name, body in document.items():
        for table in body if isinstance(body, list) else [body]:
            lines.append(f"[[{name}]]" if isinstance(body, list) else f"[{name}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
            lines.append("")
    return "\n".join(lines)


def write_study(folder: Path, statements: int) -> Path:
    """tiny.toml with ``statements`` generated statements in DOMAINS domains."""
    document = tomllib.loads(STUDY.read_text(encoding="utf-8"))
    document["study"].update(
        id="soak", title="Soak study",
        description=f"A load test of the delphi bot: rate {statements} statements on a "
                    "5-point scale. Ratings are pseudonymous and feedback is anonymous.")
    width = max(3, len(str(statements)))
    per_domain = math.ceil(statements / DOMAINS)
    document["statements"] = [
        {"id": f"S{n:0{width}d}", "domain": f"Condition {(n - 1) // per_domain + 1}",
         "text": TEXTS[n % len(TEXTS)].format(d=f"condition {(n - 1) // per_domain + 1}")
         + f" (item {n})"}
        for n in range(1, statements + 1)]
    path = folder / "soak.toml"
    path.write_text(_toml(document), encoding="utf-8")
    return path


def pressed_value(expert: int, position: int) -> int | None:
    """What expert number ``expert`` presses on statement ``position``: a spread of values,
    and "unable to rate" (None) about once in 23 presses."""
    if (expert + position) % 23 == 0:
        return None
    return 1 + (expert * 7 + position * 3) % 5


def _label(value: int | None) -> str:
    return "Unable to rate" if value is None else f"{value} · {LABELS[value]}"


# --- the experts -------------------------------------------------------------------------

def _heading(position: int, total: int) -> str:
    return (f"Round 1 · Statement {position} of {total}" if position <= total
            else "Round 1 · Review")


def _position(card: ChatMessage, total: int) -> int | None:
    """The statement a card shows (1..total), total + 1 for the review, None otherwise."""
    heading = card.visible_text.split("\n", 1)[0]
    if heading.startswith("Round 1 · Review"):
        return total + 1
    prefix = "Round 1 · Statement "
    if heading.startswith(prefix):
        number = heading[len(prefix):].split(" ", 1)[0]
        return int(number) if number.isdigit() else None
    return None


async def _open_ballot(user: SimulatedUser, timeout: float = WAIT_S) -> ChatMessage:  # noqa: ASYNC109
    """Send /ballot and wait for the card it brings: where the expert carries on."""
    sent = user.send_command("ballot")
    return await user.wait_for_message(lambda m: m.visible_text.startswith("Round 1 ·"),
                                       since=sent, timeout=timeout)


async def _press(user: SimulatedUser, message: ChatMessage, position: int, value: int | None,
                 code: str, total: int, tally: Tally) -> ChatMessage | None:
    """One press and what should follow within WAIT_S: the answer ("Recorded: ..."), the
    pressed card showing the choice, the next card. None if the expert is left waiting."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    started = time.perf_counter()
    query = user.press_button(message, data=actions.encode(actions.Rate(1, code, value)))
    try:
        await query.wait_answered(timeout=WAIT_S)
        tally.latencies.append(time.perf_counter() - started)
        if query.answer_text != f"Recorded: {_label(value)}":
            tally.wrong_toasts += 1
    except TimeoutError:
        tally.unanswered += 1
    try:
        # a later card than this one (after a recovery a card can come twice: ignore that)
        nxt = await user.wait_for_message(
            lambda m: (_position(m, total) or 0) > position, since=message,
            timeout=max(deadline - loop.time(), 1.0))
    except TimeoutError:
        tally.missing_cards += 1
        return None
    if _position(nxt, total) != position + 1:
        tally.wrong_cards += 1
        return None
    if f"✓ {_label(value)}" not in message.visible_text:
        tally.wrong_edits += 1
    return nxt


async def _expert(user: SimulatedUser, number: int, first: ChatMessage, codes: list[str],
                  think: float, tally: Tally) -> None:
    """Rate every statement, in the order the bot shows them, until the review card."""
    rng = random.Random(number)
    total, message = len(codes), first
    retries = 0
    while True:
        position = _position(message, total)
        if position == total + 1:
            return
        if position is not None:
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
            value = pressed_value(number, position)
            nxt = await _press(user, message, position, value, codes[position - 1], total,
                               tally)
            if nxt is not None:
                message, retries = nxt, 0
                continue
        if retries == MAX_RETRIES:
            tally.stuck_experts += 1
            return
        retries += 1
        tally.recoveries += 1
        try:
            message = await _open_ballot(user)
        except TimeoutError:
            tally.missing_cards += 1
            tally.stuck_experts += 1
            return


# --- the bot process ---------------------------------------------------------------------

async def _watch(pid: int, tally: Tally, goal: int, label: str, samples: list[float]) -> None:
    """Sample the bot's RSS every second; report progress on stderr every minute.

    Also keep this process's garbage collector quick: the fake's chats grow to 100,000
    messages, and a full collection over them stalls the fake (and so, to the bot,
    Telegram) for a second or more. Freezing what exists every FREEZE_EVERY_S leaves the
    collector only the newest objects to scan; the fake's state is never garbage before
    the leg ends.
    """
    started = last = frozen = time.perf_counter()
    while True:
        await asyncio.sleep(1.0)
        if time.perf_counter() - frozen >= FREEZE_EVERY_S:
            gc.freeze()
            frozen = time.perf_counter()
        rss = status_mb(pid, "VmRSS")
        if rss is not None:
            samples.append(rss)
        now = time.perf_counter()
        if now - last >= PROGRESS_EVERY_S:
            last = now
            done = len(tally.latencies)
            print(f"  soak {label}: {done:,} / {goal:,} presses, "
                  f"{done / (now - started):.0f}/s, bot RSS {rss or 0:.0f} MB",
                  file=sys.stderr, flush=True)


def _problem_lines(path: Path) -> list[str]:
    """ERROR / CRITICAL log records, and tracebacks that no such record introduced."""
    problems: list[str] = []
    logged = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Traceback") and not logged:
            problems.append(line)
        logged = " ERROR " in line or " CRITICAL " in line
        if logged:
            problems.append(line)
    return problems


def _keep_log(path: Path, database: str) -> None:
    """The bot's stderr outlives the temporary folder when something went wrong."""
    LOGS.mkdir(parents=True, exist_ok=True)
    kept = LOGS / f"soak-{database}.stderr.log"
    kept.write_bytes(path.read_bytes())
    print(f"  soak {database}: bot stderr kept in {kept}", file=sys.stderr)


async def _stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), 60)
    except TimeoutError:
        process.kill()
        return await process.wait()


# --- databases ---------------------------------------------------------------------------

async def _postgres_answers(server: str) -> str | None:
    """None if the server answers; otherwise why not, in a few words."""
    admin = make_engine(server)
    try:
        async with asyncio.timeout(10), admin.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means: skip this leg
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        await admin.dispose()
    return None


async def _verify(url: str, expected: dict[tuple[str, str], int | None]) -> dict[str, int]:
    """Compare every stored rating with what was pressed."""
    store = Store.from_url(url)
    try:
        async with store.transaction() as session:
            total = await session.scalar(select(func.count()).select_from(Rating)) or 0
            rows = (await session.execute(
                select(Identity.user_id, Statement.code, Rating.value)
                .join(Ballot, Ballot.id == Rating.ballot_id)
                .join(Identity, Identity.participant_id == Ballot.participant_id)
                .join(StatementVersion, StatementVersion.id == Rating.statement_version_id)
                .join(Statement, Statement.id == StatementVersion.statement_id))).all()
    finally:
        await store.dispose()
    stored = {(user_id, code): value for user_id, code, value in rows}
    return {
        "expected": len(expected), "stored": total,
        "as_pressed": sum(1 for key, value in expected.items()
                          if key in stored and stored[key] == value),
        "wrong_value": sum(1 for key, value in expected.items()
                           if key in stored and stored[key] != value),
        "missing": sum(1 for key in expected if key not in stored),
        "unpressed": sum(1 for key in stored if key not in expected),
    }


# --- one leg: one database ---------------------------------------------------------------

async def _leg(database: str, url: str | None, scale: Scale, folder: Path) -> dict[str, Any]:
    study = write_study(folder, scale.statements)
    codes = [s["id"] for s in tomllib.loads(study.read_text(encoding="utf-8"))["statements"]]
    async with running_telegram_fake(record_calls=False, callback_query_ttl=2 * WAIT_S) as fake:
        users = fake.create_users(scale.experts, prefix="Soak")
        os.environ["BENCH_TG_TOKEN"] = fake.token
        config = await prepare_study(
            folder,
            f'[telegram]\ntoken_env = "BENCH_TG_TOKEN"\nbase_url = "{fake.base_url}"\n'
            f'base_file_url = "{fake.base_file_url}"\nrate_limit = false\n',
            [PlatformUser("telegram", str(u.id), str(u.id), u.first_name) for u in users],
            study=study, database_url=url)
        url = url or f"sqlite:///{folder / 'bench.db'}"
        result = await _drive(fake, users, codes, config, database, scale, folder)
    expected = {(str(user.id), code): pressed_value(number, position)
                for number, user in enumerate(users, start=1)
                for position, code in enumerate(codes, start=1)}
    result["ratings"] = await _verify(url, expected)
    return result


async def _drive(fake: FakeTelegram, users: list[SimulatedUser], codes: list[str],
                 config: Path, database: str, scale: Scale, folder: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_TG_TOKEN": fake.token}
    stderr_path = folder / f"bot-{database}.stderr"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.app.cli", "run", "--config", str(config), cwd=folder,
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
    tally, pauses = Tally(), GcPauses()
    samples: list[float] = []
    exit_code: int | None = None
    try:
        await fake.wait_until_polling(timeout=60)
        firsts = await asyncio.gather(*(_open_ballot(u, 600) for u in users))
        rss_ready = status_mb(process.pid, "VmRSS")
        watcher = asyncio.create_task(_watch(process.pid, tally, len(users) * len(codes),
                                             database, samples))
        gc.collect()
        gc.freeze()  # see _watch
        gc.callbacks.append(pauses)
        bot_cpu, own_cpu = cpu_seconds(process.pid), time.process_time()
        started = time.perf_counter()
        try:
            await asyncio.gather(*(_expert(u, n, m, codes, scale.think_s, tally)
                                   for n, (u, m) in enumerate(zip(users, firsts, strict=True),
                                                              start=1)))
        finally:
            gc.callbacks.remove(pauses)
            gc.unfreeze()
            watcher.cancel()
        wall = time.perf_counter() - started
        bot_cpu, own_cpu = cpu_seconds(process.pid) - bot_cpu, time.process_time() - own_cpu
        peak = status_mb(process.pid, "VmHWM")
        failed = dict(fake.failed_calls)
        internal = len(fake.internal_errors)
    finally:
        exit_code = await _stop(process)
    problems = _problem_lines(stderr_path)
    if problems or exit_code:
        _keep_log(stderr_path, database)
    latencies = tally.latencies or [math.nan]
    errors = {"unanswered": tally.unanswered, "wrong_toast": tally.wrong_toasts,
              "wrong_rated_card": tally.wrong_edits, "missing_next_card": tally.missing_cards,
              "wrong_next_card": tally.wrong_cards, "stuck_experts": tally.stuck_experts,
              "failed_calls": sum(failed.values()) + internal,
              "exit_code": int(exit_code != 0), "stderr_errors": len(problems)}
    return {
        "database": database, "presses": len(tally.latencies), "wall_s": wall,
        "presses_per_s": len(tally.latencies) / wall,
        "p50_s": statistics.median(latencies), "p99_s": _percentile(latencies, 0.99),
        "min_s": min(latencies), "max_s": max(latencies),
        "errors": errors, "error_total": sum(errors.values()),
        "failed_calls": {f"{m} {s} {d}": n for (m, s, d), n in failed.items()},
        "recoveries": tally.recoveries, "exit_code": exit_code,
        "stderr_problems": problems[:5],
        "peak_rss_mb": peak, "rss_ready_mb": rss_ready,
        "rss_end_mb": samples[-1] if samples else None,
        "rss_every_10s_mb": [round(v) for v in samples[::10]],
        "late_answers": sum(1 for v in tally.latencies if v > TELEGRAM_WINDOW_S),
        "bot_cpu_share": bot_cpu / wall, "bench_cpu_share": own_cpu / wall,
        "bench_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bench_longest_gc_s": pauses.longest,
    }


class GcPauses:
    """The longest garbage collection in this process: the fake answers nothing meanwhile,
    so a long one looks to the bot like a Telegram that stalls."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the benchmark -----------------------------------------------------------------------

def _line(scale: Scale, result: dict[str, Any]) -> str:
    ratings, errors = result["ratings"], result["errors"]
    listed = ", ".join(f"{k} {v}" for k, v in errors.items() if v) or "none"
    verdict = ("all as pressed" if ratings["as_pressed"] == ratings["expected"]
               == ratings["stored"] else
               f"{ratings['as_pressed']:,} as pressed, {ratings['wrong_value']} wrong, "
               f"{ratings['missing']} missing, {ratings['unpressed']} unpressed")
    peak = result["peak_rss_mb"] or 0.0
    return (f"{result['database']}: {result['presses']:,} presses in {result['wall_s']:.0f} s = "
            f"{result['presses_per_s']:.1f} presses/s; press -> answered p50 "
            f"{result['p50_s'] * 1000:.0f} ms, p99 {result['p99_s'] * 1000:.0f} ms "
            f"({result['late_answers']:,} answered after {TELEGRAM_WINDOW_S:g} s); "
            f"errors {result['error_total']} ({listed}); bot peak RSS {peak:.0f} MB "
            f"({'under' if peak < RSS_TARGET_MB else 'OVER'} the {RSS_TARGET_MB} MB target; "
            f"{result['rss_ready_mb'] or 0:.0f} MB when the ballots were open); ratings "
            f"{ratings['stored']:,} stored / {ratings['expected']:,} pressed ({verdict}); "
            f"CPU: bot {result['bot_cpu_share']:.0%} of a core, this process (fake + "
            f"{scale.experts} experts) {result['bench_cpu_share']:.0%}, its longest GC pause "
            f"{result['bench_longest_gc_s'] * 1000:.0f} ms"
            + (" - the bench process is the bottleneck" if result["bench_cpu_share"] >= 0.9
               else ""))


async def _run() -> dict[str, Any]:
    scale = Scale.from_env()
    wanted = [d.strip() for d in os.environ.get("DELPHI_SOAK_DATABASES",
                                               "sqlite,postgresql").split(",") if d.strip()]
    server = os.environ.get("DELPHI_SOAK_DATABASE_URL", DEFAULT_PG)
    mode = (f"each reads a statement for a random {scale.think_s:g} s on average"
            if scale.think_s else "all pressing at once as fast as answers come (saturation: "
            "a press waits behind the others', p50 is about experts / presses per second)")
    summary = [f"scale {scale.label} = {scale.experts * scale.statements:,} presses per database "
               f"(DELPHI_SOAK_EXPERTS / DELPHI_SOAK_STATEMENTS), {mode}; one run each, "
               "on a shared machine"]
    results: list[dict[str, Any]] = []
    for database in wanted:
        print(f"  soak {database}: {scale.label} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as folder:
            if database == "sqlite":
                results.append(await _leg("sqlite", None, scale, Path(folder)))
            elif database == "postgresql":
                why = await _postgres_answers(server)
                if why is not None:
                    summary.append(f"postgresql: skipped, no answer from "
                                   f"{make_url(server).render_as_string()} ({why}); set "
                                   "DELPHI_SOAK_DATABASE_URL to a server")
                    continue
                async with fresh_database(server, "delphi_soak") as url:
                    results.append(await _leg("postgresql", url, scale, Path(folder)))
            else:
                raise ValueError(f"DELPHI_SOAK_DATABASES: unknown database {database!r}")
        gc.collect()  # the leg's fake and chats, now, rather than during the next leg
        summary.append(_line(scale, results[-1]))
    rows = [{"case": f"{r['database']}, {scale.label}, press -> answered",
             "median_s": r["p50_s"], "min_s": r["min_s"], "reps": r["presses"], **r}
            for r in results]
    return {"name": "soak", "scale": {"experts": scale.experts, "statements": scale.statements,
                                      "think_s": scale.think_s},
            "rows": rows, "summary": summary}


def run() -> dict[str, Any]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for summary_line in run()["summary"]:
        print(summary_line)
