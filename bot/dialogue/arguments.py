"""Numbers, durations and dates typed after a coordinator command, read one safe way.

Every command that takes a number (``/invite 5``, ``/comments 2``, ``/hide 12``) or a
deadline (``/openround 14d``, ``/extend 2026-12-01 18:00``) reads it here, so a hostile
or careless argument gets one sentence (an :class:`InvalidValue`) and never reaches
``int()``, ``timedelta`` or a time-zone conversion that would raise something else:

- only ASCII digits count: ``str.isdigit`` also accepts ``²`` (``int`` rejects it) and
  ``١`` (``int`` reads it as 1), and neither is what the coordinator meant;
- numbers are short and bounded, so ``12345678901234567890123`` is refused here rather
  than overflowing a database integer;
- a deadline lies in the future and at most :data:`MAX_AHEAD` ahead, checked before any
  arithmetic, so ``9999-12-31 23:59`` in America/New_York (beyond ``datetime.max`` once
  converted to UTC) and ``999d`` are refused with a sentence.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.chat.text import Words, parts_of
from engine.errors import InvalidValue

MAX_DIGITS = 10
MAX_ID = 2**31 - 1  # a database integer column
MAX_AHEAD = timedelta(days=365)
DEADLINE_HELP = "use e.g. 14d, 36h, 2026-12-01 or \"2026-12-01 18:00\""

_NUMBER = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")
_RELATIVE = re.compile(r"\+?([0-9]{1,6})[ ]*([dh])", re.IGNORECASE)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[ T]+([0-9]{2}):([0-9]{2}))?")


def number(text: str, low: int, high: int, usage: Words) -> int:
    """The whole number in ``text`` (ASCII digits), from ``low`` to ``high``.

    ``usage`` is the sentence for anything that is not such a number; a number out of
    range is told the range."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        raise InvalidValue(*parts_of(usage))
    value = int(text)
    if not low <= value <= high:
        raise InvalidValue(*parts_of(usage), *((f" ({text} is not from {low} to {high}.)",)
                                               if len(text) <= 6 else ()))
    return value


def deadline(text: str, now: datetime, zone: str, base: datetime | None = None
             ) -> datetime | None:
    """The deadline in ``text``, or None when ``text`` is empty.

    ``14d`` / ``+36h`` count from ``base`` (default ``now``); ``2026-12-01`` is the end of
    that day and ``2026-12-01 18:00`` that minute, both in the time zone ``zone``. The
    result, in UTC, is after ``now`` and at most :data:`MAX_AHEAD` after it."""
    text = " ".join(text.split())
    if not text:
        return None
    start = base or now
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        step = timedelta(days=1) if unit == "d" else timedelta(hours=1)
        if amount * step > MAX_AHEAD:
            raise InvalidValue(_too_far())
        return _bounded(start + amount * step, now)
    absolute = _DATE.fullmatch(text)
    if absolute is None:
        raise InvalidValue(f"Cannot read the deadline {text[:40]!r}: {DEADLINE_HELP}.")
    year, month, day = (int(absolute.group(i)) for i in (1, 2, 3))
    if not now.year - 1 <= year <= now.year + 1 + MAX_AHEAD.days // 365:
        raise InvalidValue(_too_far() if year > now.year else _in_the_past())
    end_of_day = absolute.group(4) is None
    hour, minute = (23, 59) if end_of_day else (int(absolute.group(4)),
                                                int(absolute.group(5)))
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))
    except ValueError:
        raise InvalidValue(f"There is no date or time {text!r}: {DEADLINE_HELP}.") from None
    return _bounded(local, now)


def _bounded(moment: datetime, now: datetime) -> datetime:
    moment = moment.astimezone(UTC)  # the year is bounded, so this cannot overflow
    if moment <= now:
        raise InvalidValue(_in_the_past())
    if moment - now > MAX_AHEAD:
        raise InvalidValue(_too_far())
    return moment


def _too_far() -> str:
    return f"A deadline can be at most {MAX_AHEAD.days} days ahead; nothing was changed."


def _in_the_past() -> str:
    return "The deadline must be in the future; nothing was changed."

