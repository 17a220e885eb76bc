"""Telegram <-> conductor: parse updates into neutral events, render replies.

Nothing here decides anything about the study. Order of work for every update: the
conductor commits first, only then is the callback query answered ("recorded") and
the reply rendered, so an expert never sees "recorded" for a rating that was lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import BotCommand, CallbackQuery, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from adapters.telegram.render import render
from adapters.telegram.settings import TelegramSection
from bot.chat.cards import TOAST_LIMIT, Card, Document, Reply
from bot.chat.events import Attached, Command, Event, Joined, Pressed, Texted
from bot.chat.ports import DeliveryError, Dialogue
from bot.chat.text import spell
from engine.enrolment import PlatformUser

log = logging.getLogger(__name__)
CAPTION_LIMIT = 1024  # Telegram's photo caption limit (characters)

COMMANDS = [
    ("ballot", "Continue your ballot"),
    ("progress", "How far you are in this round"),
    ("help", "What the bot can do"),
    ("withdraw", "Leave the study"),
    ("timezone", "Set your time zone, e.g. /timezone Europe/Berlin"),
    ("ask", "A question for the study coordinators"),
    ("whoami", "Your Telegram user id"),
]
PRIVATE_ONLY = "Please talk to me in a private chat, so that your answers stay private."
SORRY = ("Sorry, something went wrong on our side. Nothing you already saw as recorded is "
         "lost; please try again, or send /ballot.")
SORRY_PRESS = "Something went wrong on our side. Please tap again (a rating never counts twice)."
HARMLESS = ("message is not modified", "query is too old", "query id is invalid")
# httpcore scans its whole connection pool on every request, so PTB's default of 256
# connections costs more CPU than it saves; 16 keeps up with Telegram's own limits.
CONNECTION_POOL = 16


class PerUserOrder(BaseUpdateProcessor):
    """Different experts are served concurrently; one expert's updates stay in order."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}

    async def do_process_update(self, update: object,
                                coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        key = user.id if user is not None else 0
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                await coroutine
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up: locks are made on demand."""

    async def shutdown(self) -> None:
        """Nothing to release."""


def _harmless(error: TelegramError) -> bool:
    return any(text in str(error).lower() for text in HARMLESS)


def _in_own_private_chat(update: Update) -> bool:
    """A press counts only on a card in the presser's own private chat with the bot: a
    card forwarded into a group, or an inline message, has no chat of that person."""
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    return (query is not None and isinstance(query.message, Message) and user is not None
            and chat is not None and chat.type == "private" and chat.id == user.id)


def platform_user(update: Update) -> PlatformUser | None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return None
    return PlatformUser("telegram", str(user.id), str(chat.id), user.full_name, user.username)


ATTACHMENT_KINDS = (("photo", "photo"), ("sticker", "sticker"), ("voice", "voice note"),
                    ("video_note", "video note"), ("animation", "animation"),
                    ("video", "video"), ("audio", "audio file"), ("document", "document"),
                    ("venue", "venue"), ("location", "location"), ("contact", "contact"),
                    ("poll", "poll"), ("dice", "dice"), ("game", "game"), ("story", "story"))


def attachment_kind(message: Message) -> str:
    """What a non-text message carries, in words for the answer ("voice note")."""
    for attribute, name in ATTACHMENT_KINDS:
        if getattr(message, attribute, None):
            return name
    return "message of this kind"


def parse_command(text: str) -> tuple[str, str]:
    """``/start@delphi_bot abc`` -> ``("start", "abc")``."""
    head, _, args = text.strip().partition(" ")
    return head.lstrip("/").split("@", 1)[0].lower(), args.strip()


class TelegramAdapter:
    platform = "telegram"

    def __init__(self, dialogue: Dialogue, settings: TelegramSection,
                 rate_limit: bool | None = None) -> None:
        self.dialogue = dialogue
        self.settings = settings
        builder = (ApplicationBuilder().token(settings.token.get_secret_value())
                   .concurrent_updates(PerUserOrder())
                   .connection_pool_size(CONNECTION_POOL))
        if settings.base_url:
            builder = builder.base_url(settings.base_url)
        if settings.base_file_url:
            builder = builder.base_file_url(settings.base_file_url)
        if settings.rate_limit if rate_limit is None else rate_limit:
            builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.app.add_handler(CallbackQueryHandler(self._on_press))
        self.app.add_handler(MessageHandler(filters.COMMAND, self._on_command))
        self.app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self._on_text))
        self.app.add_handler(MessageHandler(
            filters.UpdateType.MESSAGE & ~filters.TEXT & ~filters.COMMAND
            & ~filters.StatusUpdate.ALL, self._on_attachment))
        self.app.add_error_handler(self._on_error)

    # --- lifecycle --------------------------------------------------------------------

    @property
    def username(self) -> str:
        return str(self.app.bot.username)

    def invite_form(self, token: str) -> str:
        return f"https://t.me/{self.username}?start={token}"

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.bot.set_my_commands([BotCommand(n, d) for n, d in COMMANDS])
        updater = self.app.updater
        assert updater is not None
        if self.settings.mode == "webhook":
            await updater.start_webhook(
                listen=self.settings.listen, port=self.settings.port,
                url_path=self._webhook_path(), webhook_url=self.settings.webhook_url,
                secret_token=self.settings.secret_token.get_secret_value(),
                allowed_updates=["message", "callback_query"])
        else:
            await updater.start_polling(poll_interval=0.0, timeout=10,
                                        allowed_updates=["message", "callback_query"])
        await self.app.start()

    def _webhook_path(self) -> str:
        from urllib.parse import urlparse

        return urlparse(self.settings.webhook_url).path.lstrip("/")

    async def stop(self) -> None:
        updater = self.app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    # --- updates -> events --------------------------------------------------------------

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, who = update.effective_message, platform_user(update)
        if message is None or who is None or message.text is None:
            return
        if not await self._private(update):
            return
        name, args = parse_command(message.text)
        key = str(update.update_id)
        event: Event = (Joined(who, key, args) if name == "start" and args
                        else Command(who, key, name, args))
        await self._render(update, event, await self.dialogue.handle(event))

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, who = update.effective_message, platform_user(update)
        if message is None or who is None or message.text is None:
            return
        if not await self._private(update):
            return
        event = Texted(who, str(update.update_id), message.text)
        await self._render(update, event, await self.dialogue.handle(event))

    async def _on_attachment(self, update: Update,
                             context: ContextTypes.DEFAULT_TYPE) -> None:
        """A photo, sticker, voice note, location, document, contact...: answered, never
        silently dropped (a comment must be typed; a caption is not taken for one)."""
        message, who = update.effective_message, platform_user(update)
        if message is None or who is None:
            return
        if not await self._private(update):
            return
        event = Attached(who, str(update.update_id), attachment_kind(message),
                         message.caption or "")
        await self._render(update, event, await self.dialogue.handle(event))

    async def _on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, who = update.callback_query, platform_user(update)
        if query is None:
            return
        if who is None or not _in_own_private_chat(update):
            await self._answer(query, PRIVATE_ONLY, alert=True)
            return
        event = Pressed(who, str(update.update_id), query.data or "")
        await self._render(update, event, await self.dialogue.handle(event))

    async def _private(self, update: Update) -> bool:
        chat = update.effective_chat
        if chat is not None and chat.type != "private":
            await self.app.bot.send_message(chat.id, PRIVATE_ONLY)
            return False
        return True

    @staticmethod
    async def _answer(query: CallbackQuery, text: str | None, alert: bool = False) -> None:
        try:
            await query.answer(text=text and text[:TOAST_LIMIT], show_alert=alert)
        except BadRequest as error:
            if not _harmless(error):
                raise
            log.info("callback answer skipped: %s", error)

    # --- replies -> Telegram ------------------------------------------------------------

    async def _render(self, update: Update, event: Event, reply: Reply) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is not None:
            await self._answer(query, spell(reply.toast or "") or None, reply.alert)
            if reply.edit is not None and isinstance(query.message, Message):
                await self._edit(query.message, reply.edit)
        if chat is not None:
            await self._send(chat.id, reply.send)
            await self._documents(chat.id, reply.documents)

    async def _edit(self, message: Message, card: Card) -> None:
        first = render(card)[0]
        try:
            await message.edit_text(first.text, parse_mode=ParseMode.HTML,
                                    reply_markup=first.markup)
        except BadRequest as error:
            if not _harmless(error):
                raise
            log.info("edit skipped: %s", error)

    async def _send(self, chat_id: int | str, cards: list[Card]) -> None:
        for card in cards:
            if card.image is not None:  # a picture card: one photo, the text as caption
                text = render(card)[0].text if card.heading or card.sections else ""
                caption = text if len(text) <= CAPTION_LIMIT else None
                await self.app.bot.send_photo(chat_id, photo=card.image.content,
                                              filename=card.image.filename, caption=caption,
                                              parse_mode=ParseMode.HTML if caption else None)
                if text and caption is None:
                    await self.app.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
                continue
            for message in render(card):
                await self.app.bot.send_message(chat_id, message.text,
                                                parse_mode=ParseMode.HTML,
                                                reply_markup=message.markup)

    async def _documents(self, chat_id: int | str, documents: list[Document]) -> None:
        for document in documents:
            await self.app.bot.send_document(chat_id, document=document.content,
                                             filename=document.filename,
                                             caption=document.caption or None)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling a Telegram update", exc_info=context.error)
        if isinstance(update, Update):
            await self._apologise(update)

    async def _apologise(self, update: Update) -> None:
        """Nothing is left unanswered, even after a fault of our own: a press gets an alert
        (unless it was answered before the fault), a private message a sentence. Best
        effort; the error is already logged."""
        query, chat = update.callback_query, update.effective_chat
        try:
            if query is not None:
                await query.answer(SORRY_PRESS, show_alert=True)
            elif chat is not None and chat.type == "private":
                await self.app.bot.send_message(chat.id, SORRY)
        except TelegramError as error:
            log.info("apology not delivered: %s", error)

    # --- outbox delivery ------------------------------------------------------------

    async def deliver(self, address: str, cards: list[Card],
                      documents: list[Document] | None = None) -> None:
        if not address.isascii() or not address.isdigit():  # groups have negative ids
            raise DeliveryError(f"telegram: {address!r} is not a private chat", permanent=True)
        try:
            await self._send(int(address), cards)
            await self._documents(int(address), documents or [])
        except Forbidden as error:
            raise DeliveryError(str(error), permanent=True) from error
        except RetryAfter as error:
            retry = error.retry_after
            seconds = retry if isinstance(retry, int | float) else retry.total_seconds()
            raise DeliveryError(str(error), retry_after=float(seconds)) from error
        except BadRequest as error:
            permanent = "chat not found" in str(error).lower()
            raise DeliveryError(str(error), permanent=permanent) from error
        except NetworkError as error:
            raise DeliveryError(str(error)) from error
