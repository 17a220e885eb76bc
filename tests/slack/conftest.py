"""Fixtures for the Slack adapter tests: the fake workspace and a running study."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.clock import ManualClock
from engine.db import Store
from tests.engine.helpers import loaded
from tests.fakes.slack_api import FakeSlackApi, running_slack_fake
from tests.slack.harness import SlackStudy, assert_no_tasks_left, running_study


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    async with running_slack_fake() as api:
        yield api
    assert_no_tasks_left()


@pytest.fixture
async def study(fake: FakeSlackApi, store: Store, clock: ManualClock) -> AsyncIterator[SlackStudy]:
    spec = await loaded(store, clock.now())
    async with running_study(fake, store, clock, spec) as running:
        yield running
