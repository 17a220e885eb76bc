"""Text that names commands: words and Steps, spelled by each messenger its own way.

The dialogue says "send the ballot command", not "/ballot": a sentence that tells a person
what to send is a :class:`Text` whose parts are plain strings and
:class:`engine.errors.Step` (the same type the engine's refusals use). Telegram spells a
Step ``/ballot``, Slack ``/delphi ballot``; nobody rewrites prose to get there, and words
a person wrote (a comment, a question) are plain strings, never read for commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.chat.commands import NAMES
from engine.errors import Step

__all__ = ["Part", "Spelling", "Step", "Text", "Words", "parts_of", "say", "slash",
           "spell",
           "words_from_json", "words_to_json"]

Part = str | Step
# How a messenger writes a command, given its name ("ballot" -> "/ballot").
Spelling = Callable[[str], str]


def slash(name: str) -> str:
    """The neutral spelling, Telegram's too: ``/ballot``."""
    return f"/{name}"


@dataclass(frozen=True)
class Text:
    """A sentence with commands in it. Every Step must name a command of the chat."""

    parts: tuple[Part, ...]

    def __post_init__(self) -> None:
        unknown = {p.command for p in self.parts if isinstance(p, Step)} - NAMES
        if unknown:
            raise ValueError(f"no such chat command: {', '.join(sorted(unknown))}")

    def spell(self, spelling: Spelling = slash) -> str:
        return "".join(spelling(p.command) if isinstance(p, Step) else p for p in self.parts)

    def __str__(self) -> str:
        return self.spell()

    def to_json(self) -> list[str | dict[str, str]]:
        return [{"step": p.command} if isinstance(p, Step) else p for p in self.parts]

    @classmethod
    def from_json(cls, data: list[str | dict[str, str]]) -> Text:
        return cls(tuple(Step(p["step"]) if isinstance(p, dict) else p for p in data))


Words = str | Text


def say(*pieces: str | Step | Text) -> Words:
    """Strings, Steps and Texts, in order, as one: a Text if it names a command, else the
    plain string it is."""
    parts: list[Part] = []
    for piece in pieces:
        parts += piece.parts if isinstance(piece, Text) else (piece,)
    if not any(isinstance(p, Step) for p in parts):
        return "".join(p for p in parts if isinstance(p, str))
    return Text(tuple(p for p in parts if p != ""))


def parts_of(words: Words) -> tuple[Part, ...]:
    """The parts of ``words``, e.g. to raise a refusal that says them."""
    return words.parts if isinstance(words, Text) else (words,)


def spell(words: Words, spelling: Spelling = slash) -> str:
    """What a person reads: plain words as they are, each command as the messenger writes it."""
    return words.spell(spelling) if isinstance(words, Text) else words


def words_to_json(words: Words) -> str | list[str | dict[str, str]]:
    return words.to_json() if isinstance(words, Text) else words


def words_from_json(data: str | list[str | dict[str, str]]) -> Words:
    return data if isinstance(data, str) else Text.from_json(data)
