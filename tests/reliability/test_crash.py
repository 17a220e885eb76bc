"""Crash consistency: `delphi run` killed with SIGKILL at (pseudo)random moments while eight
experts rate, while the coordinator closes a round and while the outbox broadcasts the
summaries; restarted each time. Afterwards (and after every kill) the database must agree
with what the experts were told: no answered rating lost, no rating nobody pressed, no
half-closed round, and each summary delivered to each expert (once, unless a kill landed
between Telegram accepting the message and the bot recording it: that copy is re-sent,
since the Bot API offers no way to ask whether it arrived)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.app.cli import main
from engine.clock import SystemClock
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, record_consent, redeem_invite
from engine.models import (
    Ballot,
    Identity,
    OutboxMessage,
    Rating,
    Round,
    RoundItem,
    RoundResult,
    Statement,
    StatementVersion,
)
from tests.engine.helpers import EXAMPLES
from tests.fakes.telegram_api import FakeTelegram, running_telegram_fake
from tests.fakes.telegram_model import ChatMessage, SimulatedUser
from tests.reliability.workers import until
from tests.telegram.harness import card_of

ROOT = Path(__file__).resolve().parents[2]
EXPERTS = 8
SEED = 20240909
ANSWER_WAIT = 3.0  # a human presses again when nothing happened for a few seconds
LABELS = {1: "1 · Strongly disagree", 2: "2", 3: "3", 4: "4", 5: "5 · Strongly agree"}
REVIEW_LINE = re.compile(r"^\d+\. ([^\s:]+): (.+)$", re.MULTILINE)  # "3. S03: 4 · Agree"


@dataclass
class Bot:
    """`delphi run` as a child process that can be killed and started again."""

    config: Path
    workdir: Path
    env: dict[str, str]
    store: Store
    process: asyncio.subprocess.Process | None = None
    crashes: int = 0
    restarts: int = 0
    crash_log: list[str] = field(default_factory=list)
    # (participant id, round) -> kills at which a copy was out but not yet recorded
    excused: Counter[tuple[int, int]] = field(default_factory=Counter)
    copies: Callable[[int, int], int] = lambda pid, rnd: 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        stderr = (self.workdir / "bot.log").open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.app.cli", "run", "--config", str(self.config),
                stdout=asyncio.subprocess.PIPE, stderr=stderr, env=self.env, cwd=self.workdir)
        finally:
            stderr.close()
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        assert b"running study" in line, (line, (self.workdir / "bot.log").read_text()[-3000:])

    async def crash(self, where: str) -> None:
        """SIGKILL, check the database as the dead process left it, start again."""
        async with self.lock:
            assert self.process is not None
            self.process.kill()
            await self.process.wait()
            self.crashes += 1
            self.crash_log.append(where)
            await check_rounds(self.store)
            await self._after_death()
            await self.start()
            self.restarts += 1

    async def _after_death(self) -> None:
        async with self.store.transaction() as session:
            pending = (await session.scalars(select(OutboxMessage).where(
                OutboxMessage.status == "pending",
                OutboxMessage.kind == "round_summary"))).all()
            for row in pending:
                rnd = int(row.dedupe_key.split(":")[2])
                if row.participant_id is not None and self.copies(row.participant_id, rnd):
                    self.excused[(row.participant_id, rnd)] += 1
            # The dead worker's leases would expire after bot.delivery.dispatcher.LEASE (2 minutes);
            # stand in for that wait so the restarted bot resumes the sending at once.
            await session.execute(update(OutboxMessage).where(
                OutboxMessage.status == "pending").values(claimed_until=None))

    async def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.process.communicate(), 60)
        return self.process.returncode or 0


async def check_rounds(store: Store) -> None:
    """No half-closed round: results for every statement, and the next draft (or the end)."""
    async with store.transaction() as session:
        rounds = (await session.scalars(select(Round).order_by(Round.number))).all()
        numbers = {r.number: r for r in rounds}
        for rnd in rounds:
            if rnd.status != "closed":
                continue
            items = await session.scalar(select(func.count()).select_from(RoundItem).where(
                RoundItem.round_id == rnd.id))
            results = await session.scalar(select(func.count()).select_from(RoundResult)
                                           .where(RoundResult.round_id == rnd.id))
            assert items and items == results, f"round {rnd.number}: {results}/{items} results"
            assert rnd.number + 1 in numbers or rnd.number == 2, \
                f"round {rnd.number} closed without a next draft"


async def round_status(store: Store, number: int) -> str | None:
    async with store.transaction() as session:
        return await session.scalar(select(Round.status).where(Round.number == number))


def rate_data(data: str) -> tuple[int, str, int] | None:
    """(round, code, value) of a rating button's callback data."""
    fields = data.split("|")
    if len(fields) == 5 and fields[1] == "r" and fields[4].isdigit():
        return int(fields[2]), fields[3], int(fields[4])
    return None


