"""The Slack platform side: signed HTTP requests to the bot's real bolt endpoint.

Slack calls the app over HTTP for slash commands, interactions (``block_actions``,
``view_submission``, ``view_closed``) and Events API callbacks, signing each request with
the app's signing secret. ``SlackPlatformClient`` does the same for simulated users of a
``FakeSlackApi``, so a test drives the bot end to end::

    async with running_slack_fake() as fake, SlackPlatformClient(
        fake, bolt_url=f"http://127.0.0.1:{port}/slack/events", signing_secret=SECRET
    ) as slack:
        alice = fake.create_user("alice")
        await slack.slash_command(alice, "/delphi", "join")
        invite = await alice.wait_for_message(lambda m: bool(m.buttons))
        await slack.press(alice, next(alice.controls()))

Interactions carry a trigger_id the fake registered (so views.open accepts it within ~3 s).
What Slack itself shows after the app's HTTP answer (a slash command's ephemeral reply, a
modal closing or showing errors) is applied to the fake. For security tests requests can be
forged, stale or replayed byte for byte.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from .slack_api import FakeSlackApi, running_slack_fake
from .slack_state import (
    Control,
    FakeView,
    SimulatedUser,
    SlackWorkspace,
    element_state,
)

__all__ = ["BoltReply", "SignedRequest", "Signing", "SlackPlatformClient", "running_slack_fake"]

STALE_AGE = 6 * 60  # seconds; Slack's and bolt's tolerance is 5 minutes
LEGACY_VERIFICATION_TOKEN = "fake-verification-token"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

RequestKind = Literal[
    "slash_command",
    "block_actions",
    "view_submission",
    "view_closed",
    "event_callback",
    "url_verification",
    "raw",
]


class Signing(enum.Enum):
    """How to sign a request: properly, or in one of the ways bolt must reject."""

    VALID = "valid"
    FORGED = "forged"  # HMAC with the wrong secret
    STALE = "stale"  # correct HMAC over a timestamp older than 5 minutes
    MISSING = "missing"  # no signature headers at all


@dataclass(frozen=True)
class SignedRequest:
    """Exactly what goes over the wire, so it can be replayed byte for byte."""

    kind: RequestKind
    body: bytes
    headers: Mapping[str, str]
    user_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class BoltReply:
    """The bot's HTTP answer."""

    status: int
    body: str
    headers: Mapping[str, str]
    request: SignedRequest
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.status == 200

    def json(self) -> Any:
        return json.loads(self.body)


