"""APScheduler holds only wake-up calls, rebuilt from the rows with stable ids."""

from __future__ import annotations

from datetime import timedelta

from engine.clock import ManualClock
from engine.db import Store
from tests.engine.helpers import loaded
from tests.schedule.harness import Study, study_file


async def test_jobs_are_rebuilt_from_the_rows_with_stable_ids(store: Store,
                                                              clock: ManualClock) -> None:
    spec = study_file(deadline_action="close")
    await loaded(store, clock.now(), spec)
    study = Study(store, clock, spec)
    await study.enrol(2)
    await study.coordinator.command("openround", "7d")
    first = study.new_scheduler()
    await first.start()  # plans the round and catches up; no job runs during this test
    try:
        jobs = first.job_ids()
    finally:
        await first.stop()
    deadline = int((clock.now() + timedelta(days=7)).timestamp())
    assert "delphi:resync" in jobs and f"delphi:due:{deadline}" in jobs
    assert len([j for j in jobs if j.startswith("delphi:due:")]) == 4  # 72 h, 24 h, 08:00, close

    restarted = study.new_scheduler()  # a new process builds the same ids from the rows
    await restarted.start()
    try:
        assert restarted.job_ids() == jobs
        restarted.poke()
        assert "delphi:poke" in restarted.job_ids()
    finally:
        await restarted.stop()
    assert restarted.job_ids() == []
