"""Quiet hours, nudge times and pacing arithmetic: pure functions, no database, no waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

from bot.delivery.pacing import Pacer, PacingPolicy
from engine.schedule import QuietHours, digest_time, nudge_time

QUIET = QuietHours.parse("21:00-08:00")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_quiet_hours_that_wrap_midnight_end_at_the_next_morning() -> None:
    assert QUIET.end_of_quiet(at("2026-01-09 20:59"), "UTC") is None
    assert QUIET.end_of_quiet(at("2026-01-09 21:00"), "UTC") == at("2026-01-10 08:00")
    assert QUIET.end_of_quiet(at("2026-01-10 03:00"), "UTC") == at("2026-01-10 08:00")
    assert QUIET.end_of_quiet(at("2026-01-10 08:00"), "UTC") is None
    # 09:00 UTC is 01:00 in Los Angeles (UTC-8 in January): quiet until 08:00 PST.
    assert QUIET.end_of_quiet(at("2026-01-09 09:00"), "America/Los_Angeles") == at(
        "2026-01-09 16:00")
    # ... and 22:00 in Auckland (UTC+13): quiet until 08:00 NZDT, 19:00 UTC.
    assert QUIET.end_of_quiet(at("2026-01-09 09:00"), "Pacific/Auckland") == at(
        "2026-01-09 19:00")


def test_quiet_hours_within_one_day_and_none() -> None:
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch.end_of_quiet(at("2026-01-09 12:10"), "UTC") == at("2026-01-09 13:30")
    assert lunch.end_of_quiet(at("2026-01-09 13:30"), "UTC") is None
    assert QuietHours.parse("00:00-00:00").end_of_quiet(at("2026-01-09 03:00"), "UTC") is None


def test_a_nudge_moves_out_of_quiet_hours_or_is_skipped_if_that_is_too_late() -> None:
    deadline = at("2026-01-12 09:00")
    assert nudge_time(at("2026-01-09 09:00"), "UTC", QUIET, deadline) == at("2026-01-09 09:00")
    assert nudge_time(at("2026-01-12 07:00"), "UTC", QUIET, deadline) == at("2026-01-12 08:00")
    # 07:00 UTC is 23:00 in Los Angeles; quiet ends 16:00 UTC, after the deadline.
    assert nudge_time(at("2026-01-12 07:00"), "America/Los_Angeles", QUIET, deadline) is None


def test_digest_time_is_the_next_local_hour() -> None:
    assert digest_time(8, "UTC", at("2026-01-05 09:00")) == at("2026-01-06 08:00")
    assert digest_time(8, "UTC", at("2026-01-05 07:00")) == at("2026-01-05 08:00")
    assert digest_time(8, "Europe/Berlin", at("2026-01-05 06:00")) == at("2026-01-05 07:00")


class FakeTime:
    """A monotonic clock whose sleep moves it: pacing arithmetic without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sent: list[tuple[float, str]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_the_pacer_spaces_messages_overall_and_per_chat() -> None:
    time = FakeTime()
    pacer = Pacer(PacingPolicy(per_second=10.0, per_chat_per_second=1.0), time.monotonic,
                  time.sleep)
    for chat in ["a", "b", "c", "a", "a", "d"]:
        await pacer.slot(chat)
        time.sent.append((round(time.now - 100.0, 3), chat))
    overall = [t for t, _ in time.sent]
    assert all(b - a >= 0.1 - 1e-9 for a, b in pairwise(overall))
    to_a = [t for t, chat in time.sent if chat == "a"]
    assert all(b - a >= 1.0 - 1e-9 for a, b in pairwise(to_a))
    assert time.sent[:3] == [(0.0, "a"), (0.1, "b"), (0.2, "c")]


async def test_the_pacer_allows_a_configured_burst() -> None:
    time = FakeTime()
    pacer = Pacer(PacingPolicy(per_second=2.0, per_chat_per_second=100.0, burst=3),
                  time.monotonic, time.sleep)
    for chat in "abcde":
        await pacer.slot(chat)
        time.sent.append((round(time.now - 100.0, 3), chat))
    assert [t for t, _ in time.sent] == [0.0, 0.0, 0.0, 0.5, 1.0]
