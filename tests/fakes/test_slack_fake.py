"""Tests of the Slack fakes against the real slack_sdk client and a real bolt AsyncApp.

The bolt app is served over HTTP on a loopback port exactly as the adapter will mount it
(our own aiohttp application plus bolt's aiohttp request/response converters), and driven
by signed requests from simulated users; assertions are about what each user sees.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.say.async_say import AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from .slack_api import FakeMessage, FakeSlackApi, SimulatedUser, running_slack_fake
from .slack_client import FORM, Signing, SlackPlatformClient
from .slack_state import Control

SIGNING_SECRET = "test-signing-secret"


# --------------------------------------------------------------------------------------------
# Block Kit used by the little bot under test


def statement_blocks(number: int) -> list[dict[str, Any]]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": f"Statement {number}"}},
        {
            "type": "section",
            "block_id": "statement",
            "text": {"type": "mrkdwn", "text": "Remote consultations are as safe as visits."},
        },
        {
            "type": "actions",
            "block_id": "vote",
            "elements": [
                button("Agree", "agree", f"s{number}:agree", style="primary"),
                button("Disagree", "disagree", f"s{number}:disagree", style="danger"),
                button("Comment", "comment", f"s{number}"),
            ],
        },
    ]


def button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def comment_modal(metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "comment_modal",
        "title": {"type": "plain_text", "text": "Your comment"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata,
        "blocks": [
            {
                "type": "input",
                "block_id": "comment_block",
                "label": {"type": "plain_text", "text": "Why?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "comment_input",
                    "multiline": True,
                },
            },
        ],
    }


def home_view(opened: int) -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"Home opened {opened} time(s)"},
            },
        ],
    }


def build_app(client: AsyncWebClient, handled: list[str]) -> AsyncApp:
    """A miniature Delphi bot: invite with buttons, vote, comment in a modal, App Home."""
    app = AsyncApp(signing_secret=SIGNING_SECRET, client=client)
    home_opens: dict[str, int] = {}

    @app.command("/delphi")
    async def delphi_command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        if body["text"] == "help":
            await ack("Usage: /delphi [help]")
            return
        await ack()
        handled.append("command")
        opened = await client.conversations_open(users=body["user_id"])
        await client.chat_postMessage(
            channel=opened["channel"]["id"], text="Statement 1", blocks=statement_blocks(1)
        )

    @app.action("agree")
    async def agree(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        handled.append("agree")
        container = body["container"]
        await client.chat_update(
            channel=container["channel_id"],
            ts=container["message_ts"],
            text="You agreed with statement 1",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "You *agreed*."}}],
        )

    @app.action("comment")
    async def comment(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        metadata = json.dumps({"statement": body["actions"][0]["value"]})
        try:
            await client.views_open(trigger_id=body["trigger_id"], view=comment_modal(metadata))
        except SlackApiError as error:
            # A listener that raises right after ack() can make bolt answer 404 after 3 s
            # (bolt resets the ack on error); the adapter must catch its own errors.
            handled.append(f"views.open failed: {error.response['error']}")
            await client.chat_postEphemeral(
                channel=body["container"]["channel_id"],
                user=body["user"]["id"],
                text="Sorry, that took too long. Please press Comment again.",
            )

    @app.view("comment_modal")
    async def comment_submitted(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        values = view["state"]["values"]
        text = values["comment_block"]["comment_input"]["value"] or ""
        if not text.strip():
            await ack(response_action="errors", errors={"comment_block": "Please write something"})
            return
        await ack()
        statement = json.loads(view["private_metadata"])["statement"]
        await client.chat_postMessage(
            channel=body["user"]["id"], text=f"Thanks for your comment on {statement}: {text}"
        )

    @app.event("app_home_opened")
    async def app_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        user = event["user"]
        home_opens[user] = home_opens.get(user, 0) + 1
        await client.views_publish(user_id=user, view=home_view(home_opens[user]))

    @app.event("message")
    async def direct_message(event: dict[str, Any], say: AsyncSay) -> None:
        await say(f"echo: {event['text']}")

    return app


# --------------------------------------------------------------------------------------------
# Fixtures


async def serve_bolt(app: AsyncApp) -> tuple[web.AppRunner, str]:
    """Mount bolt on our own aiohttp application, as the adapter will, on an ephemeral port."""

    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    web_app = web.Application()
    web_app.router.add_post("/slack/events", slack_events)
    runner = web.AppRunner(web_app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/slack/events"


def _pending_bolt_tasks() -> set[asyncio.Task[Any]]:
    """Listener tasks bolt started with ``asyncio.ensure_future`` and never tracks itself."""
    current = asyncio.current_task()
    found: set[asyncio.Task[Any]] = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is not current and not task.done() and code and "slack_bolt" in code.co_filename:
            found.add(task)
    return found


async def drain_bolt_tasks(grace: float = 5.0) -> None:
    """Let bolt's background listeners finish before the servers they talk to go away."""
    pending = _pending_bolt_tasks()
    while pending:
        _, still = await asyncio.wait(pending, timeout=grace)
        if still:
            raise AssertionError(f"bolt listeners still running after {grace}s: {still}")
        pending = _pending_bolt_tasks()


