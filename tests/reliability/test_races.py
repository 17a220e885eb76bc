"""Every state change has exactly one winner and every loser is answered: two requests
released together by a barrier, on two connection pools (as two workers), on SQLite and
on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.clock import ManualClock
from engine.models import Identity, Invite, OutboxMessage, Participant
from tests.conftest import Backend
from tests.engine.helpers import loaded
from tests.reliability.races import TwoWorkers, together, tracebacks

USED = "This invite has already been used"


@pytest.fixture
async def two(backend: Backend, clock: ManualClock) -> AsyncIterator[TwoWorkers]:
    first, second = backend.store(), backend.store()
    try:
        await first.create_all()
        spec = await loaded(first, clock.now())
        two = TwoWorkers((first, second), clock, spec)
        await two.warm_up()
        yield two
    finally:
        await first.dispose()
        await second.dispose()


async def test_one_invite_enrols_one_of_two_accounts(two: TwoWorkers,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    [token] = await two.invites(1)
    alice, bob = two.expert("alice", worker=0), two.expert("bob", worker=1)
    await together(lambda: alice.command("start", token), lambda: bob.command("start", token))
    answers = [chat.last.plain_text() for chat in (alice, bob)]
    assert sorted(USED in text for text in answers) == [False, True], answers
    winner = alice if USED in answers[1] else bob
    winner.find("I agree to take part")  # the winner is shown the consent screen
    assert await two.count(Participant) == 1
    assert await two.count(Identity) == 1
    assert await two.count(Identity, Identity.user_id == winner.user_id) == 1
    assert await two.count(Invite, Invite.participant_id.is_not(None)) == 1
    assert await two.count(OutboxMessage) == 0
    assert not tracebacks(caplog.records)


async def test_one_account_with_two_invites_is_enrolled_once(
        two: TwoWorkers, caplog: pytest.LogCaptureFixture) -> None:
    first, second = await two.invites(2)
    on_one, on_other = two.expert("carl", worker=0), two.expert("carl", worker=1)
    await together(lambda: on_one.command("start", first),
                   lambda: on_other.command("start", second))
    for chat in (on_one, on_other):  # both are answered: the consent, or "already enrolled"
        text = chat.last.plain_text()
        assert "already enrolled" in text or chat.find("I agree to take part"), text
    assert await two.count(Participant) == 1
    assert await two.count(Identity) == 1
    assert await two.count(Invite, Invite.participant_id.is_not(None)) == 1
    assert not tracebacks(caplog.records)
