"""Button actions, encoded in at most 64 bytes (Telegram's callback_data limit).

Format: ``<version>|<verb>|<fields...>``. The version lets a future release refuse
buttons made by an older one clearly instead of misreading them. Decoding validates
every field; anything garbled or forged becomes :class:`BadAction`, which the
conductor answers with a sentence and no write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "1"
MAX_BYTES = 64
# Matched whole (``fullmatch``: ``$`` alone would let a trailing newline through). Numbers
# are ASCII and canonical: ``str.isdigit`` also accepts "²" (which ``int`` then rejects
# with a plain ValueError) and "١" (which ``int`` reads as 1).
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_QUESTION = re.compile(r"[A-Za-z0-9_-]{1,32}")
_NUMBER = re.compile(r"0|[1-9][0-9]{0,2}")
_ID = re.compile(r"[1-9][0-9]{0,9}")
LEVELS = {"l": 1, "m": 2, "h": 3}  # confidence: low, medium, high


class BadAction(ValueError):
    """The button data cannot be trusted or understood."""


@dataclass(frozen=True)
class Consent:
    accepted: bool


@dataclass(frozen=True)
class Screen:
    question: str
    option: int


@dataclass(frozen=True)
class Rate:
    round: int
    code: str
    value: int | None  # None: unable to rate


@dataclass(frozen=True)
class AskComment:
    round: int
    code: str


@dataclass(frozen=True)
class Goto:
    """Show the statement at ``position`` (Back, and editing from the review)."""

    round: int
    position: int


@dataclass(frozen=True)
class Resume:
    """Continue at the first unanswered statement (nudges, /ballot)."""


@dataclass(frozen=True)
class Review:
    round: int


@dataclass(frozen=True)
class Submit:
    round: int


@dataclass(frozen=True)
class Reopen:
    round: int


@dataclass(frozen=True)
class Confide:
    """How sure the expert is of a rating (``[scale] confidence``): 1 low .. 3 high. With
    confidence per domain, ``code`` is the statement that completed the domain."""

    round: int
    code: str
    level: int


@dataclass(frozen=True)
class AskReason:
    """Write the reason for an outlying rating (opens a modal in Slack)."""

    round: int
    code: str


@dataclass(frozen=True)
class SkipReason:
    """No reason, thanks: go on with the ballot."""

    round: int


@dataclass(frozen=True)
class ReplyTo:
    """Answer another expert's comment, anonymously; ``comment`` is its id."""

    round: int
    comment: int


@dataclass(frozen=True)
class Withdraw:
    confirmed: bool


@dataclass(frozen=True)
class CloseRound:
    round: int
    confirmed: bool


@dataclass(frozen=True)
class OpenRound:
    """"Open anyway" when no expert has joined: the deadline travels in the button
    (minutes since the epoch, 0 for none) so the confirmation opens what was asked."""

    round: int
    deadline_minutes: int


Action = (Consent | Screen | Rate | AskComment | Goto | Resume | Review | Submit | Reopen
          | Withdraw | CloseRound | Confide | AskReason | SkipReason | ReplyTo | OpenRound)
_LEVEL_CODES = {level: code for code, level in LEVELS.items()}


def _join(*parts: object) -> str:
    data = "|".join([VERSION, *(str(p) for p in parts)])
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"action data too long: {data!r}")
    return data