@dataclass
class Bot:
    fake: FakeSlackApi
    slack: SlackPlatformClient
    app: AsyncApp
    handled: list[str] = field(default_factory=list)


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async with running_slack_fake() as fake:
        session = aiohttp.ClientSession()
        web_client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, session=session)
        handled: list[str] = []
        app = build_app(web_client, handled)
        runner, url = await serve_bolt(app)
        try:
            async with SlackPlatformClient(
                fake, bolt_url=url, signing_secret=SIGNING_SECRET
            ) as slack:
                yield Bot(fake, slack, app, handled)
                await drain_bolt_tasks()
        finally:
            await runner.cleanup()
            await session.close()
    assert_no_tasks_left()


def assert_no_tasks_left() -> None:
    """Clean shutdown: nothing the test started may outlive it."""
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert left == [], f"tasks left running: {left}"


@dataclass
class Api:
    fake: FakeSlackApi
    client: AsyncWebClient
    alice: SimulatedUser

    def client_with(self, **kwargs: Any) -> AsyncWebClient:
        options: dict[str, Any] = {"token": self.fake.bot_token, "base_url": self.fake.api_url}
        options.update(kwargs)
        return AsyncWebClient(session=self.client.session, **options)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """The fake plus a real slack_sdk client, for Web API-level tests without bolt."""
    async with running_slack_fake() as fake, aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url, session=session)
        yield Api(
            fake,
            client,
            fake.create_user("alice", tz="America/New_York", real_name="Alice Liddell"),
        )
    assert_no_tasks_left()


def has_buttons(message: Any) -> bool:
    return bool(message.buttons)


def control(user: SimulatedUser, text: str, message: FakeMessage | None = None) -> Control:
    """The newest button labelled ``text`` the user sees (within ``message`` if given)."""
    return next(c for c in user.controls() if c.element.text == text
                and (message is None or c.message is message))


# --------------------------------------------------------------------------------------------
# End to end through bolt


async def test_slash_command_posts_dm_with_buttons(bot: Bot) -> None:
    alice = bot.fake.create_user("alice")

    reply = await bot.slack.slash_command(alice, "/delphi")

    assert reply.status == 200
    invite = await alice.wait_for_message(has_buttons)
    assert invite.channel == alice.dm.id
    assert "Statement 1" in invite.visible_text
    assert [b.text for b in invite.buttons] == ["Agree", "Disagree", "Comment"]
    assert invite.buttons[0].value == "s1:agree" and invite.buttons[0].style == "primary"
    assert bot.fake.call_count("auth.test") == 1  # bolt authorises lazily, then caches
    opened = bot.fake.calls_to("conversations.open")[0]
    assert opened.params["users"] == alice.id and opened.ok


