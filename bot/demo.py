"""`delphi demo`: the example study on a fresh embedded SQLite database.

Everything goes through the real engine services (migrations, loading, enrolment,
ratings, round closing); the experts are simulated with a seeded random generator, so
the same seed gives the same output.
"""

from __future__ import annotations

import random
import shutil
from importlib import resources
from pathlib import Path

from engine import ballots, rounds
from engine.clock import ManualClock
from engine.db import Store
from engine.enrolment import (
    PlatformUser,
    create_invites,
    next_screening_question,
    record_consent,
    record_screening_answer,
    redeem_invite,
)
from engine.loading import load_study
from engine.schema import upgrade
from engine.studyfile import StudyFile, describe, parse_study

PANEL_SIZE = 15


def example_study() -> StudyFile:
    text = resources.files("engine.examples").joinpath("isotretinoin-rejuvenation.toml")
    return parse_study(text.read_text(encoding="utf-8"), "isotretinoin-rejuvenation.toml")


async def _enrol(store: Store, spec: StudyFile, clock: ManualClock, rng: random.Random
                 ) -> list[int]:
    async with store.transaction() as session:
        tokens = await create_invites(session, spec.study.id, PANEL_SIZE, clock.now())
    experts = []
    for index, token in enumerate(tokens):
        who = PlatformUser("demo", f"demo-{index}", f"demo-{index}")
        async with store.transaction() as session:
            participant = await redeem_invite(session, spec.study.id, token, who, clock.now())
            await record_consent(session, participant.id, True, clock.now())
            while (question := await next_screening_question(session, participant)) is not None:
                answer = (rng.choice(question.options) if question.assigns_group
                          else (question.eligible or question.options)[0])
                await record_screening_answer(session, participant.id, question.id, answer,
                                              clock.now())
            experts.append(participant.id)
    return experts


def _fresh_directory(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


async def run_demo(out: Path, seed: int) -> int:
    rng = random.Random(seed)
    clock = ManualClock()
    _fresh_directory(out)
    database = out / "demo.db"
    spec = example_study()
    store = Store.from_url(f"sqlite+aiosqlite:///{database}")
    try:
        await upgrade(store.engine)
        async with store.transaction() as session:
            await load_study(session, spec, clock.now())
        print(describe(spec))
        experts = await _enrol(store, spec, clock, rng)
        async with store.transaction() as session:
            first = await rounds.open_round(session, spec.study.id, clock.now())
        leaning = {s.id: rng.randint(3, 8) for s in spec.statements}
        for expert in experts:
            async with store.transaction() as session:
                while (item := await ballots.next_unanswered(session, expert)) is not None:
                    value = min(9, max(1, leaning[item.code] + rng.randint(-2, 2)))
                    await ballots.record_rating(session, expert, first.number, item.code,
                                                value, clock.now())
                await ballots.submit_ballot(session, expert, clock.now())
        async with store.transaction() as session:
            closed = await rounds.close_round(session, spec.study.id, clock.now())
        print(f"Round {closed.round.number}: {len(experts)} experts enrolled and screened, "
              f"{len(closed.ratings)} ratings on {len(closed.statements)} statements stored "
              f"in {database}.")
    finally:
        await store.dispose()
    return 0