def summaries(user: SimulatedUser, rnd: int) -> int:
    return sum(1 for m in user.bot_messages
               if m.visible_text.startswith(f"Round {rnd} summary"))


class Expert:
    def __init__(self, user: SimulatedUser, rng: random.Random, index: int) -> None:
        self.user, self.rng, self.index = user, rng, index

    def value(self, rnd: int, code: str) -> int:
        if code == "S01":  # split the panel: S01 never reaches consensus, round 2 has it
            return 1 if self.index % 2 else 5
        return random.Random(f"{self.index}:{rnd}:{code}").randint(1, 5)

    def _next_card(self, rnd: int, done: set[str]) -> tuple[ChatMessage, str, int] | None:
        for message in reversed(self.user.bot_messages):
            shape = card_of(message)
            if shape is None or shape[0] != rnd:
                continue
            for button in (b for row in message.buttons for b in row):
                parsed = rate_data(button.callback_data or "")
                if parsed is not None and parsed[1] not in done:
                    return message, parsed[1], shape[2]
        return None

    def _answered_in_review(self, rnd: int) -> set[str]:
        """The statements the bot's latest review of round ``rnd`` shows as answered: how an
        expert learns that a press whose answer a crash swallowed was recorded after all
        (its card then shows the choice and no longer has the rating buttons)."""
        for message in reversed(self.user.bot_messages):
            if message.visible_text.startswith(f"Round {rnd} · Review"):
                return {line[1] for line in REVIEW_LINE.finditer(message.visible_text)
                        if line[2] != "not answered"}
        return set()

    async def rate_round(self, rnd: int) -> None:
        done: set[str] = set()
        total: int | None = None
        while total is None or len(done) < total:
            found = self._next_card(rnd, done)
            if found is None:  # nothing to press: the card was lost with a crash
                try:
                    await self.user.wait_until(lambda: self._next_card(rnd, done) is not None,
                                               timeout=ANSWER_WAIT)
                except TimeoutError:
                    done.update(self._answered_in_review(rnd))
                    self.user.send_command("ballot")
                continue
            message, code, total = found
            await asyncio.sleep(self.rng.uniform(0.1, 0.6))  # reading the statement
            try:
                query = self.user.press_button(message, LABELS[self.value(rnd, code)])
            except LookupError:  # meanwhile a restarted bot answered an earlier press and
                continue         # edited this card: look for the next one again
            try:
                await query.wait_answered(ANSWER_WAIT)
            except TimeoutError:
                continue  # press again, as a human would
            text = query.answer_text or ""
            if text.startswith(("Recorded:", "Already recorded")):
                done.add(code)


async def enrol(store: Store, users: list[SimulatedUser]) -> dict[int, int]:
    """Invite, enrol and consent the experts through the engine (as `delphi invite` would)."""
    now = SystemClock().now()
    async with store.transaction() as session:
        tokens = await create_invites(session, "tiny", len(users), now)
    ids: dict[int, int] = {}
    for user, token in zip(users, tokens, strict=True):
        who = PlatformUser("telegram", str(user.id), str(user.chat_id), user.first_name)
        async with store.transaction() as session:
            participant = await redeem_invite(session, "tiny", token, who, now)
            await record_consent(session, participant.id, True, now)
            ids[user.id] = participant.id
    return ids