async def test_slash_command_ack_text_is_shown_as_ephemeral(bot: Bot) -> None:
    alice = bot.fake.create_user("alice")

    reply = await bot.slack.slash_command(alice, "/delphi", "help")

    assert reply.status == 200 and reply.body == "Usage: /delphi [help]"
    ephemeral = await alice.wait_for_ephemeral()
    assert ephemeral.text == "Usage: /delphi [help]"
    assert alice.messages == []


async def test_button_press_updates_the_message_in_place(bot: Bot) -> None:
    alice = bot.fake.create_user("alice")
    await bot.slack.slash_command(alice)
    invite = await alice.wait_for_message(has_buttons)

    reply = await bot.slack.press(alice, control(alice, "Agree"))

    assert reply.status == 200
    updated = await alice.wait_for_message(lambda m: m.ts == invite.ts and m.edits == 1)
    assert updated.text == "You agreed with statement 1"
    assert "You *agreed*." in updated.visible_text
    assert updated.buttons == []
    assert len(alice.messages) == 1


async def test_modal_round_trip_with_validation_errors(bot: Bot) -> None:
    alice = bot.fake.create_user("alice")
    await bot.slack.slash_command(alice)
    await alice.wait_for_message(has_buttons)

    await bot.slack.press(alice, control(alice, "Comment"))
    modal = await alice.wait_until(lambda: alice.modal, what="a modal")
    assert modal.title_text == "Your comment"
    assert json.loads(modal.private_metadata) == {"statement": "s1"}
    assert [e.action_id for e in modal.inputs] == ["comment_input"]

    rejected = await bot.slack.submit_view(alice, {"comment_block": "   "})
    assert rejected.status == 200
    assert alice.modal is modal and modal.errors == {"comment_block": "Please write something"}

    await bot.slack.submit_view(alice, {"comment_block": "Too vague"})
    assert alice.modal is None and alice.closed_modals == [modal]
    thanks = await alice.wait_for_message(lambda m: m.text.startswith("Thanks"))
    assert thanks.text == "Thanks for your comment on s1: Too vague"


async def test_slow_views_open_fails_with_expired_trigger(bot: Bot) -> None:
    alice = bot.fake.create_user("alice")
    await bot.slack.slash_command(alice)
    await alice.wait_for_message(has_buttons)
    bot.fake.trigger_ttl = 0.0  # every views.open now comes "too late"

    await bot.slack.press(alice, control(alice, "Comment"))

    apology = await alice.wait_for_ephemeral()
    [call] = bot.fake.calls_to("views.open")
    assert call.error == "expired_trigger_id"
    assert alice.modal is None
    assert apology.text.startswith("Sorry, that took too long")
    assert bot.handled[-1] == "views.open failed: expired_trigger_id"


@pytest.mark.parametrize("signing", [Signing.FORGED, Signing.STALE, Signing.MISSING])
async def test_badly_signed_requests_get_401_and_never_reach_handlers(
    bot: Bot, signing: Signing
) -> None:
    alice = bot.fake.create_user("alice")

    rejected = await bot.slack.slash_command(alice, signing=signing)

    assert rejected.status == 401
    assert rejected.json() == {"error": "invalid request"}
    # A valid request afterwards is a barrier: once its effect is visible, the rejected
    # one would have had to run already.
    await bot.slack.slash_command(alice)
    await alice.wait_for_message(has_buttons)
    assert bot.handled == ["command"]
    assert bot.fake.call_count("chat.postMessage") == 1


async def test_stale_timestamp_is_older_than_five_minutes(bot: Bot) -> None:
    body = b"token=x&command=%2Fdelphi"
    headers = bot.slack.signature_headers(body, signing=Signing.STALE)
    assert time.time() - int(headers["X-Slack-Request-Timestamp"]) > 5 * 60

    reply = await bot.slack.send_raw(body, content_type=FORM, signing=Signing.STALE)

    assert reply.status == 401
    assert bot.fake.calls == []  # not even auth.test: rejected before authorisation


