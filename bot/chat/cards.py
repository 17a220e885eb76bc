"""Neutral messages: what the conductor says, before any platform formats it.

All text here is plain, unescaped text; each adapter escapes it for its own markup
(Telegram HTML, Slack mrkdwn), so user-written text can never inject formatting,
mentions or links into another expert's chat. Text that names a command is a
:class:`bot.chat.text.Text`, which each adapter spells its own way.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.chat.text import Words, spell, words_from_json, words_to_json

Style = Literal["plain", "bold", "italic", "quote", "mono"]

# The longest message an expert should have to read on a phone (characters). Adapters
# split a longer card into several messages at section boundaries, buttons on the last.
PHONE_LIMIT = 1500
# The longest answer to a button press (Telegram's limit for answerCallbackQuery).
TOAST_LIMIT = 200


@dataclass(frozen=True)
class Section:
    text: Words
    style: Style = "plain"


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # an encoded action, see bot.chat.actions


@dataclass(frozen=True)
class Picture:
    """A PNG sent as a photo (Telegram) or an uploaded file (Slack) with the card's text
    as its caption."""

    filename: str
    content: bytes


@dataclass(frozen=True)
class Card:
    """One message: an optional heading, sections, and rows of buttons; or, with
    ``image``, a picture captioned with that text (no buttons).

    ``chart_round`` asks for the recipient's own picture of that closed round, drawn by
    the outbox dispatcher when the message is sent (it becomes ``image``): drawing takes
    seconds, too long for the transaction that queues the message."""

    sections: tuple[Section, ...]
    buttons: tuple[tuple[Button, ...], ...] = ()
    heading: str | None = None
    image: Picture | None = None
    chart_round: int | None = None

    def plain_text(self) -> str:
        """The card as a person would read it without formatting (for logs and tests)."""
        parts = [self.heading] if self.heading else []
        parts += [spell(s.text) for s in self.sections]
        return "\n\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "heading": self.heading,
            "sections": [[words_to_json(s.text), s.style] for s in self.sections],
            "buttons": [[[b.label, b.data] for b in row] for row in self.buttons],
        }
        if self.image is not None:
            data["image"] = [self.image.filename,
                             base64.b64encode(self.image.content).decode("ascii")]
        if self.chart_round is not None:
            data["chart_round"] = self.chart_round
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Card:
        image = data.get("image")
        return cls(
            heading=data.get("heading"),
            sections=tuple(Section(words_from_json(text), style)
                           for text, style in data["sections"]),
            buttons=tuple(tuple(Button(label, d) for label, d in row)
                          for row in data["buttons"]),
            image=Picture(image[0], base64.b64decode(image[1])) if image else None,
            chart_round=data.get("chart_round"),
        )


def card(*texts: Words | Section, heading: str | None = None,
         buttons: tuple[tuple[Button, ...], ...] = ()) -> Card:
    """Shorthand: strings and Texts become plain sections."""
    sections = tuple(t if isinstance(t, Section) else Section(t) for t in texts)
    return Card(sections=sections, buttons=buttons, heading=heading)


@dataclass(frozen=True)
class Document:
    filename: str
    content: bytes
    caption: str = ""


@dataclass(frozen=True)
class Prompt:
    """The conductor asks for free text (a comment, a reason, a reply). Telegram shows the
    accompanying card and reads the next message; Slack opens a modal. Either way the text
    comes back as Texted. ``noun`` names it on the modal's button and note."""

    title: str
    label: str
    max_length: int
    noun: str = "comment"


@dataclass
class Reply:
    """The conductor's answer to one event, rendered by the adapter after commit.

    ``toast`` answers a button press (Telegram answerCallbackQuery, Slack ephemeral or
    nothing); ``edit`` replaces the message whose button was pressed; ``send`` are new
    messages to the same chat, in order.
    """

    toast: Words | None = None
    edit: Card | None = None
    send: list[Card] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    alert: bool = False  # show the toast as a dialog (refusals the user must notice)
    prompt: Prompt | None = None
    # Slow output (rendering a report) made after the commit, outside the write
    # transaction: the conductor awaits it and appends what it returns to ``documents``.
    render: Callable[[], Awaitable[list[Document]]] | None = None
