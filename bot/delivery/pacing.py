"""Pacing outgoing bulk messages under each platform's limits, before the platform says 429.

Two token buckets per platform, in GCRA form (a "next free slot" time per bucket): one
for the whole bot, one per chat. A sender first waits for its chat's slot, then for a
global slot, so a chat that must wait a second does not hold up a global slot meanwhile.
Slots are handed out in call order, so waiting senders are served fairly.

Real time, not the study clock: rate limits are about wall-clock seconds. Both the time
source and the sleep are injectable so the arithmetic can be tested without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class PacingPolicy:
    """At most ``per_second`` messages overall and ``per_chat_per_second`` per chat,
    with bursts of ``burst`` / ``chat_burst`` messages."""

    per_second: float
    per_chat_per_second: float
    burst: int = 1
    chat_burst: int = 1


# Telegram: about 30 messages/s overall, 1 per second per chat. We aim under the overall
# limit: requests released 1/29 s apart still arrived closer together often enough to
# draw a few 429s per 1,000 on a busy machine; at 28/s none did (bench/outbox_bench).
# Slack: chat.postMessage about 1 per second per channel, plus a workspace-wide cap.
POLICIES: Mapping[str, PacingPolicy] = {
    "telegram": PacingPolicy(per_second=28.0, per_chat_per_second=1.0),
    "slack": PacingPolicy(per_second=10.0, per_chat_per_second=1.0),
}


class _Bucket:
    """GCRA: ``tat`` is the theoretical arrival time of the next message."""

    __slots__ = ("interval", "tat", "tolerance")

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = self.interval * (max(1, burst) - 1)
        self.tat = 0.0

    def reserve(self, now: float) -> float:
        """Take the next slot; return when it starts (``now`` if free already)."""
        start = max(now, self.tat - self.tolerance)
        self.tat = max(self.tat, now) + self.interval
        return start


class Pacer:
    """One platform's pacing. ``await pacer.slot(chat)`` before each message."""

    MAX_IDLE_CHATS = 10_000

    def __init__(self, policy: PacingPolicy, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.policy = policy
        self._now = monotonic
        self._sleep = sleep
        self._global = _Bucket(policy.per_second, policy.burst)
        self._chats: dict[str, _Bucket] = {}

    def _chat(self, chat: str) -> _Bucket:
        bucket = self._chats.get(chat)
        if bucket is None:
            if len(self._chats) >= self.MAX_IDLE_CHATS:
                self._forget_idle()
            bucket = self._chats[chat] = _Bucket(self.policy.per_chat_per_second,
                                                 self.policy.chat_burst)
        return bucket

    def _forget_idle(self) -> None:
        now = self._now()
        for chat in [c for c, b in self._chats.items() if b.tat <= now]:
            del self._chats[chat]

    async def _wait_until(self, moment: float) -> None:
        delay = moment - self._now()
        if delay > 0:
            await self._sleep(delay)

    async def slot(self, chat: str) -> None:
        """Wait until a message to ``chat`` may go out, and take that slot."""
        await self._wait_until(self._chat(chat).reserve(self._now()))
        await self._wait_until(self._global.reserve(self._now()))


def pacers(policies: Mapping[str, PacingPolicy | None]) -> dict[str, Pacer]:
    return {platform: Pacer(policy) for platform, policy in policies.items()
            if policy is not None}