async def command_until(user: SimulatedUser, name: str, args: list[str], expect: str,
                        settled: Callable[[], Awaitable[bool]] | None = None,
                        ) -> ChatMessage | None:
    """Send a command, and again if a crash swallowed it; ``None`` once ``settled()`` says
    it is no longer needed (a press replayed after a restart did the work meanwhile)."""
    while True:
        sent = user.send_command(name, *args)
        try:
            return await user.wait_for_message(lambda m: expect in m.visible_text,
                                               since=sent, timeout=ANSWER_WAIT * 2)
        except TimeoutError:
            if settled is not None and await settled():
                return None


async def chaos(bot: Bot, rng: random.Random, stop: asyncio.Event, where: str,
                minimum: int) -> None:
    """Kill every 0.2-0.8 s of uptime until the phase ends and ``minimum`` kills happened."""
    kills = 0
    while kills < minimum or not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(0.2, 0.8))
            if kills >= minimum:
                return
            await asyncio.sleep(rng.uniform(0.0, 0.3))
        except TimeoutError:
            pass
        await bot.crash(where)
        kills += 1


async def rating_phase(bot: Bot, experts: list[Expert], rng: random.Random, rnd: int) -> None:
    stop = asyncio.Event()
    killer = asyncio.create_task(chaos(bot, rng, stop, f"rating round {rnd}", minimum=8))
    try:
        await asyncio.wait_for(asyncio.gather(*(e.rate_round(rnd) for e in experts)), 120)
    finally:
        stop.set()
        await killer


