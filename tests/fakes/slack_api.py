"""A loopback fake of the Slack Web API for offline tests of the Slack adapter.

Point the real ``slack_sdk`` client at it::

    async with running_slack_fake() as fake:
        alice = fake.create_user("alice", tz="America/New_York")
        client = AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)
        await client.chat_postMessage(channel=alice.id, text="hi")
        assert (await alice.wait_for_message()).text == "hi"

It speaks the wire protocol ``AsyncWebClient`` uses (``POST {base_url}{method}`` with
query-string, form or JSON parameters and ``Authorization: Bearer``), answers in Slack's
shape (``{"ok": true, ...}`` / ``{"ok": false, "error": ...}``), enforces the Block Kit and
trigger rules that break bots in production, and offers test controls: switchable rate
limiting, injected failures, deactivated users and a record of every call.
"""

# The waiting helpers take ``timeout=`` on purpose: tests read best as
# ``await user.wait_for_message(pred, timeout=5)``, and the timeout names what was awaited.

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .slack_methods import TRIGGER_TTL, Params, SlackApiFailure, SlackWebMethods
from .slack_state import (
    FakeClock,
    FakeFile,
    FakeMessage,
    FakeView,
    SimulatedUser,
    SlackWorkspace,
)

__all__ = [  # the state classes are re-exported: tests usually import everything from here
    "ApiCall",
    "FakeClock",
    "FakeFile",
    "FakeMessage",
    "FakeSlackApi",
    "FakeView",
    "RateLimitPolicy",
    "SimulatedUser",
    "SlackApiFailure",
    "SlackWorkspace",
    "running_slack_fake",
]

UPLOAD_METHOD = "upload_url"  # the pseudo-method name under which uploads are recorded
BOT_SCOPES = "chat:write,commands,im:write,im:history,users:read,files:write"


@dataclass(frozen=True)
class ApiCall:
    """One recorded request: which method, with what, when (fake clock), and the outcome."""

    method: str
    params: Mapping[str, Any]
    at: float
    status: int
    ok: bool
    error: str | None
    channel: str | None = None


@dataclass
class _InjectedFailure:
    error: str
    status: int
    retry_after: int | None


@dataclass
class RateLimitPolicy:
    """Slack's posting limits: about one message per second per channel, short bursts allowed.

    ``workspace_per_second`` optionally adds the workspace-wide cap. ``retry_after`` fixes the
    Retry-After header; by default it is the (rounded-up) time until a slot frees.
    """

    per_channel_per_second: float = 1.0
    burst: int = 3
    methods: frozenset[str] = frozenset({"chat.postMessage", "chat.postEphemeral"})
    workspace_per_second: float | None = None
    workspace_burst: int = 20
    retry_after: int | None = None


@dataclass
class _Bucket:
    tokens: float
    updated: float

    def refill(self, now: float, rate: float, capacity: float) -> None:
        self.tokens = min(capacity, self.tokens + (now - self.updated) * rate)
        self.updated = now

    def wait_time(self, rate: float) -> float:
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / rate


class _RateLimiter:
    """Token buckets per channel (and one for the workspace) on the fake's clock."""

    def __init__(self, clock: FakeClock, policy: RateLimitPolicy) -> None:
        self.clock = clock
        self.policy = policy
        self._channels: dict[str, _Bucket] = {}
        self._workspace = _Bucket(float(policy.workspace_burst), clock.now())

    def acquire(self, method: str, channel: str | None) -> float:
        """Take a slot and return 0, or return the seconds until one frees (taking nothing)."""
        policy = self.policy
        if method not in policy.methods:
            return 0.0
        now = self.clock.now()
        buckets: list[tuple[_Bucket, float]] = []
        if channel is not None:
            bucket = self._channels.setdefault(channel, _Bucket(float(policy.burst), now))
            bucket.refill(now, policy.per_channel_per_second, policy.burst)
            buckets.append((bucket, policy.per_channel_per_second))
        if policy.workspace_per_second is not None:
            self._workspace.refill(now, policy.workspace_per_second, policy.workspace_burst)
            buckets.append((self._workspace, policy.workspace_per_second))
        wait = max((b.wait_time(rate) for b, rate in buckets), default=0.0)
        if wait == 0.0:
            for b, _ in buckets:
                b.tokens -= 1.0
        return wait


