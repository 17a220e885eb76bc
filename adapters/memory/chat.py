"""Chats in memory: what an expert would see, message by message, with buttons."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.chat.cards import TOAST_LIMIT, Button, Card, Document, Reply
from bot.chat.events import Command, Event, Joined, Pressed, Texted
from bot.chat.ports import Dialogue
from bot.chat.text import spell
from engine.enrolment import PlatformUser

PLATFORM = "memory"
_update_ids = itertools.count(1)


@dataclass
class ShownMessage:
    id: int
    card: Card
    history: list[Card] = field(default_factory=list)  # earlier versions, before edits

    @property
    def first(self) -> Card:
        """The message as it was first shown (e.g. a statement card before it was rated)."""
        return self.history[0] if self.history else self.card


@dataclass
class MemoryChat:
    """One person's private chat with the bot."""

    dialogue: Dialogue
    user_id: str
    name: str = ""
    messages: list[ShownMessage] = field(default_factory=list)
    toasts: list[str] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def who(self) -> PlatformUser:
        return PlatformUser(PLATFORM, self.user_id, self.user_id, self.name or None, None)

    def show(self, cards: list[Card]) -> None:
        for card in cards:
            self.messages.append(ShownMessage(next(self._ids), card))

    async def _handle(self, event: Event, pressed: ShownMessage | None = None) -> Reply:
        reply = await self.dialogue.handle(event)
        if reply.toast:
            self.toasts.append(spell(reply.toast)[:TOAST_LIMIT])
        if reply.edit is not None and pressed is not None:
            pressed.history.append(pressed.card)
            pressed.card = reply.edit
        self.show(reply.send)
        self.documents += reply.documents
        return reply

    async def command(self, name: str, args: str = "") -> Reply:
        if name == "start" and args:
            return await self._handle(Joined(self.who, f"m{next(_update_ids)}", args))
        return await self._handle(Command(self.who, f"m{next(_update_ids)}", name, args))

    async def say(self, text: str) -> Reply:
        return await self._handle(Texted(self.who, f"m{next(_update_ids)}", text))

    def find(self, label: str, message: ShownMessage | None = None) -> tuple[ShownMessage,
                                                                              Button]:
        """The newest button whose label is ``label`` or starts with ``label + ' '``."""
        candidates = [message] if message else reversed(self.messages)
        for shown in candidates:
            for row in shown.card.buttons:
                for button in row:
                    if button.label == label or button.label.startswith(label + " "):
                        return shown, button
        raise LookupError(f"no button {label!r} in {self.user_id}'s chat")

    async def press(self, label: str, message: ShownMessage | None = None) -> Reply:
        shown, button = self.find(label, message)
        return await self.press_data(button.data, shown)

    async def press_data(self, data: str, shown: ShownMessage | None = None) -> Reply:
        return await self._handle(Pressed(self.who, f"m{next(_update_ids)}", data), shown)

    @property
    def last(self) -> Card:
        return self.messages[-1].card

    def transcript(self, as_sent: bool = False) -> str:
        """The chat as the expert sees it now: each message's text and its buttons; with
        ``as_sent``, an edited message as it first arrived, then what it became."""
        parts = []
        for message in self.messages:
            versions = [message.first, message.card] if as_sent and message.history else [
                message.card]
            for index, card in enumerate(versions):
                buttons = " ".join(f"[{b.label}]" for row in card.buttons for b in row)
                label = f"[{message.id}]" if index == 0 else f"[{message.id}, edited]"
                parts.append(f"{label} {card.plain_text()}"
                             + (f"\n    {buttons}" if buttons else ""))
        return "\n\n".join(parts)


class MemoryMessenger:
    """Delivers outbox messages into :class:`MemoryChat` objects by address."""

    platform = PLATFORM

    def __init__(self) -> None:
        self.chats: dict[str, MemoryChat] = {}

    def chat(self, dialogue: Dialogue, user_id: str, name: str = "") -> MemoryChat:
        chat = self.chats.setdefault(user_id, MemoryChat(dialogue, user_id, name))
        return chat

    async def deliver(self, address: str, cards: list[Card],
                      documents: list[Document] | None = None) -> None:
        chat = self.chats[address]
        chat.show(cards)
        chat.documents += documents or []