async def test_exact_replay_within_five_minutes_is_not_rejected_by_bolt(bot: Bot) -> None:
    """Bolt only checks signature and age: de-duplication is the adapter's job."""
    alice = bot.fake.create_user("alice")
    first = await bot.slack.slash_command(alice)

    replayed = await bot.slack.replay(first)

    assert replayed.status == 200
    await alice.wait_until(lambda: len(alice.messages) == 2 or None, what="two DMs")
    assert bot.handled == ["command", "command"]


async def test_events_and_slack_retries_are_both_dispatched(bot: Bot) -> None:
    alice = bot.fake.create_user("alice")

    first = await bot.slack.open_app_home(alice)
    assert first.status == 200
    await alice.wait_until(lambda: alice.home and "opened 1 time" in alice.home.visible_text,
                           what="the Home tab")

    retried = await bot.slack.retry(first, retry_num=1, reason="http_timeout")

    assert retried.status == 200
    assert retried.request.headers["X-Slack-Retry-Num"] == "1"
    assert retried.request.payload["event_id"] == first.request.payload["event_id"]
    await alice.wait_until(lambda: alice.home and "opened 2 time" in alice.home.visible_text,
                           what="the Home tab")


async def test_direct_message_event_and_reply(bot: Bot) -> None:
    alice = bot.fake.create_user("alice")

    await bot.slack.send_dm(alice, "hello bot")

    echo = await alice.wait_for_message(lambda m: m.text == "echo: hello bot")
    assert [m.text for m in alice.messages] == ["hello bot", "echo: hello bot"]
    assert not alice.messages[0].from_bot and echo.from_bot


async def test_url_verification(bot: Bot) -> None:
    reply = await bot.slack.url_verification("abc123")

    assert reply.status == 200 and reply.json() == {"challenge": "abc123"}


async def test_hundreds_of_users_press_buttons_concurrently(bot: Bot) -> None:
    users = bot.fake.create_users(200)

    async def take_part(user: SimulatedUser) -> None:
        await bot.slack.slash_command(user)
        invite = await user.wait_for_message(has_buttons)
        await bot.slack.press(user, control(user, "Agree", invite))
        await user.wait_for_message(lambda m: m.edits == 1)

    await asyncio.gather(*(take_part(u) for u in users))

    assert all(u.messages[0].text == "You agreed with statement 1" for u in users)
    assert bot.fake.call_count("chat.update", ok=True) == 200


# --------------------------------------------------------------------------------------------
# Web API behaviour with the real slack_sdk client


async def test_bad_token_is_invalid_auth_and_missing_token_not_authed(api: Api) -> None:
    with pytest.raises(SlackApiError) as wrong:
        await api.client_with(token="xoxb-wrong").auth_test()
    with pytest.raises(SlackApiError) as missing:
        await api.client_with(token=None).auth_test()

    assert wrong.value.response["error"] == "invalid_auth"
    assert missing.value.response["error"] == "not_authed"


async def test_users_info_returns_timezone_and_names(api: Api) -> None:
    api.alice.display_name = "alice_l"

    info = await api.client.users_info(user=api.alice.id)

    user = info["user"]
    assert user["tz"] == "America/New_York"
    assert user["tz_offset"] in (-5 * 3600, -4 * 3600)
    assert user["real_name"] == "Alice Liddell"
    assert user["profile"]["display_name"] == "alice_l"
    with pytest.raises(SlackApiError) as unknown:
        await api.client.users_info(user="U0NOBODY")
    assert unknown.value.response["error"] == "user_not_found"


async def test_conversations_open_is_stable_per_user(api: Api) -> None:
    first = await api.client.conversations_open(users=[api.alice.id])
    second = await api.client.conversations_open(users=api.alice.id)

    assert first["channel"]["id"] == second["channel"]["id"] == api.alice.dm.id
    assert second["already_open"] is True


