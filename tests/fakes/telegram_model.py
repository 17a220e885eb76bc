"""Chats, messages and simulated users of the Telegram fake.

A test reads a chat the way a panel member would: the messages currently shown (edits
applied, deleted ones gone), the buttons under each, the toasts shown after pressing a
button, the files received. Everything here is synchronous state mutation so that it is
atomic inside the fake's event loop; waiting is done with :class:`Signal`, never by sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tests.fakes.telegram_markup import Entity, command_entities

T = TypeVar("T")
JsonDict = dict[str, Any]


class Signal:
    """Wakes every coroutine waiting at the moment :meth:`notify` is called.

    One signal per chat (not one global one) keeps benchmarks with hundreds of simulated
    users linear: a new message wakes only the waiters interested in that chat.
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, limit: float | None) -> bool:
        """Wait for the next notification; ``False`` if ``limit`` seconds passed first."""
        event = self._event
        if limit is None:
            await event.wait()
            return True
        try:
            async with asyncio.timeout(limit):
                await event.wait()
        except TimeoutError:
            return False
        return True


async def wait_for(signal: Signal, probe: Callable[[], T | None], *, limit: float,
                   describe: Callable[[], str]) -> T:
    """Re-run ``probe`` after every notification until it returns something not ``None``.

    Raises :class:`TimeoutError` carrying ``describe()`` so a failing test shows the state it
    was looking at (for a user: the whole chat transcript).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        found = probe()
        if found is not None:
            return found
        remaining = deadline - loop.time()
        if remaining <= 0 or not await signal.wait(remaining):
            found = probe()
            if found is not None:
                return found
            raise TimeoutError(f"timed out after {limit:g}s: {describe()}")


@dataclass(frozen=True)
class InlineButton:
    """One inline keyboard button as the user sees it."""

    text: str
    callback_data: str

    @classmethod
    def from_api(cls, button: JsonDict) -> InlineButton:
        return cls(str(button.get("text", "")), str(button["callback_data"]))


@dataclass(frozen=True)
class StoredFile:
    """A file the bot uploaded, as the user received it."""

    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def as_document(self) -> JsonDict:
        document: JsonDict = {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                              "file_size": self.size}
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        return document

    def as_photo_sizes(self) -> list[JsonDict]:
        """The fake does not decode images; the dimensions are nominal."""
        return [{"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                 "width": 320, "height": 320, "file_size": self.size}]



@dataclass(eq=False)
class ChatMessage:
    """A message in a private chat, kept current: edits change it in place."""

    message_id: int
    chat: JsonDict
    sender: JsonDict
    from_bot: bool
    date: int
    text: str | None = None
    entities: list[Entity] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[Entity] = field(default_factory=list)
    reply_markup: JsonDict | None = None
    document: StoredFile | None = None
    photo: StoredFile | None = None
    edit_date: int | None = None
    edit_count: int = 0

    def to_api(self) -> JsonDict:
        """The Bot API ``Message`` object."""
        message: JsonDict = {"message_id": self.message_id, "from": self.sender,
                             "chat": self.chat, "date": self.date}
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        if self.text is not None:
            message["text"] = self.text
            if self.entities:
                message["entities"] = self.entities
        if self.document is not None:
            message["document"] = self.document.as_document()
        if self.photo is not None:
            message["photo"] = self.photo.as_photo_sizes()
        if self.caption:
            message["caption"] = self.caption
            if self.caption_entities:
                message["caption_entities"] = self.caption_entities
        if self.reply_markup is not None:
            message["reply_markup"] = self.reply_markup
        return message

    @property
    def visible_text(self) -> str:
        """Text or caption, whichever the message shows."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def buttons(self) -> list[list[InlineButton]]:
        """The inline keyboard, row by row (empty when there is none)."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [[InlineButton.from_api(button) for button in row] for row in rows]

    @property
    def button_texts(self) -> list[str]:
        return [button.text for row in self.buttons for button in row]

    def find_button(self, text: str | None = None, *, data: str | None = None) -> InlineButton:
        """The button with this label (or callback data); ``LookupError`` lists what exists."""
        for row in self.buttons:
            for button in row:
                if (text is None or button.text == text) and (
                    data is None or button.callback_data == data
                ):
                    return button
        raise LookupError(f"no button text={text!r} data={data!r} on message "
                          f"{self.message_id}; buttons: {self.button_texts}")


@dataclass(eq=False)
class CallbackQueryRecord:
    """A button press and what became of it; a query can be answered once, before expiry."""

    id: str
    user_id: int
    message_id: int
    data: str
    created_at: float  # fake's monotonic clock
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False
    update_id: int = 0  # of the callback_query update the press created
    _answered_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def mark_answered(self, text: str | None, show_alert: bool) -> None:
        self.answered, self.answer_text, self.show_alert = True, text, show_alert
        self._answered_event.set()

    # The public waits take ``timeout=`` like asyncio.wait_for: tests read better that way.
    async def wait_answered(self, timeout: float = 5.0) -> CallbackQueryRecord:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                await self._answered_event.wait()
        except TimeoutError:
            raise TimeoutError(f"callback query {self.id} (data={self.data!r}) was not "
                               f"answered within {timeout:g}s") from None
        return self


def media_payload(kind: str, owner: int) -> JsonDict:
    """The Bot API fields of a non-text message of ``kind`` (nominal ids and sizes)."""
    file = {"file_id": f"{kind}-{owner}", "file_unique_id": f"u-{kind}-{owner}",
            "file_size": 1234}
    shapes: dict[str, JsonDict] = {
        "photo": {"photo": [{**file, "width": 90, "height": 90}]},
        "sticker": {"sticker": {**file, "type": "regular", "width": 512, "height": 512,
                                "is_animated": False, "is_video": False, "emoji": "👍"}},
        "voice": {"voice": {**file, "duration": 3, "mime_type": "audio/ogg"}},
        "audio": {"audio": {**file, "duration": 30}},
        "video": {"video": {**file, "width": 64, "height": 64, "duration": 2}},
        "video_note": {"video_note": {**file, "length": 64, "duration": 2}},
        "document": {"document": {**file, "file_name": "notes.pdf",
                                  "mime_type": "application/pdf"}},
        "location": {"location": {"latitude": 52.52, "longitude": 13.405}},
        "contact": {"contact": {"phone_number": "+4930123456", "first_name": "Ann",
                                "user_id": owner}},
    }
    return shapes[kind]


class GroupChat:
    """A group or supergroup the bot is a member of: people write there, forward the bot's
    cards there and press their buttons there; what the bot posts there is kept."""

    def __init__(self, host: UserHost, chat_id: int, title: str, kind: str) -> None:
        self._host = host
        self.id = chat_id
        self.chat = PrivateChat({"id": chat_id, "type": kind, "title": title})

    @property
    def bot_messages(self) -> list[ChatMessage]:
        return [message for message in self.chat if message.from_bot]

    def send_text(self, user: SimulatedUser, text: str) -> ChatMessage:
        message = ChatMessage(
            message_id=self.chat.next_message_id(), chat=self.chat.api_chat,
            sender=user.as_api_user(), from_bot=False, date=int(time.time()), text=text,
            entities=command_entities(text))
        self.chat.add(message)
        self._host.push_update("message", message.to_api())
        return message

    def forward(self, user: SimulatedUser, original: ChatMessage) -> ChatMessage:
        """``user`` forwards a bot message (keyboard included) into this group."""
        message = ChatMessage(
            message_id=self.chat.next_message_id(), chat=self.chat.api_chat,
            sender=user.as_api_user(), from_bot=False, date=int(time.time()),
            text=original.text, entities=list(original.entities),
            reply_markup=original.reply_markup)
        self.chat.add(message)
        return message

    def press_button(self, user: SimulatedUser, message: ChatMessage,
                     text: str) -> CallbackQueryRecord:
        """``user`` presses a button of ``message`` in this group."""
        button = message.find_button(text)
        query = self._host.register_callback_query(user, message, button.callback_data)
        query.update_id = self._host.push_update("callback_query", {
            "id": query.id, "from": user.as_api_user(), "message": message.to_api(),
            "chat_instance": f"ci-group-{self.id}", "data": button.callback_data})
        return query


class UserHost(Protocol):
    """What a simulated user needs from the fake server (kept narrow on purpose)."""

    @property
    def bot_user(self) -> JsonDict: ...

    def push_update(self, kind: str, payload: JsonDict) -> int: ...

    def register_callback_query(self, user: SimulatedUser, message: ChatMessage,
                                data: str) -> CallbackQueryRecord: ...


class PrivateChat:
    """Messages of one user-bot chat, indexed by id; insertion order is display order."""

    def __init__(self, chat: JsonDict) -> None:
        self.api_chat = chat
        self.changed = Signal()
        self._messages: dict[int, ChatMessage] = {}
        self._last_id = 0

    def next_message_id(self) -> int:
        self._last_id += 1
        return self._last_id

    def add(self, message: ChatMessage) -> None:
        self._messages[message.message_id] = message
        self.changed.notify()

    def get(self, message_id: int) -> ChatMessage | None:
        return self._messages.get(message_id)

    def __iter__(self) -> Iterator[ChatMessage]:
        return iter(self._messages.values())

    def __len__(self) -> int:
        return len(self._messages)


class SimulatedUser:
    """A panel member with a private chat with the bot.

    Actions (``send_text``, ``start``, ``press_button``) are synchronous: they put an update in
    the fake's queue (delivered by ``getUpdates`` or the webhook) and return at once, so tests
    can drive hundreds of users without spawning tasks. Reading is synchronous too; waiting
    for the bot uses :meth:`wait_for_message` / :meth:`wait_until`.
    """

    def __init__(self, host: UserHost, user_id: int, first_name: str, *,
                 username: str | None = None, last_name: str | None = None,
                 language_code: str | None = "en", started: bool = False) -> None:
        self._host = host
        self.id = user_id
        self.first_name = first_name
        self.username = username
        self.last_name = last_name
        self.language_code = language_code
        #: the bot may only write to users who have talked to it first
        self.has_started = started
        #: a user who blocked the bot makes every send answer 403
        self.blocked = False
        self.chat = PrivateChat(self._api_chat())
        self._queries: list[CallbackQueryRecord] = []

    def __repr__(self) -> str:
        return f"SimulatedUser(id={self.id}, first_name={self.first_name!r})"

    # identity ------------------------------------------------------------------------------

    def as_api_user(self) -> JsonDict:
        user: JsonDict = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def _api_chat(self) -> JsonDict:
        chat: JsonDict = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    @property
    def chat_id(self) -> int:
        return self.id

    # actions -------------------------------------------------------------------------------

    def send_text(self, text: str) -> ChatMessage:
        """Type and send a message; commands in it get ``bot_command`` entities."""
        message = ChatMessage(
            message_id=self.chat.next_message_id(), chat=self.chat.api_chat,
            sender=self.as_api_user(), from_bot=False, date=int(time.time()), text=text,
            entities=command_entities(text),
        )
        self.has_started = True
        self.blocked = False  # writing to a blocked bot unblocks it in the apps
        self.chat.add(message)
        self._host.push_update("message", message.to_api())
        return message

    def send_media(self, kind: str, caption: str | None = None) -> ChatMessage:
        """Send something that is not text: ``photo``, ``sticker``, ``voice``, ``location``,
        ``document``, ``contact``, ``video``, ``audio`` or ``video_note`` (with an optional
        caption where Telegram allows one). Returns the message as the user sees it."""
        message = ChatMessage(
            message_id=self.chat.next_message_id(), chat=self.chat.api_chat,
            sender=self.as_api_user(), from_bot=False, date=int(time.time()),
            caption=caption)
        self.has_started = True
        self.chat.add(message)
        payload = message.to_api()
        payload.update(media_payload(kind, self.id))
        self._host.push_update("message", payload)
        return message

    def send_command(self, command: str, *args: str) -> ChatMessage:
        """``send_command("start", "TOKEN")`` sends ``/start TOKEN``."""
        return self.send_text(" ".join([f"/{command.lstrip('/')}", *args]))

    def start(self, payload: str | None = None) -> ChatMessage:
        """What opening a ``t.me/bot?start=PAYLOAD`` deep link sends."""
        return self.send_command("start", *([payload] if payload else []))

    def press_button(self, message: ChatMessage | int, text: str | None = None, *,
                     data: str | None = None) -> CallbackQueryRecord:
        """Press an inline button on a bot message currently in the chat.

        The button is looked up in the message's *current* keyboard, so pressing a button
        the bot has since removed fails like it would for a human (``LookupError``).
        """
        message_id = message if isinstance(message, int) else message.message_id
        current = self.chat.get(message_id)
        if current is None or not current.from_bot:
            raise LookupError(f"message {message_id} from the bot is not in {self}'s chat")
        button = current.find_button(text, data=data)
        query = self._host.register_callback_query(self, current, button.callback_data)
        self._queries.append(query)
        query.update_id = self._host.push_update("callback_query", {
            "id": query.id, "from": self.as_api_user(), "message": current.to_api(),
            "chat_instance": f"ci-{self.id}", "data": button.callback_data,
        })
        return query

    def block_bot(self) -> None:
        self.blocked = True

    # what the human sees -------------------------------------------------------------------

    @property
    def messages(self) -> list[ChatMessage]:
        """Every message currently in the chat, oldest first, edits applied."""
        return list(self.chat)

    @property
    def bot_messages(self) -> list[ChatMessage]:
        return [message for message in self.chat if message.from_bot]

    @property
    def last_bot_message(self) -> ChatMessage | None:
        for message in reversed(self.messages):
            if message.from_bot:
                return message
        return None

    def message(self, message_id: int) -> ChatMessage:
        found = self.chat.get(message_id)
        if found is None:
            raise LookupError(f"message {message_id} is not in {self}'s chat")
        return found

    @property
    def callback_queries(self) -> list[CallbackQueryRecord]:
        return list(self._queries)

    @property
    def toasts(self) -> list[str]:
        """Texts shown after button presses (notifications and alerts), in press order."""
        return [query.answer_text for query in self._queries if query.answer_text]

    @property
    def documents(self) -> list[StoredFile]:
        return [message.document for message in self.chat if message.document is not None]

    @property
    def photos(self) -> list[StoredFile]:
        return [message.photo for message in self.chat if message.photo is not None]

    def transcript(self) -> str:
        """The chat as text, for assertion messages and debugging."""
        lines = [f"chat of {self.first_name} (id {self.id}):"]
        for message in self.chat:
            who = "bot" if message.from_bot else "user"
            extra = " (edited)" if message.edit_count else ""
            if message.document is not None:
                extra += f" [document {message.document.file_name}]"
            if message.photo is not None:
                extra += " [photo]"
            buttons = " | ".join(" ".join(f"[{b.text}]" for b in row) for row in message.buttons)
            lines.append(f"  #{message.message_id} {who}{extra}: {message.visible_text!r}"
                         + (f"  {buttons}" if buttons else ""))
        return "\n".join(lines)

    # waiting -------------------------------------------------------------------------------

    async def wait_for_message(self, predicate: Callable[[ChatMessage], bool] | None = None, *,
                               since: ChatMessage | int | None = None,
                               timeout: float = 5.0) -> ChatMessage:  # noqa: ASYNC109
        """The earliest bot message in the chat that matches ``predicate`` (edits count),
        waiting for it to appear if needed.

        ``since`` (a message or message id, typically what the user just sent) restricts the
        search to newer messages, so a repeated prompt is not mistaken for an earlier one.
        """
        after = since.message_id if isinstance(since, ChatMessage) else (since or 0)

        def probe() -> ChatMessage | None:
            for message in self.chat:
                if message.from_bot and message.message_id > after and (
                    predicate is None or predicate(message)
                ):
                    return message
            return None

        return await wait_for(self.chat.changed, probe, limit=timeout,
                              describe=lambda: "no matching bot message\n" + self.transcript())

    async def wait_until(self, condition: Callable[[], bool], *,
                         timeout: float = 5.0,  # noqa: ASYNC109
                         description: str = "condition") -> None:
        """Wait until ``condition()`` holds; it is re-checked whenever this chat changes
        (new message, edit, deletion, answered button press)."""
        await wait_for(self.chat.changed, lambda: True if condition() else None,
                       limit=timeout, describe=lambda: f"{description}\n{self.transcript()}")
