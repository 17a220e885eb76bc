"""A round summary broadcast to 1,000 Telegram experts through the outbox dispatcher.

The real TelegramAdapter (PTB, its own rate limiter off) talks to the Bot API fake with
Telegram's limits enforced by the fake (30 messages/s overall, 1/s per chat, 429 beyond).
The physical bound is 1,000 / 30 s = 33.3 s; the dispatcher's own pacing (bot.delivery.pacing)
must come within 10 % of it with zero 429 answers.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select

from adapters.telegram.adapter import TelegramAdapter
from adapters.telegram.settings import TelegramSection
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.outbox import enqueue
from bot.dialogue import texts
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import SystemClock
from engine.conclusion import Conclusion, StatementOutcome
from engine.db import Store
from engine.enrolment import PlatformUser, create_invites, record_consent, redeem_invite
from engine.loading import load_study
from engine.models import OutboxMessage
from engine.statement_statistics import StatementStatistics
from engine.studyfile import load_study_file
from engine.verdict import Verdict
from tests.fakes.telegram_api import running_telegram_fake

EXPERTS = 1000
GLOBAL_PER_SECOND = 30
STUDY = Path(__file__).resolve().parents[1] / "engine" / "examples" / "tiny.toml"


def _summary() -> Any:
    outcomes = [StatementOutcome(
        StatementStatistics(1, f"S0{i}", 1, n=18, n_unable=1, median=4.0, q1=3.0, q3=5.0,
                            iqr=2.0, pct_agree=72.2, pct_disagree=11.1,
                            reason="below threshold"),
        i, True, Verdict.NO_CONSENSUS) for i in range(1, 6)]
    wording = {i: f"Daily sunscreen of SPF 30 or more during treatment, statement {i}"
               for i in range(1, 6)}
    return texts.round_summary(Conclusion(1, outcomes, 2, False, "", 20, 18), wording)


async def _broadcast() -> dict[str, Any]:
    clock = SystemClock()
    spec = load_study_file(STUDY)
    with tempfile.TemporaryDirectory() as folder:
        store = Store.from_url(f"sqlite:///{folder}/bench.db")
        await store.create_all()
        async with running_telegram_fake() as fake:
            users = fake.create_users(EXPERTS, started=True)
            now = clock.now()
            async with store.transaction() as session:
                await load_study(session, spec, now)
                tokens = await create_invites(session, spec.study.id, EXPERTS, now)
                summary = _summary()
                for user, token in zip(users, tokens, strict=True):
                    who = PlatformUser("telegram", str(user.id), str(user.id), None, None)
                    participant = await redeem_invite(session, spec.study.id, token, who, now)
                    await record_consent(session, participant.id, True, now)
                    await enqueue(session, spec.study.id, "round_summary", [summary],
                                  f"summary:bench:{participant.id}", now,
                                  participant_id=participant.id)
            conductor = Conductor(StudyContext(store, clock, spec, Coordinators.of()))
            settings = TelegramSection(token=SecretStr(fake.token), base_url=fake.base_url,
                                       base_file_url=fake.base_file_url, rate_limit=False)
            adapter = TelegramAdapter(conductor, settings, rate_limit=False)
            await adapter.app.initialize()
            dispatcher = Dispatcher(store, clock, {"telegram": adapter})
            fake.rate_limits.enable(global_per_second=GLOBAL_PER_SECOND, per_chat_per_second=1)
            fake.clear_calls()
            started = time.perf_counter()
            while True:
                await dispatcher.run_once()
                async with store.transaction() as session:
                    left = await session.scalar(select(func.count()).select_from(OutboxMessage)
                                                .where(OutboxMessage.status == "pending"))
                if not left:
                    break
                await asyncio.sleep(0.05)  # a 429 was answered: wait for the row's retry
            elapsed = time.perf_counter() - started
            await adapter.app.shutdown()
            sends = fake.calls_to("sendMessage")
            delivered = sum(1 for user in users if len(user.bot_messages) == 1)
        await store.dispose()
    return {"elapsed": elapsed, "http_429": sum(c.status == 429 for c in sends),
            "delivered": delivered, "calls": len(sends)}


def run() -> dict[str, Any]:
    result = asyncio.run(_broadcast())
    bound = EXPERTS / GLOBAL_PER_SECOND
    ratio = result["elapsed"] / bound
    row = {"case": f"summary to {EXPERTS} Telegram experts", "median_s": result["elapsed"],
           "min_s": result["elapsed"], "reps": 1, "bound_s": bound, "ratio": ratio,
           "http_429": result["http_429"], "delivered": result["delivered"],
           "send_calls": result["calls"]}
    return {"name": "outbox", "rows": [row], "summary": [
        f"broadcast to {EXPERTS} experts: {result['elapsed']:.1f} s vs bound {bound:.1f} s "
        f"(ratio {ratio:.3f}; target <= 1.10), 429 answers: {result['http_429']} (target 0), "
        f"delivered {result['delivered']}/{EXPERTS} with {result['calls']} sendMessage calls"]}


if __name__ == "__main__":
    for line in run()["summary"]:
        print(line)
