"""A press the database could not store says so: with every transaction made read-only
at the driver (SQLite ``PRAGMA query_only``, PostgreSQL ``SET TRANSACTION READ ONLY``,
failing the way a full disk or a read-only file does, on the first write), a Telegram
press is answered "Could not save, please tap again", never "Recorded", and nothing is
stored; once the fault clears, the same tap records the rating."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from adapters.telegram.adapter import SORRY, SORRY_PRESS
from bot.dialogue.conductor import COULD_NOT_SAVE, COULD_NOT_SAVE_MESSAGE
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment, ProcessedUpdate, Rating
from tests.engine.helpers import loaded
from tests.fakes.slack_api import running_slack_fake
from tests.fakes.telegram_api import running_telegram_fake
from tests.reliability.races import tracebacks
from tests.slack.harness import running_study
from tests.telegram.harness import card_of, one_expert_in_round_one, running_bot


@contextmanager
def read_only(store: Store) -> Iterator[None]:
    """Every transaction begun inside the block refuses writes at the driver; a driver
    trip's writes (engine.trips: straight on sqlite3, where SQLAlchemy's events do not
    reach) fail there with the error a read-only database gives."""
    sqlite = store.engine.dialect.name == "sqlite"

    def refuse_writes(sql: str) -> None:
        if sql.startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("PRAGMA query_only = 1" if sqlite
                                   else "SET TRANSACTION READ ONLY")

    def on_commit(connection: Any) -> None:
        if sqlite:  # the pragma outlives the transaction on a pooled connection
            connection.exec_driver_sql("PRAGMA query_only = 0")

    target = store.engine.sync_engine
    event.listen(target, "begin", on_begin)
    event.listen(target, "rollback", on_commit)
    event.listen(target, "commit", on_commit)
    store.trace_driver_trips(refuse_writes)
    try:
        yield
    finally:
        store.trace_driver_trips(None)
        event.remove(target, "begin", on_begin)
        # The clean-up listeners stay until a transaction after the fault has run them.
        event.remove(target, "rollback", on_commit)
        event.remove(target, "commit", on_commit)


async def stored(store: Store, model: Any) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_a_press_the_database_cannot_store_asks_to_tap_again(
        store: Store, clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        expert, first = await one_expert_in_round_one(bot)
        messages = len(expert.bot_messages)
        with read_only(store):
            query = expert.press_button(first, "4")
            answered = await query.wait_answered()
            assert answered.answer_text == COULD_NOT_SAVE
            assert answered.show_alert
            sent = expert.send_text("A comment nobody asked for")
            refusal = await expert.wait_for_message(since=sent)
        assert refusal.visible_text == COULD_NOT_SAVE_MESSAGE
        assert len(expert.bot_messages) == messages + 1  # the apology, no next card
        assert first.visible_text == expert.message(first.message_id).visible_text
        assert await stored(store, Rating) == 0
        assert not any(t and t.startswith("Recorded") for t in expert.toasts)

        again = expert.press_button(first, "4")
        assert (await again.wait_answered()).answer_text.startswith("Recorded: 4")
        await expert.wait_for_message(lambda m: card_of(m) == (1, 2, 5), timeout=10)
        assert await stored(store, Rating) == 1
        assert await stored(store, Comment) == 0
    assert not fake.internal_errors
    faults = [r for r in caplog.records if "could not save" in r.getMessage()]
    assert len(faults) == 2 and not any(r.exc_info for r in faults)
    # The press path answered; no error escaped to PTB's handler (the outbox dispatcher,
    # failing its cycles meanwhile, reports the fault in its own log line).
    assert not tracebacks([r for r in caplog.records if r.name != "bot.delivery.dispatcher"])


async def test_a_press_on_a_started_ballot_the_database_cannot_store_asks_again(
        store: Store, clock: ManualClock) -> None:
    """The second rating of a ballot takes the one-trip path (engine.quick): a
    fault there is answered the same way, and nothing of the trip is kept."""
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        expert, first = await one_expert_in_round_one(bot)
        assert (await expert.press_button(first, "4").wait_answered()).answer_text \
            .startswith("Recorded: 4")
        second = await expert.wait_for_message(lambda m: card_of(m) == (1, 2, 5))
        updates = await stored(store, ProcessedUpdate)
        with read_only(store):
            answered = await expert.press_button(second, "3").wait_answered()
        assert answered.answer_text == COULD_NOT_SAVE and answered.show_alert
        assert await stored(store, Rating) == 1
        assert await stored(store, ProcessedUpdate) == updates  # the trip left nothing
        again = expert.press_button(second, "3")
        assert (await again.wait_answered()).answer_text.startswith("Recorded: 3")
        assert await stored(store, Rating) == 2
    assert not fake.internal_errors


async def test_an_unforeseen_error_still_answers_the_press_and_the_message(
        store: Store, clock: ManualClock, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapter's last resort, for a fault nobody foresaw (a bug: here the conductor
    is made to raise): the button does not spin, the message is not ignored."""
    spec = await loaded(store, clock.now())
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        expert, first = await one_expert_in_round_one(bot)

        async def broken(event: object) -> None:
            raise RuntimeError("an unforeseen fault")

        monkeypatch.setattr(bot.adapter.dialogue, "handle", broken)
        answered = await expert.press_button(first, "4").wait_answered()
        assert answered.answer_text == SORRY_PRESS and answered.show_alert
        sent = expert.send_text("hello")
        assert (await expert.wait_for_message(since=sent)).visible_text == SORRY
        assert await stored(store, Rating) == 0
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        "error while handling a Telegram update"] * 2


async def test_a_slack_press_the_database_cannot_store_asks_to_tap_again(
        store: Store, clock: ManualClock) -> None:
    """The same answer over Slack (it used to be the adapter's generic apology)."""
    spec = await loaded(store, clock.now())
    async with running_slack_fake() as fake, running_study(fake, store, clock, spec) as study:
        [expert] = await study.enrol(1)
        await study.command(study.coordinator, "openround 7d")
        await study.deliver()
        card = expert.last_message
        assert card is not None
        with read_only(store):
            assert (await study.press(expert, "4", card)).status == 200
        notices = [m.visible_text for m in expert.ephemerals.values()]
        assert notices and COULD_NOT_SAVE in notices[-1], notices
        assert expert.message(card.ts).edits == 0
        assert await stored(store, Rating) == 0
        await study.press(expert, "4", card)
        assert await stored(store, Rating) == 1
