"""Test controls of the Telegram fake: API errors, injected failures, flood limits, records.

Our bot must survive flood control (429 with ``retry_after``), server hiccups (500/502) and
users who block it (403). These are rare and timing-dependent against the real API, so the
fake lets a test switch them on deterministically: inject "the next N calls of method M to
chat C fail like this", or enable per-chat and global rate limits measured on an injectable
clock.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, status: int, description: str, *, retry_after: int | None = None,
                 raw_body: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        #: a non-JSON body (e.g. the HTML page nginx answers with on 502)
        self.raw_body = raw_body

    def body(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.status,
                          "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body

    @classmethod
    def bad_request(cls, reason: str) -> ApiError:
        return cls(400, f"Bad Request: {reason}")

    @classmethod
    def forbidden(cls, reason: str) -> ApiError:
        return cls(403, f"Forbidden: {reason}")

    @classmethod
    def too_many_requests(cls, retry_after: int) -> ApiError:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


@dataclass(frozen=True)
class InjectedFailure:
    """How one injected call fails. Use the constructors: ``InjectedFailure.flood(3)``..."""

    status: int
    description: str
    retry_after: int | None = None
    raw_body: str | None = None

    def to_error(self) -> ApiError:
        return ApiError(self.status, self.description, retry_after=self.retry_after,
                        raw_body=self.raw_body)

    @classmethod
    def flood(cls, retry_after: int = 1) -> InjectedFailure:
        """429 flood control; PTB raises ``RetryAfter``."""
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    @classmethod
    def server_error(cls) -> InjectedFailure:
        """500 with a JSON body; PTB raises ``NetworkError``."""
        return cls(500, "Internal Server Error")

    @classmethod
    def bad_gateway(cls) -> InjectedFailure:
        """502 with nginx's HTML page, as Telegram's front end answers; ``NetworkError``."""
        return cls(502, "Bad Gateway", raw_body="<html><head><title>502 Bad Gateway</title>"
                   "</head><body><center><h1>502 Bad Gateway</h1></center></body></html>")



@dataclass
class _FailureRule:
    failure: InjectedFailure
    method: str | None  # lower-case, None = any method
    chat_id: int | None  # None = any chat (or no chat)
    remaining: int


class FailurePlan:
    """Scripted failures, consumed in the order they were injected."""

    def __init__(self) -> None:
        self._rules: list[_FailureRule] = []

    def inject(self, failure: InjectedFailure, *, method: str | None = None,
               chat_id: int | None = None, times: int = 1) -> None:
        """The next ``times`` calls matching ``method`` and ``chat_id`` fail with ``failure``."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._rules.append(_FailureRule(failure, method.lower() if method else None, chat_id,
                                        times))

    def take(self, method: str, chat_id: int | None) -> InjectedFailure | None:
        """The failure for this call, if one is scripted; consumes it."""
        for index, rule in enumerate(self._rules):
            if (rule.method is None or rule.method == method) and (
                rule.chat_id is None or rule.chat_id == chat_id
            ):
                rule.remaining -= 1
                if rule.remaining == 0:
                    del self._rules[index]
                return rule.failure
        return None


class HoldPlan:
    """Calls to some chats wait, unprocessed, until released: requests that have left the
    bot but not yet reached Telegram. The server cancels the handler of a client that goes
    away (e.g. a bot process killed meanwhile), so such a call is never processed."""

    def __init__(self) -> None:
        self._chats: frozenset[int] = frozenset()
        self._released: asyncio.Event | None = None
        self.waiting = 0

    def hold(self, chat_ids: Iterable[int]) -> None:
        self._chats = frozenset(chat_ids)
        self._released = asyncio.Event()

    def release(self) -> None:
        self._chats = frozenset()
        if self._released is not None:
            self._released.set()
        self._released = None

    async def wait(self, chat_id: int | None) -> None:
        released = self._released
        if released is None or chat_id not in self._chats:
            return
        self.waiting += 1
        try:
            await released.wait()
        finally:
            self.waiting -= 1


LIMITED_METHODS = frozenset({"sendmessage", "senddocument", "sendphoto"})


class RateLimiter:
    """Sliding-window flood control, off until :meth:`enable`.

    Telegram allows about 30 messages per second overall and about 1 per second per chat;
    beyond that it answers 429 with ``retry_after``. Only successful calls count, like a
    real flood counter. ``clock`` is injectable so tests can step time instead of sleeping.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.enabled = False
        self.global_limit = 30
        self.per_chat_limit = 1
        self.window = 1.0
        self._global: deque[float] = deque()
        self._per_chat: dict[int, deque[float]] = {}

    def enable(self, *, global_per_second: int = 30, per_chat_per_second: int = 1) -> None:
        """Answer 429 beyond ``global_per_second`` sends overall or ``per_chat_per_second``
        per chat within a second (edits and answers to button presses are not counted)."""
        self.enabled = True
        self.global_limit = global_per_second
        self.per_chat_limit = per_chat_per_second
        self._global.clear()
        self._per_chat.clear()

    def check(self, method: str, chat_id: int | None) -> None:
        """Raise the 429 :class:`ApiError` if this call would exceed a limit."""
        if not self.enabled or method not in LIMITED_METHODS:
            return
        now = self._clock()
        self._prune(self._global, now)
        if len(self._global) >= self.global_limit:
            raise ApiError.too_many_requests(self._retry_after(self._global, now))
        if chat_id is not None:
            times = self._per_chat.get(chat_id)
            if times is not None:
                self._prune(times, now)
                if len(times) >= self.per_chat_limit:
                    raise ApiError.too_many_requests(self._retry_after(times, now))

    def record(self, method: str, chat_id: int | None) -> None:
        """Count a successful call."""
        if not self.enabled or method not in LIMITED_METHODS:
            return
        now = self._clock()
        self._global.append(now)
        if chat_id is not None:
            self._per_chat.setdefault(chat_id, deque()).append(now)

    def _prune(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def _retry_after(self, times: deque[float], now: float) -> int:
        return max(1, math.ceil(times[0] + self.window - now))


@dataclass(frozen=True)
class UploadedFile:
    """A multipart file part as the fake received it."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class ApiCall:
    """One request to the fake, for assertions: what was asked and what was answered."""

    method: str  # as requested, e.g. "sendMessage"
    params: JsonDict  # JSON-looking values decoded: chat_id is an int, reply_markup a dict
    at: float  # fake's monotonic clock, on arrival
    files: dict[str, UploadedFile] = field(default_factory=dict)
    status: int = 0
    result: Any = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the bot's webhook, and what the bot answered."""

    update_id: int
    url: str
    status: int | None  # None when the connection failed
    error: str | None
    secret_token: str | None  # the header value sent, None if no header
    at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
