"""Neutral events: what an adapter turns a platform update into.

Adapters parse and authenticate; the conductor decides. ``update_key`` is the
platform's own id for the update (Telegram update_id, Slack event_id or a hash of the
interaction), used to make replays change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.enrolment import PlatformUser


@dataclass(frozen=True)
class Event:
    who: PlatformUser
    update_key: str | None


@dataclass(frozen=True)
class Joined(Event):
    """The expert opened an invite (Telegram ``/start TOKEN``, Slack ``/delphi join TOKEN``)."""

    token: str


@dataclass(frozen=True)
class Pressed(Event):
    """A button was pressed; ``data`` is the button's encoded action (see bot.chat.actions)."""

    data: str


@dataclass(frozen=True)
class Texted(Event):
    """Free text: a comment when one was asked for, otherwise a hint is given."""

    text: str


@dataclass(frozen=True)
class Command(Event):
    """A command without its slash, e.g. ``Command(name="closeround", args="")``."""

    name: str
    args: str


@dataclass(frozen=True)
class Attached(Event):
    """Something that is not text: a photo, sticker, voice note, location, document,
    contact or file upload. ``kind`` names it for the answer ("photo", "voice note");
    ``caption`` is the text sent along with it, if any. Nothing of it is stored."""

    kind: str
    caption: str = ""
