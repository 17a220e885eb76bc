"""Slack's conventions that the adapter follows, kept apart from the wiring.

How a request becomes a de-duplication key, how ``/delphi`` text becomes a command, how a
Web API error maps onto the outbox's retry rules, and how one user's requests are kept
in order. Small pure pieces, so they read (and test) without bolt or a network.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError

from bot.chat.ports import DeliveryError

# The recipient is gone for good: the outbox marks them unreachable instead of retrying.
PERMANENT_ERRORS = frozenset({
    "account_inactive", "user_not_found", "channel_not_found", "user_disabled",
    "is_archived", "cannot_dm_bot", "not_in_channel", "user_not_visible",
})
MAX_KEY = 128  # processed_updates.update_key


def update_key(kind: str, slack_id: object, request: AsyncBoltRequest) -> str:
    """The de-duplication key of one request: Slack's own id when there is one, else a
    hash of the body (raw in HTTP mode; Socket Mode hands bolt a parsed dict)."""
    if isinstance(slack_id, str) and slack_id:
        key = f"{kind}:{slack_id}"
    else:
        body = request.raw_body or json.dumps(request.body, sort_keys=True)
        key = f"{kind}#{hashlib.sha256(body.encode()).hexdigest()}"
    if len(key) > MAX_KEY:
        key = f"{kind}#{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def parse_command(text: str) -> tuple[str, str]:
    """``/delphi join abc`` arrives as ``join abc`` -> ``("join", "abc")``; empty -> start."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "start", ""
    name = parts[0].lstrip("/").lower()
    args = parts[1].strip() if len(parts) > 1 else ""
    if name == "join" and not args:
        return "start", ""
    return name, args


def retry_after(headers: Mapping[str, Any] | None) -> float:
    """Seconds from a 429's ``Retry-After`` header (1 when it is missing or unreadable)."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


def delivery_error(error: SlackApiError) -> DeliveryError:
    """Slack's answer as the outbox understands it: retry later, after a while, or never."""
    response = error.response
    code = str(response.get("error") or "") if response is not None else ""
    status = getattr(response, "status_code", 0)
    if status == 429 or code == "ratelimited":
        headers = getattr(response, "headers", None)
        return DeliveryError(f"slack: {code or 'ratelimited'}", retry_after=retry_after(headers))
    return DeliveryError(f"slack: {code or status}", permanent=code in PERMANENT_ERRORS)


class Lanes:
    """One lane per user: a user's requests are handled in arrival order (a fast double
    press stays in order), different users concurrently."""

    def __init__(self) -> None:
        self._lanes: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def lane(self, key: str) -> AsyncIterator[None]:
        lock, users = self._lanes.get(key, (asyncio.Lock(), 0))
        self._lanes[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._lanes[key]
            if users <= 1:
                del self._lanes[key]
            else:
                self._lanes[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._lanes)


def first_header(headers: Mapping[str, Any], name: str) -> str | None:
    """bolt keeps headers as lists under lower-case names."""
    value = headers.get(name)
    if isinstance(value, list | tuple):
        return str(value[0]) if value else None
    return None if value is None else str(value)


def error_code(error: SlackApiError) -> str:
    """Slack's error string (``channel_not_found``...) for logs."""
    response = error.response
    return str(response.get("error") if response is not None else error)