async def close_phase(bot: Bot, fake: FakeTelegram, coordinator: SimulatedUser,
                      experts: list[Expert], rng: random.Random, rnd: int) -> None:
    async def closed() -> bool:
        return await round_status(bot.store, rnd) == "closed"

    kills = 0
    while not await closed():
        confirm = await command_until(coordinator, "closeround", [], f"Close round {rnd} now?",
                                      settled=closed)
        if confirm is None or await closed():
            break
        query = coordinator.press_button(confirm, "Close the round")
        if kills < 3:  # crash somewhere inside /closeround: before, during or after commit
            await asyncio.sleep(rng.uniform(0.0, 0.25))
            await bot.crash(f"closing round {rnd}")
            kills += 1
        else:
            try:
                await query.wait_answered(ANSWER_WAIT * 2)
            except TimeoutError:
                continue
    # Crash during the broadcast: as soon as the first summaries are out, and again later.
    def got() -> int:
        return sum(1 for e in experts if summaries(e.user, rnd))

    for wanted in (1, EXPERTS // 2):
        await until(lambda w=wanted: got() >= w,  # type: ignore[misc]
                    f"{wanted} summaries of round {rnd}")
        await bot.crash(f"broadcasting round {rnd} ({got()} of {EXPERTS} had it)")
    await until(lambda: all(summaries(e.user, rnd) for e in experts),
                f"every summary of round {rnd}")


async def ratings_in_db(store: Store) -> dict[tuple[int, int, str], int | None]:
    async with store.transaction() as session:
        rows = (await session.execute(
            select(Ballot.participant_id, Round.number, Statement.code, Rating.value)
            .join(Ballot, Ballot.id == Rating.ballot_id)
            .join(Round, Round.id == Ballot.round_id)
            .join(StatementVersion, StatementVersion.id == Rating.statement_version_id)
            .join(Statement, Statement.id == StatementVersion.statement_id))).all()
    return {(pid, rnd, code): value for pid, rnd, code, value in rows}


async def test_sigkill_at_random_moments_loses_nothing_and_half_closes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(SEED)
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    async with running_telegram_fake() as fake:
        coordinator = fake.create_user("Carl", username="carl_c")
        config = tmp_path / "config.toml"
        database = tmp_path / "delphi.db"
        config.write_text(
            f'[database]\nurl = "sqlite:///{database}"\n[study]\nfile = "study.toml"\n'
            f'[telegram]\ntoken_env = "TEST_TG_TOKEN"\nbase_url = "{fake.base_url}"\n'
            f'base_file_url = "{fake.base_file_url}"\n'
            f'[coordinators]\ntelegram = [{coordinator.id}]\n')
        env = {**os.environ, "TEST_TG_TOKEN": fake.token, "PYTHONPATH": str(ROOT)}
        monkeypatch.setenv("TEST_TG_TOKEN", fake.token)
        for argv in (["db", "upgrade"], ["study", "load"]):
            assert await asyncio.to_thread(main, [*argv, "--config", str(config)]) == 0
        store = Store.from_url(f"sqlite:///{database}")
        try:
            users = [fake.create_user(f"Expert{i}", username=f"expert_{i}")
                     for i in range(EXPERTS)]
            participant_of = await enrol(store, users)
            by_participant = {pid: uid for uid, pid in participant_of.items()}
            experts = [Expert(user, random.Random(rng.random()), i)
                       for i, user in enumerate(users)]
            bot = Bot(config, tmp_path, env, store)
            bot.copies = lambda pid, rnd: summaries(fake.user(by_participant[pid]), rnd)
            await bot.start()
            try:
                await command_until(coordinator, "openround", ["7d"], "Round 1 is open")
                await rating_phase(bot, experts, rng, 1)
                await close_phase(bot, fake, coordinator, experts, rng, 1)
                await command_until(coordinator, "openround", ["7d"], "Round 2 is open")
                await rating_phase(bot, experts, rng, 2)
                await close_phase(bot, fake, coordinator, experts, rng, 2)
            finally:
                code = await bot.stop()
            assert code == 0, (tmp_path / "bot.log").read_text()[-3000:]
            await check_rounds(store)
            assert await round_status(store, 1) == "closed"
            assert await round_status(store, 2) == "closed"

            # Every answered press is in the database with its value; nothing else is.
            async with store.transaction() as session:
                identities = {int(uid): pid for uid, pid in (await session.execute(
                    select(Identity.user_id, Identity.participant_id))).all()}
            stored = await ratings_in_db(store)
            pressed: set[tuple[int, int, str, int]] = set()
            answered = recorded = 0
            for user in users:
                pid = identities[user.id]
                for query in user.callback_queries:
                    parsed = rate_data(query.data)
                    assert parsed is not None
                    rnd, code, value = parsed
                    pressed.add((pid, rnd, code, value))
                    if query.answered:
                        answered += 1
                    if query.answered and (query.answer_text or "").startswith("Recorded:"):
                        recorded += 1
                        assert (query.answer_text or "").startswith(f"Recorded: {value}")
                        assert stored.get((pid, rnd, code)) == value, (pid, rnd, code, value)
            assert all((pid, rnd, code, value) in pressed
                       for (pid, rnd, code), value in stored.items())
            assert len(stored) == EXPERTS * 5 + EXPERTS * len(
                {code for (_, rnd, code) in stored if rnd == 2})

            # Each expert got each summary; more than once only across a kill that caught
            # the copy on its way (sent, not yet recorded as delivered).
            copies = {(identities[u.id], rnd): summaries(u, rnd) for u in users for rnd in (1, 2)}
            duplicates = sum(n - 1 for n in copies.values())
            assert all(n >= 1 for n in copies.values()), copies
            assert all(n <= 1 + bot.excused[key] for key, n in copies.items()), \
                (copies, bot.excused)
            presses = sum(len(u.callback_queries) for u in users)
            report = (f"crash test: {presses} presses, {answered} answered "
                      f"({recorded} 'Recorded'), {bot.crashes} crashes, {bot.restarts} "
                      f"restarts, {sum(copies.values())} summaries to {EXPERTS} experts x 2 "
                      f"rounds ({duplicates} re-sent after a kill mid-send); "
                      f"crash points: {Counter(bot.crash_log)}")
            print(report)
            assert bot.crashes >= 20, report
            assert not fake.internal_errors, report
        finally:
            await store.dispose()
