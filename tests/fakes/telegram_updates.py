"""Update delivery of the Telegram fake: the ``getUpdates`` queue and the webhook sender.

Telegram keeps updates until the bot confirms them (``offset`` = last ``update_id`` + 1),
and delivers them either to ``getUpdates`` (long poll) or by POSTing them to the webhook,
never both. Lost or repeated updates around restarts are a known source of bugs, so the
fake follows the same rules: an update stays pending until confirmed, or until the webhook
accepted it (or refused it ``max_attempts`` times).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import aiohttp

from tests.fakes.telegram_controls import WebhookDelivery
from tests.fakes.telegram_model import Signal

JsonDict = dict[str, Any]

SECRET_HEADER: Final = "X-Telegram-Bot-Api-Secret-Token"


class UpdateQueue:
    """Pending updates in ``update_id`` order; confirming is a pop from the left, O(1) each."""

    def __init__(self) -> None:
        self._pending: deque[JsonDict] = deque()
        self._last_id = 0
        #: notified when an update arrives or delivery settings change
        self.signal = Signal()
        #: update types the bot asked for (``allowed_updates``); ``None`` means all
        self.allowed: frozenset[str] | None = None

    def push(self, kind: str, payload: JsonDict) -> int:
        """Queue an update of ``kind`` (``"message"``, ``"callback_query"``...); its id."""
        self._last_id += 1
        if self.allowed is None or kind in self.allowed:
            self._pending.append({"update_id": self._last_id, kind: payload})
            self.signal.notify()
        return self._last_id

    def confirm(self, offset: int) -> None:
        """Apply a ``getUpdates`` offset: forget updates below it; a negative offset keeps
        only the last ``-offset`` updates."""
        if offset > 0:
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
        elif offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()

    def peek(self, limit: int) -> list[JsonDict]:
        return [self._pending[index] for index in range(min(limit, len(self._pending)))]

    def first(self) -> JsonDict | None:
        return self._pending[0] if self._pending else None


class _Unset:
    """Marker: no secret override is active."""


_UNSET: Final = _Unset()


class WebhookSender:
    """POSTs pending updates, one at a time and in order, to the webhook the bot set.

    It records the HTTP status of every attempt (so a test can assert that the bot's server
    refused a request without the right ``X-Telegram-Bot-Api-Secret-Token``), and can be told
    to send a wrong secret on purpose.
    """

    def __init__(self, queue: UpdateQueue, clock: Callable[[], float], *, max_attempts: int,
                 retry_delay: float, timeout: float) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._queue = queue
        self._clock = clock
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.url: str | None = None
        self.secret_token: str | None = None
        self.deliveries: list[WebhookDelivery] = []
        self.delivered = Signal()
        self._by_update: dict[int, list[WebhookDelivery]] = {}
        self._secret_override: str | _Unset | None = _UNSET
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    # settings ------------------------------------------------------------------------------

    def configure(self, url: str, secret_token: str | None) -> None:
        self.url, self.secret_token = url, secret_token
        self._queue.signal.notify()

    def clear(self) -> None:
        self.url = self.secret_token = None
        self._queue.signal.notify()

    def override_secret(self, secret: str | None) -> None:
        """Send ``secret`` (``None``: no header at all) instead of the one the bot set."""
        self._secret_override = secret

    def deliveries_for(self, update_id: int) -> list[WebhookDelivery]:
        return self._by_update.get(update_id, [])

    # lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.create_task(self._run(), name="telegram-fake-webhook-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # delivery ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            update = self._queue.first() if self.url else None
            if update is None:
                await self._queue.signal.wait(None)
                continue
            url = self.url
            assert url is not None
            delivery, attempts = await self._post(url, update), 1
            while not delivery.ok and self.url == url and attempts < self.max_attempts:
                await asyncio.sleep(self.retry_delay)  # Telegram's back-off, shortened
                delivery, attempts = await self._post(url, update), attempts + 1
            if delivery.ok or self.url == url:
                # accepted, or refused too often: Telegram moves on either way
                self._queue.confirm(update["update_id"] + 1)

    async def _post(self, url: str, update: JsonDict) -> WebhookDelivery:
        assert self._session is not None
        secret = self.secret_token if isinstance(self._secret_override, _Unset) else (
            self._secret_override)
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SECRET_HEADER] = secret
        status: int | None = None
        error: str | None = None
        try:
            async with self._session.post(url, data=json.dumps(update).encode(),
                                          headers=headers) as response:
                await response.read()
                status = response.status
                if not 200 <= status < 300:
                    error = f"Wrong response from the webhook: {status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection failed: {exc!r}"
        delivery = WebhookDelivery(update["update_id"], url, status, error, secret or None,
                                   self._clock())
        self.deliveries.append(delivery)
        self._by_update.setdefault(delivery.update_id, []).append(delivery)
        self.delivered.notify()
        return delivery
