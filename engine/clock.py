"""Time is injected: every deadline and nudge decision reads a Clock, never the wall directly.

Tests use :class:`ManualClock` to run weeks of a study in milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_ZONE_NAME = 64  # the longest IANA name is about 30 characters


def known_time_zone(name: str) -> bool:
    """Is ``name`` an IANA time zone this machine can load? Never raises: ``ZoneInfo``
    itself raises ``IsADirectoryError`` for ``Europe`` and ``OSError`` for a 300-character
    name, besides its own ``ZoneInfoNotFoundError`` / ``ValueError``."""
    if not name or len(name) > MAX_ZONE_NAME or not name.isascii():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs timezone-aware times")
        self._now = moment
