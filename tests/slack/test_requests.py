"""Slack's request rules at bolt's real endpoint: signatures, timestamps, retries, replays.

A forged or stale request is answered 401 and writes nothing; a Slack retry
(``X-Slack-Retry-Num``) or a byte-for-byte replay of an accepted request is answered 200
and changes nothing: no second rating, no second message, no second edit.
"""

from __future__ import annotations

import pytest

from engine.models import Comment, ProcessedUpdate, Rating
from tests.fakes.slack_api import SimulatedUser
from tests.fakes.slack_client import Signing
from tests.slack.harness import SlackStudy, count, find_button, last_text, table_counts


async def ready(study: SlackStudy) -> SimulatedUser:
    [expert] = await study.enrol(1)
    await study.command(study.coordinator, "openround 7d")
    await study.deliver()
    return expert


def api_calls(study: SlackStudy) -> dict[str, int]:
    return {method: study.fake.call_count(method) for method in (
        "chat.postMessage", "chat.update", "chat.postEphemeral", "views.open",
        "views.publish", "conversations.open")}


@pytest.mark.parametrize("signing", [Signing.FORGED, Signing.STALE, Signing.MISSING])
async def test_bad_signatures_get_401_and_write_nothing(study: SlackStudy,
                                                        signing: Signing) -> None:
    expert = await ready(study)
    before, calls = await table_counts(study.store), api_calls(study)
    messages = len(expert.messages)

    invite = await study.command(study.coordinator, "invite 3", signing=signing)
    press = await study.slack.press(expert, find_button(expert, "4"), signing=signing)
    event = await study.slack.send_event(
        {"type": "app_home_opened", "user": expert.id, "channel": expert.dm.id,
         "tab": "home"}, signing=signing)
    await study.adapter.settle()

    assert (invite.status, press.status, event.status) == (401, 401, 401)
    assert await table_counts(study.store) == before
    assert api_calls(study) == calls
    assert len(expert.messages) == messages and expert.home is None


async def test_a_retried_or_replayed_press_records_once(study: SlackStudy) -> None:
    expert = await ready(study)
    card = expert.last_message
    assert card is not None
    keys = await count(study.store, ProcessedUpdate)

    first = await study.press(expert, "4", card)
    assert first.status == 200
    after_first, messages = api_calls(study), len(expert.messages)
    assert await count(study.store, ProcessedUpdate) == keys + 1

    retried = await study.slack.retry(first, retry_num=1)
    replayed = await study.slack.replay(first)
    await study.adapter.settle()

    assert retried.status == 200 and replayed.status == 200  # bolt accepts; we dedupe
    assert await count(study.store, Rating) == 1
    assert await count(study.store, ProcessedUpdate) == keys + 1
    assert api_calls(study) == after_first
    assert len(expert.messages) == messages and expert.message(card.ts).edits == 1
    assert expert.ephemerals == {}


async def test_a_replayed_command_answers_once(study: SlackStudy) -> None:
    expert = await ready(study)
    first = await study.command(expert, "progress")
    assert "Round 1: 0 of 5 answered" in last_text(expert)
    messages, calls = len(expert.messages), api_calls(study)

    await study.slack.replay(first)
    await study.slack.retry(first, retry_num=2, reason="timeout")
    await study.adapter.settle()

    assert len(expert.messages) == messages
    assert api_calls(study) == calls


async def test_a_retried_message_event_and_modal_submission_store_once(
        study: SlackStudy) -> None:
    expert = await ready(study)
    await study.press(expert, "Comment")
    submitted = await study.submit(expert, {"comment": "Only with a hat"})
    await study.slack.replay(submitted)
    await study.adapter.settle()
    assert await count(study.store, Comment) == 1
    messages = len(expert.messages)

    said = await study.slack.send_dm(expert, "hello?")
    await study.adapter.settle()
    assert "Sent to the study coordinators" in last_text(expert)
    await study.slack.retry(said, retry_num=1)
    await study.slack.retry(said, retry_num=2)
    await study.adapter.settle()
    assert len(expert.messages) == messages + 2  # the DM itself and one answer
    assert await count(study.store, Comment) == 1


async def test_a_retried_app_home_event_publishes_once(study: SlackStudy) -> None:
    expert = await ready(study)
    opened = await study.open_home(expert)
    assert expert.home is not None
    await study.slack.retry(opened, retry_num=1)
    await study.adapter.settle()
    assert study.fake.call_count("views.publish") == 1


async def test_url_verification_is_answered(study: SlackStudy) -> None:
    reply = await study.slack.url_verification("abc123")
    assert reply.status == 200 and reply.json() == {"challenge": "abc123"}