async def test_too_many_blocks_raise_invalid_blocks(api: Api) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}

    await api.client.chat_postMessage(
        channel=api.alice.dm.id, text="ok", blocks=[section] * 50
    )
    with pytest.raises(SlackApiError) as too_many:
        await api.client.chat_postMessage(
            channel=api.alice.dm.id, text="no", blocks=[section] * 51
        )

    assert too_many.value.response["error"] == "invalid_blocks"
    assert too_many.value.response["errors"] == [
        "no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert len(api.alice.messages) == 1


async def test_button_text_over_75_characters_is_rejected(api: Api) -> None:
    def actions(text: str) -> list[dict[str, Any]]:
        return [{"type": "actions", "elements": [button(text, "b", "v")]}]

    await api.client.chat_postMessage(channel=api.alice.id, text="ok", blocks=actions("x" * 75))
    with pytest.raises(SlackApiError) as too_long:
        await api.client.chat_postMessage(channel=api.alice.id, text="no", blocks=actions("x" * 76))

    assert too_long.value.response["errors"] == [
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"
    ]


def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([_section("x" * 3001)], "/blocks/0/text/text"),
        ([_section("x", block_id="b" * 256)], "/blocks/0/block_id"),
        ([_section("a", block_id="same"), _section("b", block_id="same")], "/blocks/1/block_id"),
        (
            [{"type": "actions", "elements": [button("a", "x" * 256, "v")]}],
            "/blocks/0/elements/0/action_id",
        ),
        (
            [{"type": "actions", "elements": [button("a", "dup", "1"), button("b", "dup", "2")]}],
            "/blocks/0/elements/1/action_id",
        ),
        (
            [{"type": "actions", "elements": [button("a", "a", "v" * 2001)]}],
            "/blocks/0/elements/0/value",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "/blocks/0/text/text",
        ),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}], "/blocks/0/text/type"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([_section("")], "/blocks/0/text/text"),
    ],
)
async def test_block_kit_limits(api: Api, blocks: list[dict[str, Any]], pointer: str) -> None:
    with pytest.raises(SlackApiError) as invalid:
        await api.client.chat_postMessage(channel=api.alice.id, text="fallback", blocks=blocks)

    assert invalid.value.response["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}]") for e in invalid.value.response["errors"])


async def test_blocks_the_bot_does_not_render_are_refused_as_not_modelled(api: Api) -> None:
    menu = {"type": "static_select", "action_id": "m", "options": []}
    for blocks in ([{"type": "divider"}], [{"type": "actions", "elements": [menu]}]):
        with pytest.raises(SlackApiError) as refused:
            await api.client.chat_postMessage(channel=api.alice.id, text="x", blocks=blocks)
        assert "not modelled by the fake" in refused.value.response["errors"][0]


async def test_message_text_fallback_limit(api: Api) -> None:
    await api.client.chat_postMessage(channel=api.alice.id, text="x" * 40_000)
    with pytest.raises(SlackApiError) as too_long:
        await api.client.chat_postMessage(channel=api.alice.id, text="x" * 40_001)
    with pytest.raises(SlackApiError) as empty, pytest.warns(UserWarning, match="`text`"):
        await api.client.chat_postMessage(channel=api.alice.id, text="")

    assert too_long.value.response["error"] == "msg_too_long"
    assert empty.value.response["error"] == "no_text"