class FakeSlackApi:
    """The Web API server plus its test controls.

    State lives in ``self.workspace``, method semantics in ``self.methods``; this class adds
    transport, authentication, injected failures, rate limiting and the call record.
    """

    def __init__(
        self,
        workspace: SlackWorkspace | None = None,
        *,
        host: str = "127.0.0.1",
        trigger_ttl: float = TRIGGER_TTL,
    ) -> None:
        self.workspace = workspace or SlackWorkspace()
        self.methods = SlackWebMethods(self.workspace, trigger_ttl=trigger_ttl)
        self.host = host
        self.calls: list[ApiCall] = []
        self._calls_by_method: defaultdict[str, list[ApiCall]] = defaultdict(list)
        self._failures: defaultdict[str, deque[_InjectedFailure]] = defaultdict(deque)
        self._rate_limiter: _RateLimiter | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on an ephemeral loopback port (inside the running test's event loop)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{key}", self._handle_upload)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self.methods.base_url = self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the fake is not started")
        return f"http://{self.host}:{self._port}/"

    @property
    def api_url(self) -> str:
        """What to pass as ``AsyncWebClient(base_url=...)`` (keeps the trailing slash)."""
        return f"{self.base_url}api/"

    # -- shortcuts to the workspace -----------------------------------------------------------

    @property
    def trigger_ttl(self) -> float:
        """Seconds a trigger_id stays valid; set it to 0 to make every views.open late."""
        return self.methods.trigger_ttl

    @trigger_ttl.setter
    def trigger_ttl(self, seconds: float) -> None:
        self.methods.trigger_ttl = seconds

    @property
    def clock(self) -> FakeClock:
        return self.workspace.clock

    @property
    def bot_token(self) -> str:
        return self.workspace.bot_token

    def create_user(self, name: str | None = None, **kwargs: Any) -> SimulatedUser:
        return self.workspace.create_user(name, **kwargs)

    def create_users(self, count: int, **kwargs: Any) -> list[SimulatedUser]:
        return self.workspace.create_users(count, **kwargs)

    def deactivate_user(self, user_id: str, *, error: str = "account_inactive") -> None:
        self.workspace.deactivate_user(user_id, error=error)

    def delete_user(self, user_id: str) -> None:
        self.workspace.delete_user(user_id)

    def issue_trigger(self, user: SimulatedUser | str) -> str:
        return self.workspace.issue_trigger(user if isinstance(user, str) else user.id)

    @property
    def response_url(self) -> str:
        """What slash commands and presses carry as ``response_url``. The bot answers through
        the Web API, never through ``respond()``, so the fake does not serve it (404)."""
        return f"{self.base_url}response/not-modelled"

    # -- test controls -----------------------------------------------------------------------

    def enable_rate_limiting(self, policy: RateLimitPolicy | None = None, **overrides: Any) -> None:
        """Switch Slack's posting limits on (``RateLimitPolicy`` fields may be overridden)."""
        if "methods" in overrides:
            overrides["methods"] = frozenset(overrides["methods"])
        policy = dataclasses.replace(policy or RateLimitPolicy(), **overrides)
        self._rate_limiter = _RateLimiter(self.clock, policy)

    def disable_rate_limiting(self) -> None:
        self._rate_limiter = None

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: int | None = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail with ``error``.

        ``ratelimited`` answers HTTP 429 with ``Retry-After``; ``internal_error`` /
        ``fatal_error`` answer 500; anything else (``account_inactive``,
        ``channel_not_found``, ...) answers 200 with ``ok: false``, as Slack does.
        """
        if status is None:
            status = {"ratelimited": 429, "internal_error": 500, "fatal_error": 500}.get(error, 200)
        failure = _InjectedFailure(error, status, retry_after if status == 429 else None)
        self._failures[method].extend(failure for _ in range(times))

    # -- the call record ---------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        return list(self._calls_by_method.get(method, ()))

    def call_count(self, method: str, *, ok: bool | None = None) -> int:
        calls = self._calls_by_method.get(method, ())
        return len(calls) if ok is None else sum(1 for c in calls if c.ok is ok)

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        self._calls_by_method[call.method].append(call)

    # -- HTTP --------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except ValueError:
            params = Params()
            return self._answer(method, params, SlackApiFailure("invalid_json"))
        token = _bearer_token(request) or params.pop("token", None)
        try:
            impl = self.methods.table.get(method)
            if impl is None:
                raise SlackApiFailure("unknown_method")
            self._authenticate(token)
            self._inject_failure(method)
            self._rate_limit(method, params)
            result: dict[str, Any] | SlackApiFailure = impl(params)
        except SlackApiFailure as failure:
            result = failure
        return self._answer(method, params, result)

    def _answer(
        self, method: str, params: Params, result: dict[str, Any] | SlackApiFailure
    ) -> web.Response:
        headers: dict[str, str] = {}
        if isinstance(result, SlackApiFailure):
            body: dict[str, Any] = {"ok": False, "error": result.error, **result.extra}
            status, headers = result.status, result.headers
        else:
            body, status = {"ok": True, **result}, 200
            if method == "auth.test":
                headers["X-OAuth-Scopes"] = BOT_SCOPES
        channel = params.get("channel") or params.get("channel_id")
        self._record(
            ApiCall(
                method=method,
                params=dict(params),
                at=self.clock.now(),
                status=status,
                ok=bool(body["ok"]),
                error=body.get("error"),
                channel=str(channel) if channel is not None else None,
            )
        )
        return web.json_response(body, status=status, headers=headers)

    def _authenticate(self, token: str | None) -> None:
        if not token:
            raise SlackApiFailure("not_authed")
        if token != self.workspace.bot_token:
            raise SlackApiFailure("invalid_auth")

    def _inject_failure(self, method: str) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        failure = queue.popleft()
        headers = (
            {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
        )
        raise SlackApiFailure(failure.error, status=failure.status, headers=headers)

    def _rate_limit(self, method: str, params: Params) -> None:
        if self._rate_limiter is None:
            return
        channel = self.methods.resolve_channel_id(params.get("channel"))
        wait = self._rate_limiter.acquire(method, channel)
        if wait > 0:
            fixed = self._rate_limiter.policy.retry_after
            retry_after = fixed if fixed is not None else max(1, math.ceil(wait))
            raise SlackApiFailure(
                "ratelimited", status=429, headers={"Retry-After": str(retry_after)}
            )

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL: slack_sdk POSTs the raw bytes here, unauthenticated (pre-signed)."""
        key = request.match_info["key"]
        data = await request.read()
        params = Params(key=key, size=len(data))
        failure = self._failures.get(UPLOAD_METHOD)
        if failure:
            injected = failure.popleft()
            self._record_extra(UPLOAD_METHOD, params, injected.status, injected.error)
            return web.Response(status=injected.status, text=injected.error)
        if not self.methods.store_upload(key, data):
            self._record_extra(UPLOAD_METHOD, params, 404, "not_found")
            return web.Response(status=404, text="not_found")
        self._record_extra(UPLOAD_METHOD, params, 200, None)
        return web.Response(text=f"OK - {len(data)}")

    def _record_extra(self, method: str, params: Params, status: int, error: str | None) -> None:
        self._record(
            ApiCall(method, dict(params), self.clock.now(), status, error is None, error, None)
        )


async def _read_params(request: web.Request) -> Params:
    """Merge query string, form fields and a JSON object body, as Slack accepts all three."""
    params = Params(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            params[key] = value.file.read() if isinstance(value, web.FileField) else value
    return params


def _bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    return header.removeprefix("Bearer ").strip() or None


@asynccontextmanager
async def running_slack_fake(
    workspace: SlackWorkspace | None = None, **kwargs: Any
) -> AsyncIterator[FakeSlackApi]:
    """Start the fake on 127.0.0.1 (ephemeral port) for the duration of the block."""
    fake = FakeSlackApi(workspace, **kwargs)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
