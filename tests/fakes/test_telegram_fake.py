"""The Telegram fake, exercised through the real python-telegram-bot stack.

These tests pin down that PTB (requests, de-json, polling, webhook server) works against the
fake unchanged, and that the fake refuses what Telegram refuses, so the adapter tests built
on it can be trusted. Synchronisation is by waiting on the fake's signals, never sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import html
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakes.telegram_api import FakeTelegram, InjectedFailure, running_telegram_fake
from tests.fakes.telegram_markup import EntityParseError, parse_formatted

# Unclosed sessions, sockets or un-awaited coroutines surface as warnings: make them fail.
pytestmark = pytest.mark.filterwarnings("error")

WEBHOOK_SECRET = "s3cret-Token_1"
KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Agree", callback_data="agree"),
      InlineKeyboardButton("Disagree", callback_data="disagree")]]
)


class ManualClock:
    """Stepped by hand, so expiry and flood limits are tested without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Torn down after every other fixture: nothing may still be running by then."""
    yield
    current = asyncio.current_task()
    leftover = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    assert leftover == []


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with running_telegram_fake() as running:
        yield running


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


@contextlib.asynccontextmanager
async def fake_and_bot(**options: Any) -> AsyncIterator[tuple[FakeTelegram, Bot]]:
    """A fake with non-default options and a bare PTB ``Bot`` talking to it."""
    async with running_telegram_fake(**options) as running, Bot(
            running.token, base_url=running.base_url,
            base_file_url=running.base_file_url) as client:
        yield running, client


@pytest.fixture
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns on ``RetryAfter.retry_after`` unless time periods are timedeltas."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    token = context.args[0] if context.args else "none"
    await update.message.reply_text(
        f"Welcome! Invitation <b>{html.escape(token)}</b>. Do you agree?",
        parse_mode="HTML", reply_markup=KEYBOARD)


async def on_button(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(f"Saved: {query.data}")
    await query.edit_message_text(f"You chose {query.data}.")


async def on_error(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    context.bot_data.setdefault("errors", []).append(context.error)


def build_app(fake: FakeTelegram) -> Application:  # type: ignore[type-arg]
    app = (ApplicationBuilder().token(fake.token).base_url(fake.base_url)
           .base_file_url(fake.base_file_url).build())
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CallbackQueryHandler(on_button))
    app.add_error_handler(on_error)  # a handler error fails the test instead of a log line
    return app


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[None]:  # type: ignore[type-arg]
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=dtm.timedelta(seconds=10))
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()
    assert app.bot_data.get("errors", []) == []


@contextlib.asynccontextmanager
async def webhook(app: Application, secret: str) -> AsyncIterator[None]:  # type: ignore[type-arg]
    # A listening socket bound first gives the port before PTB calls setWebhook; PTB's
    # webhook server accepts a ready socket through its ``unix`` parameter.
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_webhook(
                unix=listener, url_path="telegram", secret_token=secret,
                webhook_url=f"http://127.0.0.1:{port}/telegram")
            try:
                yield
            finally:
                await app.updater.stop()
                await app.stop()
    finally:
        listener.close()
    assert app.bot_data.get("errors", []) == []


# ---------------------------------------------------------------------- end to end: polling


async def test_polling_user_starts_and_presses_button(fake: FakeTelegram) -> None:
    async with polling(build_app(fake)):
        alice = fake.create_user("Alice", username="alice")
        sent = alice.start("INV-42")
        prompt = await alice.wait_for_message(since=sent)
        assert prompt.text == "Welcome! Invitation INV-42. Do you agree?"
        assert prompt.entities == [{"type": "bold", "offset": 20, "length": 6}]
        assert prompt.button_texts == ["Agree", "Disagree"]

        query = alice.press_button(prompt, "Agree")
        answered = await query.wait_answered()
        await alice.wait_until(lambda: prompt.edit_count == 1, description="edit")

    assert answered.answer_text == "Saved: agree" and not answered.show_alert
    assert alice.toasts == ["Saved: agree"]
    assert [m.visible_text for m in alice.messages] == ["/start INV-42", "You chose agree."]
    assert prompt.buttons == []  # an edit without reply_markup drops the keyboard
    with pytest.raises(LookupError):
        alice.press_button(prompt, "Agree")
    edit = fake.calls_to("editMessageText")[0]
    assert edit.params == {"chat_id": alice.id, "message_id": prompt.message_id,
                           "text": "You chose agree."}
    assert len(fake.calls_to("getMe")) == 1 and len(fake.calls_to("deleteWebhook")) == 1


async def test_polling_serves_a_panel_of_users(fake: FakeTelegram) -> None:
    panel = fake.create_users(30)
    async with polling(build_app(fake)):
        for n, user in enumerate(panel):
            user.start(f"T{n}")
        prompts = await asyncio.gather(*(user.wait_for_message() for user in panel))
        queries = [user.press_button(prompt, "Disagree")
                   for user, prompt in zip(panel, prompts, strict=True)]
        await asyncio.gather(*(q.wait_answered() for q in queries))
        await asyncio.gather(*(user.wait_for_message(lambda m: m.text == "You chose disagree.")
                               for user in panel))
    for n, (user, prompt) in enumerate(zip(panel, prompts, strict=True)):
        assert prompt.text == "You chose disagree." and prompt.edit_count == 1
        assert user.messages[0].text == f"/start T{n}"
        assert user.toasts == ["Saved: disagree"]


# ---------------------------------------------------------------------- end to end: webhook


async def test_webhook_delivers_updates_with_secret(fake: FakeTelegram, bot: Bot) -> None:
    async with webhook(build_app(fake), WEBHOOK_SECRET):
        assert (fake.webhook.url or "").endswith("/telegram")
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates()
        bob = fake.create_user("Bob")
        prompt = await bob.wait_for_message(since=bob.start("W1"))
        query = bob.press_button(prompt, "Agree")
        await query.wait_answered()
        await bob.wait_until(lambda: prompt.text == "You chose agree.")

    deliveries = fake.webhook_deliveries
    assert [d.status for d in deliveries] == [200, 200]
    assert {d.secret_token for d in deliveries} == {WEBHOOK_SECRET}
    assert deliveries[1].update_id == query.update_id
    assert fake.calls_to("setWebhook")[0].params["secret_token"] == WEBHOOK_SECRET


@pytest.mark.parametrize("sent_secret", ["wrong-secret", None])
async def test_webhook_without_right_secret_is_refused(fake: FakeTelegram,
                                                       sent_secret: str | None) -> None:
    async with webhook(build_app(fake), WEBHOOK_SECRET):
        fake.override_webhook_secret(sent_secret)
        carol = fake.create_user("Carol")
        carol.start("W2")
        delivery = await fake.wait_for_webhook_delivery(1)  # the fake's first update
        assert delivery.status == 403 and delivery.secret_token == sent_secret

        fake.override_webhook_secret(WEBHOOK_SECRET)
        prompt = await carol.wait_for_message(since=carol.start("W3"))
    # the refused update was dropped: only the second /start reached the bot
    assert fake.calls_to("sendMessage")[0].params["chat_id"] == carol.id
    assert len(fake.calls_to("sendMessage")) == 1 and "W3" in prompt.visible_text


async def test_refused_webhook_deliveries_are_retried_then_dropped() -> None:
    async with fake_and_bot(webhook_max_attempts=2, webhook_retry_delay=0.01) as (fake, bot):
        nowhere = f"http://127.0.0.1:{fake.port}/no-such-webhook"
        assert await bot.set_webhook(nowhere, secret_token=WEBHOOK_SECRET)
        ivan = fake.create_user("Ivan")
        ivan.send_text("anyone there?")
        update_id = 1  # the fake's first update
        second = await fake.wait_for_webhook_delivery(update_id, attempt=2)
        assert second.status == 404 and second.secret_token == WEBHOOK_SECRET
        assert second.error is not None and "404" in second.error
        assert [d.status for d in fake.webhook.deliveries_for(update_id)] == [404, 404]

        assert await bot.delete_webhook()
        ivan.send_text("still there?")
        updates = await bot.get_updates(timeout=0)
        assert [u.message.text for u in updates if u.message] == ["still there?"]


# ------------------------------------------------------------------------------ getUpdates


async def test_long_poll_returns_as_soon_as_an_update_arrives(fake: FakeTelegram,
                                                              bot: Bot) -> None:
    dave = fake.create_user("Dave")
    loop = asyncio.get_running_loop()
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_until_polling()
    arrived = loop.time()
    dave.send_text("hello")
    updates = await asyncio.wait_for(poll, timeout=5)
    assert loop.time() - arrived < 1.0
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_get_updates_honours_offset_and_limit(fake: FakeTelegram, bot: Bot) -> None:
    erin = fake.create_user("Erin")
    for text in ("one", "two", "three"):
        erin.send_text(text)
    first = await bot.get_updates(limit=2, timeout=0)
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    again = await bot.get_updates(timeout=0)  # nothing confirmed yet
    assert [u.update_id for u in again] == [first[0].update_id, first[1].update_id,
                                            first[1].update_id + 1]
    rest = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert [u.message.text for u in rest if u.message] == ["three"]
    done = await bot.get_updates(offset=rest[-1].update_id + 1, timeout=0)
    assert done == ()


async def test_newer_get_updates_ends_the_older_long_poll(fake: FakeTelegram, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_until_polling()
    # a second bot instance with the same token (PTB allows one getUpdates per Bot)
    async with Bot(fake.token, base_url=fake.base_url) as second:
        assert await second.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await older


# ------------------------------------------------------------------------ enforced rules


@pytest.fixture
def frank(fake: FakeTelegram) -> int:
    """A user who has started the bot, so it may write to them."""
    return fake.create_user("Frank", started=True).id


async def test_callback_data_is_limited_to_64_bytes(fake: FakeTelegram, bot: Bot,
                                                    frank: int) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("é", callback_data="é" * 32)]])
    await bot.send_message(frank, "64 bytes", reply_markup=ok)
    for data in ("x" * 65, "é" * 33):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("big", callback_data=data)]])
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await bot.send_message(frank, "too much data", reply_markup=markup)
    assert len(fake.user(frank).messages) == 1


async def test_keyboard_size_limits(bot: Bot, frank: int) -> None:
    def keyboard(rows: int, per_row: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton(f"{r}.{c}", callback_data=f"{r}.{c}")
                                      for c in range(per_row)] for r in range(rows)])

    await bot.send_message(frank, "ok", reply_markup=keyboard(12, 8))
    await bot.send_message(frank, "ok", reply_markup=keyboard(10, 10 - 2))
    for rows, per_row in ((1, 9), (13, 8)):
        with pytest.raises(BadRequest, match=r"(?i)buttons_too_much"):
            await bot.send_message(frank, "too many", reply_markup=keyboard(rows, per_row))


async def test_message_and_caption_lengths(fake: FakeTelegram, bot: Bot, frank: int) -> None:
    await bot.send_message(frank, "x" * 4096)
    await bot.send_message(frank, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(frank, "x" * 4097)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(frank, "  \n ")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_document(frank, b"data", filename="a.txt", caption="c" * 1025)
    assert [len(m.visible_text) for m in fake.user(frank).messages] == [4096, 4096]


async def test_edit_to_identical_content_is_not_modified(fake: FakeTelegram, bot: Bot,
                                                         frank: int) -> None:
    sent = await bot.send_message(frank, "Rate statement 1", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Rate statement 1", frank, sent.message_id,
                                    reply_markup=KEYBOARD)
    # the same text without reply_markup is a change: the keyboard goes
    edited = await bot.edit_message_text("Rate statement 1", frank, sent.message_id)
    assert isinstance(edited, type(sent)) and edited.reply_markup is None
    assert fake.user(frank).message(sent.message_id).button_texts == []
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("gone", frank, 999)


async def test_answering_a_query_twice_is_too_old(fake: FakeTelegram, bot: Bot,
                                                  frank: int) -> None:
    sent = await bot.send_message(frank, "Vote", reply_markup=KEYBOARD)
    query = fake.user(frank).press_button(sent.message_id, data="agree")
    assert await bot.answer_callback_query(query.id, "Thanks")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id, "Thanks again")
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("12345")
    assert query.answer_text == "Thanks"
    assert fake.user(frank).toasts == ["Thanks"]


async def test_failed_calls_are_counted_even_when_calls_are_not_recorded() -> None:
    async with fake_and_bot(record_calls=False) as (fake, bot):
        user = fake.create_user("Hugo", started=True)
        sent = await bot.send_message(user.id, "Vote", reply_markup=KEYBOARD)
        for _ in range(2):
            with pytest.raises(BadRequest, match="Query is too old"):
                await bot.answer_callback_query("12345")
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Vote", user.id, sent.message_id,
                                        reply_markup=KEYBOARD)
        assert fake.calls_to("answerCallbackQuery") == []
        assert {(m, status): n for (m, status, _), n in fake.failed_calls.items()} == {
            ("answerCallbackQuery", 400): 2, ("editMessageText", 400): 1}
        assert all("query is too old" in d or "not modified" in d
                   for _, _, d in fake.failed_calls)


async def test_an_unanswered_query_expires() -> None:
    clock = ManualClock()
    async with fake_and_bot(clock=clock, callback_query_ttl=15) as (fake, bot):
        user = fake.create_user("Gina", started=True)
        sent = await bot.send_message(user.id, "Vote", reply_markup=KEYBOARD)
        query = user.press_button(sent.message_id, "Agree")
        clock.now += 16
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query.id)
        assert not query.answered


@pytest.mark.usefixtures("timedelta_periods")
async def test_injected_flood_control_raises_retry_after(fake: FakeTelegram, bot: Bot,
                                                         frank: int) -> None:
    other = fake.create_user("Hana", started=True).id
    fake.inject_failure(InjectedFailure.flood(retry_after=1), method="sendMessage",
                        chat_id=frank, times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(frank, "hi")
        assert caught.value.retry_after == dtm.timedelta(seconds=1)
        await bot.send_message(other, "unaffected")
    await bot.send_message(frank, "third time lucky")
    assert [c.status for c in fake.calls_to("sendMessage")] == [429, 200, 429, 200, 200]


@pytest.mark.parametrize("failure", [InjectedFailure.server_error(),
                                     InjectedFailure.bad_gateway()])
async def test_injected_server_errors_raise_network_error(
        fake: FakeTelegram, bot: Bot, frank: int, failure: InjectedFailure) -> None:
    fake.inject_failure(failure, method="sendMessage")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(frank, "hi")
    assert not isinstance(caught.value, BadRequest)
    await bot.send_message(frank, "recovered")


@pytest.mark.usefixtures("timedelta_periods")
async def test_rate_limits_per_chat_and_overall() -> None:
    clock = ManualClock()
    async with fake_and_bot(clock=clock) as (fake, bot):
        users = [fake.create_user(started=True).id for _ in range(4)]
        fake.rate_limits.enable(global_per_second=3, per_chat_per_second=1)
        await bot.send_message(users[0], "first")
        with pytest.raises(RetryAfter) as per_chat:
            await bot.send_message(users[0], "too fast for one chat")
        assert per_chat.value.retry_after == dtm.timedelta(seconds=1)
        await bot.send_message(users[1], "b")
        await bot.send_message(users[2], "c")
        with pytest.raises(RetryAfter):
            await bot.send_message(users[3], "too fast overall")
        clock.now += 1.0
        await bot.send_message(users[3], "after a second")
        await bot.send_message(users[0], "after a second")


async def test_blocked_and_never_started_users_are_forbidden(fake: FakeTelegram, bot: Bot,
                                                             frank: int) -> None:
    fake.user(frank).block_bot()
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(frank, "hello?")
    stranger = fake.create_user("Stranger")
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "hello?")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "hello?")


async def test_html_parse_mode_rejects_broken_markup(fake: FakeTelegram, bot: Bot,
                                                     frank: int) -> None:
    for text in ("<b>unclosed", "1 < 2", "<x>y</x>", "<b>a</i>"):
        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(frank, text, parse_mode="HTML")
    statement = "Use 1-9 (median ≥ 7). Stop? [yes] *really* 50% <b> & _more_!"
    await bot.send_message(frank, html.escape(statement, quote=False), parse_mode="HTML")
    await bot.send_message(frank, "👍 <b>yes</b> &amp; <blockquote>quoted</blockquote>",
                           parse_mode="HTML")
    seen = fake.user(frank).messages
    assert seen[0].text == statement and seen[0].entities == []
    assert seen[1].text == "👍 yes & quoted"
    assert seen[1].entities == [{"type": "bold", "offset": 3, "length": 3},
                                {"type": "blockquote", "offset": 9, "length": 6}]


async def test_what_the_fake_does_not_model_is_refused_by_name(bot: Bot, frank: int) -> None:
    for text, mode in (("*bold*", "MarkdownV2"), ("*bold*", "Markdown"),
                       ("<a href='https://x.org'>x</a>", "HTML"),
                       ("<blockquote expandable>x</blockquote>", "HTML")):
        with pytest.raises(BadRequest, match="not modelled by the fake"):
            await bot.send_message(frank, text, parse_mode=mode)
    link = InlineKeyboardMarkup([[InlineKeyboardButton("site", url="https://x.org")]])
    with pytest.raises(BadRequest, match="not modelled by the fake"):
        await bot.send_message(frank, "link", reply_markup=link)


# ----------------------------------------------------------------- files, commands, misc


async def test_documents_and_photos_are_uploaded(fake: FakeTelegram, bot: Bot,
                                                 frank: int) -> None:
    report = b"statement,median\nS1,8\n"
    sent = await bot.send_document(frank, report, filename="round1.csv",
                                   caption="<i>Round 1</i> results", parse_mode="HTML")
    assert sent.document is not None and sent.document.file_name == "round1.csv"
    assert sent.caption == "Round 1 results"
    photo = await bot.send_photo(frank, b"\x89PNG fake", caption="chart")
    assert photo.photo and photo.photo[-1].file_size == 9

    user = fake.user(frank)
    assert [(d.file_name, d.mime_type, d.data) for d in user.documents] == [
        ("round1.csv", "text/csv", report)]
    assert [p.data for p in user.photos] == [b"\x89PNG fake"]
    upload = fake.calls_to("sendDocument")[0].files["document"]
    assert upload.filename == "round1.csv"


async def test_the_command_menu_is_validated(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Join a study"), ("help", "What can I do")])
    assert fake.commands[0] == {"command": "start", "description": "Join a study"}
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Start!", "bad name")])
    assert [c["command"] for c in fake.commands] == ["start", "help"]


async def test_unknown_method_and_wrong_token(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")
    async with httpx.AsyncClient() as client:
        # a real method the bot never calls is unknown to the fake, like a typo
        response = await client.post(f"{fake.base_url}{fake.token}/deleteMessage")
        assert response.status_code == 404
        response = await client.post(f"{fake.base_url}{fake.token}/sendTelepathy")
        assert response.status_code == 404
        assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        response = await client.post(f"{fake.base_url}123:wrong/getMe")
        assert response.status_code == 401


# --------------------------------------------------------------------- parser properties


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_escaped_html_round_trips(text: str) -> None:
    parsed = parse_formatted(html.escape(text, quote=False), "HTML")
    assert parsed.text == text.strip(" \t\r\n\v\f") and parsed.entities == ()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="<>/&;#biquotepr \n"))
def test_html_parser_never_crashes(text: str) -> None:
    try:
        parsed = parse_formatted(text, "HTML")
    except EntityParseError as exc:
        assert str(exc).startswith("can't parse entities: ")
    else:
        for entity in parsed.entities:
            assert entity["offset"] >= 0 and entity["length"] > 0
