"""Many experts pressing at once must never lose a rating or see "database is locked"."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from engine import ballots, rounds
from engine.clock import ManualClock
from engine.models import Rating
from tests.conftest import Backend
from tests.engine.helpers import enrol_panel, loaded

PANEL = 50


async def test_fifty_concurrent_experts_lose_no_rating(backend: Backend,
                                                       clock: ManualClock) -> None:
    # Two stores = two connection pools with no shared in-process lock, as two processes
    # would be: the database itself must serialise them (BEGIN IMMEDIATE + busy timeout).
    first, second = backend.store(), backend.store()
    try:
        await first.create_all()
        spec = await loaded(first, clock.now())
        experts = await enrol_panel(first, spec.study.id, PANEL, clock.now())
        async with first.transaction() as session:
            await rounds.open_round(session, spec.study.id, clock.now())
        codes = [s.id for s in spec.statements]

        async def expert_session(index: int, expert: int) -> None:
            store = first if index % 2 else second
            for position, code in enumerate(codes):
                async with store.transaction() as session:
                    await ballots.record_rating(session, expert, 1, code,
                                                (index + position) % 5 + 1, clock.now())

        await asyncio.gather(*(expert_session(i, e) for i, e in enumerate(experts)))
        async with first.transaction() as session:
            stored = await session.scalar(select(func.count()).select_from(Rating))
            closed = await rounds.close_round(session, spec.study.id, clock.now())
            closed_ratings = await rounds.round_ratings(session, closed.round)
        assert stored == PANEL * len(codes)
        expected = {(f"P{i + 1:02d}", code): (i + p) % 5 + 1
                    for i in range(PANEL) for p, code in enumerate(codes)}
        assert {(r.participant, r.statement): r.rating for r in closed_ratings} == expected
    finally:
        await first.dispose()
        await second.dispose()
