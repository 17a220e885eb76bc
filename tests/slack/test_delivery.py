"""Outbox delivery through the Slack adapter: what the dispatcher is told when Slack says no,
long cards within Block Kit limits, and direct replies that wait out a 429."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from slack_sdk.http_retry import builtin_async_handlers
from sqlalchemy import select

from bot.chat.cards import Button, Card, Document, Section, card
from bot.chat.ports import DeliveryError
from engine.models import OutboxMessage, Participant
from tests.slack.harness import SlackStudy, last_text


async def test_a_deactivated_user_is_a_permanent_failure(study: SlackStudy) -> None:
    alice = study.fake.create_user("alice")
    study.fake.deactivate_user(alice.id)
    with pytest.raises(DeliveryError) as failed:
        await study.adapter.deliver(alice.dm.id, [card("Round 2 is open")])
    assert failed.value.permanent and failed.value.retry_after is None
    assert "account_inactive" in str(failed.value)

    bob = study.fake.create_user("bob")
    study.fake.delete_user(bob.id)
    with pytest.raises(DeliveryError) as gone:
        await study.adapter.deliver(bob.dm.id, [card("Round 2 is open")])
    assert gone.value.permanent and "channel_not_found" in str(gone.value)


async def test_rate_limits_and_server_errors_are_retried_later(study: SlackStudy) -> None:
    alice = study.fake.create_user("alice")
    study.fake.fail_next("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(DeliveryError) as limited:
        await study.adapter.deliver(alice.dm.id, [card("hello")])
    assert limited.value.retry_after == 7.0 and not limited.value.permanent
    assert study.fake.call_count("chat.postMessage") == 1  # the outbox waits, not the client

    study.fake.fail_next("chat.postMessage", "internal_error")
    with pytest.raises(DeliveryError) as broken:
        await study.adapter.deliver(alice.dm.id, [card("hello")])
    assert not broken.value.permanent and broken.value.retry_after is None

    await study.adapter.deliver(alice.dm.id, [card("hello")])
    assert "hello" in last_text(alice)


async def test_the_dispatcher_gives_up_on_a_deactivated_expert(study: SlackStudy) -> None:
    gone, fine = await study.enrol(2)
    study.fake.deactivate_user(gone.id)
    await study.command(study.coordinator, "openround 7d")
    assert await study.dispatcher.run_once() == 1
    async with study.store.transaction() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        unreachable = (await session.scalars(select(Participant.pseudonym).where(
            Participant.unreachable_since.is_not(None)))).all()
    assert [r.status for r in rows] == ["failed", "delivered"]
    assert rows[0].last_error is not None and "account_inactive" in rows[0].last_error
    assert unreachable == ["P01"]
    assert "Round 1 is open" in "\n".join(m.visible_text for m in fine.messages)


async def test_the_dispatcher_reschedules_after_retry_after(study: SlackStudy) -> None:
    late, fine = await study.enrol(2)
    await study.command(study.coordinator, "openround 7d")
    study.fake.fail_next("chat.postMessage", "ratelimited", retry_after=30)
    assert await study.dispatcher.run_once() == 1
    async with study.store.transaction() as session:
        waiting = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == "pending"))).all()
    assert len(waiting) == 1 and waiting[0].attempts == 1
    assert waiting[0].not_before.replace(tzinfo=None) == (
        study.clock.now() + timedelta(seconds=30)).replace(tzinfo=None)
    assert await study.dispatcher.run_once() == 0  # not yet
    study.clock.advance(timedelta(seconds=31))
    assert await study.dispatcher.run_once() == 1
    assert "Round 1 is open" in "\n".join(m.visible_text for m in late.messages)
    assert "Round 1 is open" in "\n".join(m.visible_text for m in fine.messages)


async def test_a_long_card_is_delivered_within_block_kit_limits(study: SlackStudy) -> None:
    alice = study.fake.create_user("alice")
    comments = tuple(Section(f"Comment {i}: " + "long words " * 40 + "<@U1>", "quote")
                     for i in range(70))
    long = Card(
        heading="Round 2 · Statement 1 of 1 · " + "Domain " * 40,
        sections=(Section("Statement " + "wording " * 900), Section("1 ███\n2 █\n" * 400, "mono"),
                  *comments),
        buttons=((*(Button(f"{v} · " + "Very strongly agree " * 6, f"1|r|2|S01|{v}")
                    for v in range(1, 6)),), (Button("Comment", "1|m|2|S01"),)))
    await study.adapter.deliver(alice.dm.id, [long], [Document("notes.txt", b"x" * 10)])
    messages = alice.messages
    assert len(messages) >= 3 and study.fake.call_count("chat.postMessage", ok=False) == 0
    assert all(len(m.blocks) <= 50 for m in messages)
    assert [len(m.buttons) for m in messages[:-2]] == [0] * (len(messages) - 2)
    buttons = [b.text or "" for m in messages for b in m.buttons]
    assert len(buttons) == 6 and all(len(b) <= 75 for b in buttons)
    assert [b[0] for b in buttons[:5]] == ["1", "2", "3", "4", "5"]
    text = "\n".join(m.visible_text for m in messages)
    assert all(f"Comment {i}:" in text for i in range(70)) and "<@U1>" not in text
    assert [f.filename for f in alice.files] == ["notes.txt"]


async def test_direct_replies_wait_out_a_rate_limit(study: SlackStudy,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builtin_async_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    study.fake.fail_next("chat.postMessage", "ratelimited", times=2, retry_after=0)
    await study.command(study.coordinator, "status")
    assert "No round is open" in last_text(study.coordinator)
    assert [c.status for c in study.fake.calls_to("chat.postMessage")] == [429, 429, 200]
