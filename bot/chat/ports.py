"""The two sides of the seam between a messenger adapter and the core.

An adapter hands every event to a :class:`Dialogue` and renders the reply; the core delivers
queued messages through the adapter as a :class:`Messenger`.
"""

from __future__ import annotations

from typing import Protocol

from bot.chat.cards import Card, Document, Reply
from bot.chat.events import Event
from engine.enrolment import PlatformUser


class DeliveryError(Exception):
    """Sending failed. ``permanent``: the recipient cannot be reached (blocked the bot,
    deactivated); otherwise retry, after ``retry_after`` seconds when the platform said so."""

    def __init__(self, reason: str, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


class Messenger(Protocol):
    platform: str

    async def deliver(self, address: str, cards: list[Card],
                      documents: list[Document] | None = None) -> None:
        """Send ``cards`` (then ``documents``) to a chat; raise DeliveryError on failure."""
        ...


class Adapter(Messenger, Protocol):
    """A running messenger connection: receives updates, delivers the outbox."""

    async def start(self) -> None:
        """Connect and begin receiving updates (polling, webhook, HTTP or socket)."""
        ...

    async def stop(self) -> None:
        """Stop receiving, finish in-flight work, release connections."""
        ...

    def invite_form(self, token: str) -> str:
        """How an expert on this platform redeems an invite (a link or a command)."""
        ...


class Dialogue(Protocol):
    """What an adapter hands its events to (the conductor, in every deployment)."""

    @property
    def title(self) -> str:
        """The study's title, for a platform's home view."""
        ...

    async def handle(self, event: Event) -> Reply:
        """Decide and commit; the reply is rendered only after the commit."""
        ...

    async def home(self, who: PlatformUser) -> Card:
        """The card a platform's home view shows ``who``."""
        ...