class SlackPlatformClient:
    """Sends Slack's signed requests to a bolt endpoint for the fake's simulated users.

    One ``aiohttp.ClientSession`` (with a connection pool) is shared by all requests so that
    benchmarks can press buttons for hundreds of users concurrently.
    """

    def __init__(
        self,
        fake: FakeSlackApi,
        *,
        bolt_url: str,
        signing_secret: str,
        connection_limit: int = 256,
        timeout: float = 30.0,
    ) -> None:
        self.fake = fake
        self.bolt_url = bolt_url
        self.signing_secret = signing_secret
        self._verifier = SignatureVerifier(signing_secret)
        self._connection_limit = connection_limit
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._event_ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connection_limit),
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> SlackPlatformClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- signing and sending -----------------------------------------------------------------

    def signature_headers(
        self, body: bytes, *, signing: Signing = Signing.VALID, timestamp: int | None = None
    ) -> dict[str, str]:
        """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` for ``body``."""
        if signing is Signing.MISSING:
            return {}
        if timestamp is None:
            timestamp = int(time.time()) - (STALE_AGE if signing is Signing.STALE else 0)
        if signing is Signing.FORGED:
            digest = hmac.new(
                b"not-the-signing-secret", b"v0:%d:%s" % (timestamp, body), hashlib.sha256
            )
            signature = f"v0={digest.hexdigest()}"
        else:
            signature = self._verifier.generate_signature(timestamp=str(timestamp), body=body) or ""
        return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature}

    def build(
        self,
        kind: RequestKind,
        body: bytes,
        content_type: str,
        *,
        user_id: str | None = None,
        payload: Mapping[str, Any] | None = None,
        signing: Signing = Signing.VALID,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SignedRequest:
        headers = {
            "Content-Type": content_type,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **self.signature_headers(body, signing=signing),
            **(extra_headers or {}),
        }
        return SignedRequest(kind, body, headers, user_id, payload or {})

    async def send(self, request: SignedRequest, *, apply_effects: bool = True) -> BoltReply:
        """POST the request; with ``apply_effects`` show Slack's reaction to a 200 answer."""
        if self._session is None:
            raise RuntimeError("use 'async with SlackPlatformClient(...)' or call start() first")
        started = time.perf_counter()
        async with self._session.post(
            self.bolt_url, data=request.body, headers=request.headers
        ) as resp:
            body = await resp.text()
            reply = BoltReply(
                resp.status, body, dict(resp.headers), request, time.perf_counter() - started
            )
        if apply_effects and reply.ok and request.user_id is not None:
            user = self.fake.workspace.users.get(request.user_id)
            if user is not None:
                apply_interaction_reply(self.fake.workspace, user, request.kind, body)
        return reply

    async def replay(self, request: SignedRequest | BoltReply) -> BoltReply:
        """Send the identical bytes and headers again (an attacker's replay, not a Slack retry)."""
        if isinstance(request, BoltReply):
            request = request.request
        return await self.send(request, apply_effects=False)

    async def send_raw(
        self,
        body: bytes | str,
        *,
        content_type: str = JSON,
        signing: Signing = Signing.VALID,
        extra_headers: Mapping[str, str] | None = None,
    ) -> BoltReply:
        """Any body, signed as requested; for malformed-request tests."""
        data = body.encode() if isinstance(body, str) else body
        request = self.build(
            "raw", data, content_type, signing=signing, extra_headers=extra_headers
        )
        return await self.send(request, apply_effects=False)

    # -- slash commands ----------------------------------------------------------------------

    async def slash_command(
        self,
        user: SimulatedUser,
        command: str = "/delphi",
        text: str = "",
        *,
        channel_id: str | None = None,
        signing: Signing = Signing.VALID,
    ) -> BoltReply:
        """A slash command typed by ``user`` (by default in their DM with the bot)."""
        ws = self.fake.workspace
        channel_id = channel_id or user.dm.id
        form = {
            "token": LEGACY_VERIFICATION_TOKEN,
            "team_id": ws.team_id,
            "team_domain": ws.team_domain,
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel_id.startswith("D") else channel_id,
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": ws.app_id,
            "is_enterprise_install": "false",
            "response_url": self.fake.response_url,
            "trigger_id": self.fake.issue_trigger(user),
        }
        body = urlencode(form).encode()
        request = self.build(
            "slash_command", body, FORM, user_id=user.id, payload=form, signing=signing
        )
        return await self.send(request, apply_effects=signing is Signing.VALID)

    # -- interactivity -----------------------------------------------------------------------

    def _interaction_base(self, user: SimulatedUser, kind: str) -> dict[str, Any]:
        ws = self.fake.workspace
        return {
            "type": kind,
            "user": user.to_payload_user(),
            "api_app_id": ws.app_id,
            "token": LEGACY_VERIFICATION_TOKEN,
            "trigger_id": self.fake.issue_trigger(user),
            "team": {"id": ws.team_id, "domain": ws.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _interaction_request(
        self, kind: RequestKind, user: SimulatedUser, payload: dict[str, Any], signing: Signing
    ) -> SignedRequest:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.build(kind, body, FORM, user_id=user.id, payload=payload, signing=signing)

    async def press(
        self, user: SimulatedUser, control: Control, *, signing: Signing = Signing.VALID
    ) -> BoltReply:
        """``user`` presses a button (one of ``user.controls()``): a block_actions request."""
        element = control.element
        if not element.is_button:
            raise ValueError(f"only buttons are modelled by the fake, not {element.type}")
        action: dict[str, Any] = {
            "action_id": element.action_id,
            "block_id": element.block_id,
            "action_ts": f"{time.time():.6f}",
            "type": "button",
            "text": element.raw.get("text"),
            "value": element.value,
        }
        if element.style:
            action["style"] = element.style
        payload = self._interaction_base(user, "block_actions")
        payload["actions"] = [action]
        if control.message is not None:
            msg = control.message
            payload["container"] = {
                "type": "message",
                "message_ts": msg.ts,
                "channel_id": msg.channel,
                "is_ephemeral": msg.ephemeral,
            }
            payload["channel"] = {
                "id": msg.channel,
                "name": "directmessage" if msg.channel.startswith("D") else msg.channel,
            }
            if not msg.ephemeral:
                payload["message"] = msg.to_payload()
            payload["state"] = {"values": {}}
            payload["response_url"] = self.fake.response_url
        elif control.view is not None:
            payload["container"] = {"type": "view", "view_id": control.view.id}
            payload["view"] = control.view.to_payload()
        request = self._interaction_request("block_actions", user, payload, signing)
        return await self.send(request, apply_effects=signing is Signing.VALID)

    async def submit_view(
        self,
        user: SimulatedUser,
        values: Mapping[str, Any] | None = None,
        *,
        view: FakeView | None = None,
        signing: Signing = Signing.VALID,
    ) -> BoltReply:
        """Submit the open modal with the texts typed, keyed by input block_id (or action_id);
        inputs not mentioned keep their initial value (``None`` if untouched), as Slack
        reports them."""
        view = view or user.modal
        if view is None:
            raise LookupError(f"{user.id} has no open modal to submit")
        state = copy.deepcopy(view.state_values)
        inputs = {e.block_id: e for e in view.inputs}
        by_action = {e.action_id: e for e in view.inputs}
        for key, value in (values or {}).items():
            element = inputs.get(key) or by_action.get(key)
            if element is None:
                raise KeyError(f"view {view.id} has no input {key!r}; inputs: {sorted(inputs)}")
            state[element.block_id] = {element.action_id: element_state(element.raw, value)}
        view.state_values = state
        view.errors = {}
        payload = self._interaction_base(user, "view_submission")
        payload["view"] = view.to_payload()
        payload["response_urls"] = []
        request = self._interaction_request("view_submission", user, payload, signing)
        return await self.send(request, apply_effects=signing is Signing.VALID)

    # -- Events API --------------------------------------------------------------------------

    def new_event_id(self) -> str:
        return f"Ev{next(self._event_ids):010X}"

    def event_request(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        user_id: str | None = None,
        signing: Signing = Signing.VALID,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> SignedRequest:
        ws = self.fake.workspace
        envelope = {
            "token": LEGACY_VERIFICATION_TOKEN,
            "team_id": ws.team_id,
            "api_app_id": ws.app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or self.new_event_id(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-fake-{ws.team_id}",
        }
        body = json.dumps(envelope).encode()
        return self.build(
            "event_callback",
            body,
            JSON,
            user_id=user_id,
            payload=envelope,
            signing=signing,
            extra_headers=_retry_headers(retry_num, retry_reason),
        )

    async def send_event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        signing: Signing = Signing.VALID,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> BoltReply:
        """Deliver an Events API ``event_callback`` (optionally marked as Slack's N-th retry)."""
        request = self.event_request(
            event,
            event_id=event_id,
            signing=signing,
            retry_num=retry_num,
            retry_reason=retry_reason,
        )
        return await self.send(request, apply_effects=False)

    async def retry(
        self,
        original: SignedRequest | BoltReply,
        *,
        retry_num: int = 1,
        reason: str = "http_timeout",
    ) -> BoltReply:
        """Redeliver like Slack does: the same body (same event_id), freshly signed, with
        ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason``."""
        if isinstance(original, BoltReply):
            original = original.request
        content_type = original.headers.get("Content-Type", JSON)
        request = self.build(
            original.kind,
            original.body,
            content_type,
            user_id=original.user_id,
            payload=original.payload,
            extra_headers=_retry_headers(retry_num, reason),
        )
        return await self.send(request, apply_effects=False)

    async def open_app_home(self, user: SimulatedUser, *, tab: str = "home") -> BoltReply:
        """The user opens the app's Home tab: an ``app_home_opened`` event."""
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user.id,
            "channel": user.dm.id,
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
        if user.home is not None:
            event["view"] = user.home.to_payload()
        return await self.send_event(event)

    async def send_dm(self, user: SimulatedUser, text: str) -> BoltReply:
        """The user writes to the bot: the message appears in the DM and a ``message.im``
        event is delivered."""
        ws = self.fake.workspace
        message = ws.post_message(user.dm, user=user.id, text=text, from_bot=False)
        event = {
            "type": "message",
            "channel": user.dm.id,
            "user": user.id,
            "text": text,
            "ts": message.ts,
            "event_ts": message.ts,
            "channel_type": "im",
            "team": ws.team_id,
        }
        return await self.send_event(event)

    async def send_file(self, user: SimulatedUser, name: str = "photo.jpg",
                        text: str = "") -> BoltReply:
        """The user uploads a file into the DM (with ``text`` typed along with it): a
        ``message.im`` event with subtype ``file_share``."""
        ws = self.fake.workspace
        message = ws.post_message(user.dm, user=user.id, text=text, from_bot=False)
        event = {
            "type": "message",
            "subtype": "file_share",
            "channel": user.dm.id,
            "user": user.id,
            "text": text,
            "files": [{"id": f"F{next(self._event_ids):08X}", "name": name,
                       "mimetype": "image/jpeg", "filetype": "jpg", "user": user.id}],
            "upload": False,
            "ts": message.ts,
            "event_ts": message.ts,
            "channel_type": "im",
            "team": ws.team_id,
        }
        return await self.send_event(event)

    async def url_verification(
        self, challenge: str = "fake-challenge", *, signing: Signing = Signing.VALID
    ) -> BoltReply:
        """Slack's endpoint check; a bolt app answers ``{"challenge": ...}``."""
        payload = {
            "token": LEGACY_VERIFICATION_TOKEN,
            "challenge": challenge,
            "type": "url_verification",
        }
        request = self.build(
            "url_verification", json.dumps(payload).encode(), JSON, payload=payload, signing=signing
        )
        return await self.send(request, apply_effects=False)


def apply_interaction_reply(
    workspace: SlackWorkspace, user: SimulatedUser, kind: str, reply_body: str
) -> None:
    """Show what Slack shows after the app's HTTP answer to an interaction.

    A slash command's non-empty answer becomes an ephemeral (or in_channel) message; a
    view_submission answer closes the modal or shows its errors (``response_action`` update,
    push and clear are not modelled).
    """
    ws = workspace
    body: Any = None
    if reply_body.strip():
        try:
            body = json.loads(reply_body)
        except ValueError:
            body = {"text": reply_body}
    if kind == "slash_command":
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return
        if body.get("response_type") == "in_channel":
            ws.post_message(
                user.dm,
                user=ws.bot_user_id,
                text=body.get("text", ""),
                blocks=body.get("blocks") or [],
            )
        else:
            ws.post_ephemeral(
                user.dm, user, text=body.get("text", ""), blocks=body.get("blocks") or []
            )
    elif kind == "view_submission":
        _apply_view_response(ws, user, body if isinstance(body, dict) else {})


def _apply_view_response(ws: SlackWorkspace, user: SimulatedUser, body: Mapping[str, Any]) -> None:
    action = body.get("response_action")
    if action in ("update", "push", "clear"):
        raise NotImplementedError(f"response_action {action!r} is not modelled by the fake")
    if user.modal is None:
        return
    if action == "errors":
        user.modal.errors = dict(body.get("errors") or {})
        user.notifier.notify()
    else:
        ws.close_modal(user)


def _retry_headers(retry_num: int | None, reason: str) -> dict[str, str]:
    if retry_num is None:
        return {}
    return {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}