@pytest.mark.parametrize(
    ("change", "error", "pointer"),
    [
        (
            {"title": {"type": "plain_text", "text": "t" * 25}},
            "invalid_arguments",
            "/view/title/text",
        ),
        (
            {"submit": {"type": "plain_text", "text": "s" * 25}},
            "invalid_arguments",
            "/view/submit/text",
        ),
        (
            {"close": {"type": "plain_text", "text": "c" * 25}},
            "invalid_arguments",
            "/view/close/text",
        ),
        ({"private_metadata": "m" * 3001}, "invalid_arguments", "/view/private_metadata"),
        ({"blocks": [_section("x")] * 101}, "invalid_blocks", "/view/blocks"),
    ],
)
async def test_modal_limits(api: Api, change: dict[str, Any], error: str, pointer: str) -> None:
    view = {**comment_modal("{}"), **change}

    with pytest.raises(SlackApiError) as invalid:
        await api.client.views_open(trigger_id=api.fake.issue_trigger(api.alice), view=view)

    assert invalid.value.response["error"] == error
    assert any(f"[json-pointer:{pointer}]" in e for e in invalid.value.response["errors"])
    assert api.alice.modal is None


async def test_modal_with_100_blocks_and_24_char_title_is_fine(api: Api) -> None:
    view = {
        **comment_modal("m" * 3000),
        "title": {"type": "plain_text", "text": "t" * 24},
        "blocks": [_section(str(i)) for i in range(100)],
    }

    opened = await api.client.views_open(trigger_id=api.fake.issue_trigger(api.alice), view=view)

    assert api.alice.modal is not None and api.alice.modal.id == opened["view"]["id"]


async def test_trigger_ids_expire_are_single_use_and_must_be_issued(api: Api) -> None:
    view = comment_modal("{}")
    expired = api.fake.issue_trigger(api.alice)
    api.fake.clock.advance(3.1)
    fresh = api.fake.issue_trigger(api.alice)

    errors = []
    for trigger in (expired, "123.456.forged"):
        with pytest.raises(SlackApiError) as failed:
            await api.client.views_open(trigger_id=trigger, view=view)
        errors.append(failed.value.response["error"])
    await api.client.views_open(trigger_id=fresh, view=view)
    with pytest.raises(SlackApiError) as reused:
        await api.client.views_open(trigger_id=fresh, view=view)

    assert errors == ["expired_trigger_id", "invalid_trigger_id"]
    assert reused.value.response["error"] == "exchanged_trigger_id"


async def test_injected_429_raises_without_retry_handler(api: Api) -> None:
    api.fake.fail_next("chat.postMessage", "ratelimited", retry_after=7)

    with pytest.raises(SlackApiError) as limited:
        await api.client.chat_postMessage(channel=api.alice.id, text="hello")
    await api.client.chat_postMessage(channel=api.alice.id, text="hello again")

    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "7"
    assert [m.text for m in api.alice.messages] == ["hello again"]