def encode(action: Action) -> str:
    match action:
        case Consent(accepted):
            return _join("c", "y" if accepted else "n")
        case Screen(question, option):
            return _join("q", question, option)
        case Rate(round_, code, value):
            return _join("r", round_, code, "u" if value is None else value)
        case AskComment(round_, code):
            return _join("m", round_, code)
        case Goto(round_, position):
            return _join("g", round_, position)
        case Resume():
            return _join("n")
        case Review(round_):
            return _join("v", round_)
        case Submit(round_):
            return _join("s", round_)
        case Reopen(round_):
            return _join("o", round_)
        case Withdraw(confirmed):
            return _join("w", "y" if confirmed else "n")
        case CloseRound(round_, confirmed):
            return _join("x", round_, "y" if confirmed else "n")
        case Confide(round_, code, level):
            return _join("k", round_, code, _LEVEL_CODES[level])
        case AskReason(round_, code):
            return _join("e", round_, code)
        case SkipReason(round_):
            return _join("z", round_)
        case ReplyTo(round_, comment):
            return _join("a", round_, comment)
        case OpenRound(round_, minutes):
            return _join("p", round_, minutes)
    raise TypeError(f"not an action: {action!r}")  # pragma: no cover


def _int(text: str, low: int, high: int) -> int:
    if not _NUMBER.fullmatch(text):
        raise BadAction(f"not a small number: {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise BadAction(f"out of range: {value}")
    return value


def _code(text: str) -> str:
    if not _CODE.fullmatch(text):
        raise BadAction(f"not a statement id: {text!r}")
    return text


def _yes_no(text: str) -> bool:
    if text not in ("y", "n"):
        raise BadAction(f"not y/n: {text!r}")
    return text == "y"


def decode(data: str) -> Action:
    """Parse button data; raise :class:`BadAction` for anything not made by :func:`encode`."""
    try:
        size = len(data.encode())
    except UnicodeEncodeError:  # a lone surrogate: JSON "\ud800" decodes to one
        raise BadAction("not encodable as UTF-8") from None
    if not data or size > MAX_BYTES:
        raise BadAction("empty or oversized")
    version, _, rest = data.partition("|")
    if version != VERSION:
        raise BadAction(f"unknown version {version!r}")
    verb, *fields = rest.split("|")
    shape = {"c": 1, "q": 2, "r": 3, "m": 2, "g": 2, "n": 0, "v": 1, "s": 1, "o": 1, "w": 1,
             "x": 2, "k": 3, "e": 2, "z": 1, "a": 2, "p": 2}
    if verb not in shape or len(fields) != shape[verb]:
        raise BadAction(f"unknown verb or wrong field count: {data!r}")
    match verb:
        case "c":
            return Consent(_yes_no(fields[0]))
        case "q":
            if not _QUESTION.fullmatch(fields[0]):
                raise BadAction("bad question id")
            return Screen(fields[0], _int(fields[1], 0, 7))
        case "r":
            value = None if fields[2] == "u" else _int(fields[2], 1, 9)
            return Rate(_int(fields[0], 1, 99), _code(fields[1]), value)
        case "m":
            return AskComment(_int(fields[0], 1, 99), _code(fields[1]))
        case "g":
            return Goto(_int(fields[0], 1, 99), _int(fields[1], 1, 999))
        case "n":
            return Resume()
        case "v":
            return Review(_int(fields[0], 1, 99))
        case "s":
            return Submit(_int(fields[0], 1, 99))
        case "o":
            return Reopen(_int(fields[0], 1, 99))
        case "w":
            return Withdraw(_yes_no(fields[0]))
        case "p":
            if fields[1] != "0" and not _ID.fullmatch(fields[1]):
                raise BadAction(f"not a deadline: {fields[1]!r}")
            return OpenRound(_int(fields[0], 1, 99), int(fields[1]))
        case "k":
            if fields[2] not in LEVELS:
                raise BadAction(f"not a confidence level: {fields[2]!r}")
            return Confide(_int(fields[0], 1, 99), _code(fields[1]), LEVELS[fields[2]])
        case "e":
            return AskReason(_int(fields[0], 1, 99), _code(fields[1]))
        case "z":
            return SkipReason(_int(fields[0], 1, 99))
        case "a":
            if not _ID.fullmatch(fields[1]):
                raise BadAction(f"not a comment id: {fields[1]!r}")
            return ReplyTo(_int(fields[0], 1, 99), int(fields[1]))
        case _:
            return CloseRound(_int(fields[0], 1, 99), _yes_no(fields[1]))
