"""What the core needs from a messenger adapter to deliver queued messages."""

from __future__ import annotations

from typing import Protocol

from bot.chat.cards import Card, Document


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