async def test_injected_429_is_retried_by_rate_limit_retry_handler(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler sleeps Retry-After + random() seconds; pin the jitter to keep this fast.
    monkeypatch.setattr(builtin_async_handlers, "random", SimpleNamespace(random=lambda: 0.0))
    client = api.client_with(retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    api.fake.fail_next("chat.postMessage", "ratelimited", times=2, retry_after=0)

    response = await client.chat_postMessage(channel=api.alice.id, text="eventually")

    assert response["ok"] is True
    assert [c.status for c in api.fake.calls_to("chat.postMessage")] == [429, 429, 200]
    assert [m.text for m in api.alice.messages] == ["eventually"]


@pytest.mark.parametrize(
    ("error", "status"),
    [("internal_error", 500), ("account_inactive", 200), ("channel_not_found", 200)],
)
async def test_injected_failures(api: Api, error: str, status: int) -> None:
    api.fake.fail_next("chat.update", error, times=2)
    posted = await api.client.chat_postMessage(channel=api.alice.id, text="v1")

    for _ in range(2):
        with pytest.raises(SlackApiError) as failed:
            await api.client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v2")
        assert (failed.value.response.status_code, failed.value.response["error"]) == (
            status,
            error,
        )
    await api.client.chat_update(channel=posted["channel"], ts=posted["ts"], text="v2")

    assert api.alice.messages[0].text == "v2"


async def test_switchable_rate_limiting_per_channel(api: Api) -> None:
    bob = api.fake.create_user("bob")
    api.fake.enable_rate_limiting(per_channel_per_second=1.0, burst=2)

    await api.client.chat_postMessage(channel=api.alice.id, text="1")
    await api.client.chat_postMessage(channel=api.alice.id, text="2")
    with pytest.raises(SlackApiError) as limited:
        await api.client.chat_postMessage(channel=api.alice.id, text="3")
    await api.client.chat_postMessage(channel=bob.id, text="other channel")
    api.fake.clock.advance(1.0)
    await api.client.chat_postMessage(channel=api.alice.id, text="3 again")
    api.fake.disable_rate_limiting()
    for i in range(5):
        await api.client.chat_postMessage(channel=api.alice.id, text=f"burst {i}")

    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "1"
    assert [m.text for m in api.alice.messages][:3] == ["1", "2", "3 again"]


async def test_deactivated_and_deleted_users(api: Api) -> None:
    bob = api.fake.create_user("bob")
    api.fake.deactivate_user(api.alice.id)
    api.fake.delete_user(bob.id)

    info = await api.client.users_info(user=api.alice.id)
    failures: dict[str, str] = {}
    calls: dict[str, Callable[[], Any]] = {
        "alice post": lambda: api.client.chat_postMessage(
            channel=api.alice.dm.id, text="hi"
        ),
        "alice open": lambda: api.client.conversations_open(users=api.alice.id),
        "bob info": lambda: api.client.users_info(user=bob.id),
        "bob post": lambda: api.client.chat_postMessage(channel=bob.dm.id, text="hi"),
    }
    for name, call in calls.items():
        with pytest.raises(SlackApiError) as failed:
            await call()
        failures[name] = failed.value.response["error"]

    assert info["user"]["deleted"] is True
    assert failures == {
        "alice post": "account_inactive",
        "alice open": "account_inactive",
        "bob info": "user_not_found",
        "bob post": "channel_not_found",
    }


async def test_files_upload_v2_delivers_the_export(api: Api) -> None:
    response = await api.client.files_upload_v2(
        channel=api.alice.dm.id,
        content="statement,median\n1,7\n",
        filename="round1.csv",
        title="Round 1 results",
        initial_comment="Your export is ready",
    )

    file = await api.alice.wait_until(lambda: next(iter(api.alice.files), None), what="a file")
    assert response["file"]["id"] == file.id
    assert file.content == b"statement,median\n1,7\n"
    assert (file.filename, file.title) == ("round1.csv", "Round 1 results")
    message = await api.alice.wait_for_message(lambda m: bool(m.files))
    assert message.text == "Your export is ready"
    assert [c.method for c in api.fake.calls] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]


async def test_chat_post_ephemeral_and_update_errors(api: Api) -> None:
    bob = api.fake.create_user("bob")
    await api.client.chat_postEphemeral(
        channel=api.alice.dm.id, user=api.alice.id, text="psst"
    )
    with pytest.raises(SlackApiError) as not_member:
        await api.client.chat_postEphemeral(
            channel=api.alice.dm.id, user=bob.id, text="psst"
        )
    with pytest.raises(SlackApiError) as missing:
        await api.client.chat_update(channel=api.alice.dm.id, ts="1.000001", text="x")

    assert (await api.alice.wait_for_ephemeral()).text == "psst"
    assert not_member.value.response["error"] == "user_not_in_channel"
    assert missing.value.response["error"] == "message_not_found"


async def test_every_call_is_recorded_with_params_and_time(api: Api) -> None:
    before = api.fake.clock.now()

    await api.client.chat_postMessage(channel=api.alice.id, text="hello")

    [call] = api.fake.calls
    assert call.method == "chat.postMessage" and call.ok and call.status == 200
    assert call.params["text"] == "hello" and call.channel == api.alice.id
    assert before <= call.at <= api.fake.clock.now()


async def test_wait_for_message_times_out_without_sleeping_forever(api: Api) -> None:
    with pytest.raises(TimeoutError, match="a DM message"):
        await api.alice.wait_for_message(timeout=0.05)
