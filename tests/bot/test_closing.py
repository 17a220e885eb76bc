"""The one close: its reading before the write transaction is only a head start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.dialogue.closing import RoundCloser
from engine import ballots, rounds
from engine.clock import ManualClock
from engine.db import Store, make_engine
from tests.engine.helpers import enrol_panel, loaded


async def test_a_close_that_cannot_read_apart_reads_inside_and_closes(
        tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    not_a_folder = tmp_path / "not-a-folder"
    not_a_folder.write_text("")
    store = Store(make_engine(f"sqlite:///{tmp_path / 'study.db'}"),
                  snapshots=lambda: make_engine(f"sqlite:///{not_a_folder / 'x.db'}"))
    try:
        await store.create_all()
        spec = await loaded(store, clock.now())
        experts = await enrol_panel(store, spec.study.id, 2, clock.now())
        async with store.transaction() as session:
            await rounds.open_round(session, spec.study.id, clock.now())
            for expert in experts:
                await ballots.record_rating(session, expert, 1, "S01", 4, clock.now())
        closer = RoundCloser(store, spec.study.id, chart=False)
        with caplog.at_level(logging.WARNING):
            reading = await closer.read()
        assert reading is None
        assert "could not read the round before closing it" in caplog.text
        async with store.transaction() as session:
            outcome = await closer.close(session, clock.now(), "test", reading)
        s01 = next(o for o in outcome.outcomes if o.code == "S01")
        assert (outcome.round, s01.statistics.n, s01.statistics.median) == (1, 2, 4.0)
    finally:
        await store.dispose()
