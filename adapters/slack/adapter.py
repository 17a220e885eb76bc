"""Slack <-> conductor: bolt requests into neutral events, replies into Web API calls.

Nothing here decides anything about the study. Slack wants every request acknowledged
within 3 seconds, so each listener acks first and only then calls the conductor (which
commits before anything is shown: an expert never sees "recorded" for a lost rating) and
renders its reply through the Web API. bolt runs listeners in tasks it does not track; we
track them ourselves so that :meth:`SlackAdapter.stop` can let in-flight work finish.

De-duplication is ours, not bolt's (bolt accepts an exact replay within its 5-minute
window and ignores ``X-Slack-Retry-Num``): every event carries an ``update_key`` that the
conductor records in the same transaction as the change, from the Events API ``event_id``
or the interaction's ``trigger_id`` (identical when Slack redelivers the same request),
else a hash of the raw body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.protocol import (
    Lanes,
    delivery_error,
    error_code,
    first_header,
    parse_command,
    update_key,
)
from adapters.slack.render import (
    ACTION_PREFIX,
    COMMENT_BLOCK,
    COMMENT_CALLBACK,
    COMMENT_INPUT,
    SLASH_COMMAND,
    comment_modal,
    home_view,
    notice_text,
    render,
    unescape,
)
from adapters.slack.settings import SlackSection
from adapters.slack.workspace import Installation, Malformed, check, foreign
from bot.chat.cards import Card, Document, Prompt, Reply
from bot.chat.events import Attached, Command, Event, Joined, Pressed, Texted
from bot.chat.ports import DeliveryError, Dialogue
from engine.enrolment import PlatformUser
from engine.visible import is_blank

log = logging.getLogger(__name__)

COMMAND = SLASH_COMMAND
EVENTS_PATH = "/slack/events"
DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_HOST = "127.0.0.1"  # Slack needs https: a reverse proxy terminates TLS in front
DRAIN_SECONDS = 10.0
ELSEWHERE = ("I answer in our direct messages (the bot's Messages tab), so your answers stay "
             "private.")
FOREIGN = "This app answers only the Slack workspace it was set up for."
SORRY = ("Sorry, something went wrong on our side. Nothing you already saw as recorded is "
         "lost; please try again, or send /delphi ballot.")


class SlackAdapter:
    """One Slack workspace: bolt's endpoint (or socket) in, the Web API out."""

    platform = "slack"

    def __init__(self, dialogue: Dialogue, settings: SlackSection, *,
                 host: str | None = None, port: int | None = None,
                 reply_rate_limit_retries: int = 2) -> None:
        self.dialogue = dialogue
        self.settings = settings
        self.mode = settings.mode
        self.host = host or str(getattr(settings, "listen", "") or DEFAULT_HOST)
        self.port = settings.port if port is None else port
        token = settings.bot_token.get_secret_value()
        api_url = settings.api_url or DEFAULT_API_URL
        # Direct replies wait out a 429 (the expert is looking at the chat); the outbox
        # client does not: deliver() reports retry_after and the outbox reschedules.
        self.client = AsyncWebClient(token=token, base_url=api_url, retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            AsyncRateLimitErrorRetryHandler(max_retry_count=reply_rate_limit_retries)])
        self.outbox_client = AsyncWebClient(token=token, base_url=api_url)
        self.app = AsyncApp(client=self.client,
                            signing_secret=settings.signing_secret.get_secret_value(),
                            process_before_response=False)
        secret = settings.signing_secret.get_secret_value()
        self._verifier = SignatureVerifier(secret) if secret else None  # HTTP mode only
        self.installation: Installation | None = None  # known once start() ran auth.test
        self.app.use(_WorkspaceGuard(self))
        self.app.command(COMMAND)(self._on_command)
        self.app.action(re.compile(rf"^{re.escape(ACTION_PREFIX)}"))(self._on_press)
        self.app.view(COMMENT_CALLBACK)(self._on_comment)
        self.app.event("app_home_opened")(self._on_home_opened)
        self.app.event("message")(self._on_message)
        self.lanes = Lanes()
        self._dms: dict[str, str] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.socket: AsyncSocketModeHandler | None = None
        self.url: str | None = None

    # --- lifecycle --------------------------------------------------------------------

    @staticmethod
    def invite_form(token: str) -> str:
        """The same for every workspace, so known before the adapter starts."""
        return f"{COMMAND} join {token}"

    async def start(self) -> None:
        """Check the bot token with Slack (auth.test: a rejected token or an unreachable
        Web API stops `delphi run` at once with one sentence, not at the first message),
        then serve bolt's endpoint (HTTP mode) or connect with the app-level token."""
        self._session = aiohttp.ClientSession()
        self.client.session = self.outbox_client.session = self._session
        try:
            auth = await self.outbox_client.auth_test()
            self.installation = self._installation(auth.data if isinstance(auth.data, dict)
                                                   else {})
            if self.mode == "socket":
                self.socket = self.socket_handler()
                await self.socket.connect_async()  # type: ignore[no-untyped-call]
            else:
                await self._serve_http()
        except BaseException:
            await self.stop()
            raise

    def _installation(self, auth: Mapping[str, Any]) -> Installation:
        """The ids this bot serves: the config's, else what auth.test says of the token."""
        settings = self.settings
        learned = Installation(str(auth.get("team_id") or ""), auth.get("app_id") or None,
                               auth.get("enterprise_id") or None)
        ours = Installation(settings.team_id or learned.team_id,
                            settings.app_id or learned.app_id,
                            settings.enterprise_id or learned.enterprise_id)
        if ours != learned:
            log.warning("slack: the configured workspace %s differs from the bot token's %s; "
                        "only requests of the configured one are answered", ours, learned)
        return ours

    def socket_handler(self) -> AsyncSocketModeHandler:
        """bolt's aiohttp Socket Mode handler: requests arrive over a WebSocket and reach the
        same listeners through ``app.async_dispatch`` (no signature: the socket is ours)."""
        return AsyncSocketModeHandler(self.app, app_token=self.settings.app_token
                                      .get_secret_value(), web_client=self.client)

    async def _serve_http(self) -> None:
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._http_request)
        runner = web.AppRunner(web_app, access_log=None, handle_signals=False,
                               shutdown_timeout=DRAIN_SECONDS)
        await runner.setup()
        self._runner = runner
        await web.TCPSite(runner, self.host, self.port).start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}{EVENTS_PATH}"
        log.info("slack: listening on %s", self.url)

    async def _http_request(self, request: web.Request) -> web.Response:
        """bolt checks the signature and the timestamp (401 otherwise) and routes; a body
        that is not what Slack sends is refused first (400 when signed, 401 when not), so
        bolt never parses it."""
        raw = await request.text()
        try:
            try:
                bolt_request = await to_bolt_request(request)  # parses the body once
            except (ValueError, TypeError, AttributeError, LookupError) as error:
                raise Malformed(f"bolt cannot parse it ({type(error).__name__})") from None
            check(bolt_request.body)
        except Malformed as problem:
            if not self._signed(raw, request.headers):
                return web.Response(status=401, text="invalid request")
            log.warning("slack: malformed signed request refused: %s", problem)
            return web.Response(status=400, text="malformed request")
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    def _signed(self, raw: str, headers: Mapping[str, str]) -> bool:
        """Slack's signature over ``raw`` (bolt's own check, for bodies bolt never sees)."""
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature")
        if self._verifier is None or not signature or not timestamp.isascii() \
                or not timestamp.isdigit():
            return False
        return self._verifier.is_valid(body=raw, timestamp=timestamp, signature=signature)

    async def stop(self) -> None:
        """Stop taking requests, let in-flight work finish, release connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
            self.socket = None
        await self._drain()
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = self.outbox_client.session = None

    async def settle(self) -> None:
        """Wait until no request is being handled: what tests and benchmarks wait for
        instead of sleeping (the HTTP answer comes back at the ack, before the work)."""
        await _let_listeners_start()
        current = asyncio.current_task()
        while pending := {t for t in self._inflight if t is not current and not t.done()}:
            await asyncio.wait(pending)
            await _let_listeners_start()

    async def _drain(self) -> None:
        await _let_listeners_start()
        current = asyncio.current_task()
        pending = {t for t in self._inflight if t is not current and not t.done()}
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=DRAIN_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    # --- requests -> events -----------------------------------------------------------
    # Each listener registers its task before it acks, so once Slack has its answer the
    # work is visible to stop(); then it runs in the user's lane, errors caught here.

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _in_lane(self, user_id: str, work: Coroutine[Any, Any, None]) -> None:
        async with self.lanes.lane(user_id):
            try:
                await work
            except SlackApiError as error:  # e.g. conversations.open for an unknown user
                log.warning("slack: request from %r not handled: Slack answered %s",
                            user_id[:40], error_code(error))
                await self._apologise(user_id)
            except Exception:
                log.exception("slack: failed to handle a request from %r", user_id[:40])
                await self._apologise(user_id)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any],
                          request: AsyncBoltRequest) -> None:
        self._track()
        user_id = str(body.get("user_id") or "")
        if self._elsewhere(user_id, body):
            await ack(ELSEWHERE)
        else:
            await ack()
        key = update_key("t", body.get("trigger_id"), request)
        await self._in_lane(user_id, self._command(user_id, body, key))

    def _elsewhere(self, user_id: str, body: Mapping[str, Any]) -> bool:
        """Typed outside the bot's DM? Then say where the answer went."""
        known = self._dms.get(user_id)
        if known is not None:
            return body.get("channel_id") != known
        return body.get("channel_name") != "directmessage"

    async def _command(self, user_id: str, body: Mapping[str, Any], key: str) -> None:
        who = await self._who(user_id, name=body.get("user_name"))
        name, args = parse_command(unescape(str(body.get("text") or "")))
        if name == "join":
            who = replace(who, timezone=await self._timezone(user_id))
        event: Event = (Joined(who, key, args) if name == "join"
                        else Command(who, key, name, args))
        await self._show(who, await self.dialogue.handle(event))

    async def _on_press(self, ack: AsyncAck, body: dict[str, Any],
                        request: AsyncBoltRequest) -> None:
        self._track()
        await ack()
        user_id = str((body.get("user") or {}).get("id") or "")
        key = update_key("t", body.get("trigger_id"), request)
        await self._in_lane(user_id, self._press(user_id, body, key))

    async def _press(self, user_id: str, body: Mapping[str, Any], key: str) -> None:
        action = (body.get("actions") or [{}])[0]
        container = body.get("container") or {}
        pressed: tuple[str, str] | None = None
        hint = None
        if container.get("type") == "message":
            channel, ts = container.get("channel_id"), container.get("message_ts")
            if not isinstance(channel, str) or not channel.startswith("D"):
                await self._elsewhere_notice(user_id, channel)  # a channel or group DM
                return
            if channel and ts and not container.get("is_ephemeral"):
                pressed = (str(channel), str(ts))
            if isinstance(channel, str) and channel.startswith("D"):
                hint = channel  # our buttons only live in our DM with this user
        user = body.get("user") or {}
        who = await self._who(user_id, hint, name=user.get("username") or user.get("name"))
        reply = await self.dialogue.handle(Pressed(who, key, str(action.get("value") or "")))
        await self._show(who, reply, trigger_id=body.get("trigger_id"), pressed=pressed)

    async def _elsewhere_notice(self, user_id: str, channel: object) -> None:
        """A card pressed outside the user's DM with the bot (shared into a channel or a
        group DM): nothing is recorded or edited there; only the presser is told."""
        log.info("slack: press outside a DM refused (%s)", channel)
        if isinstance(channel, str) and channel:
            try:
                await self.client.chat_postEphemeral(channel=channel, user=user_id,
                                                     text=ELSEWHERE)
            except SlackApiError as error:
                log.info("slack: notice not shown: %s", error_code(error))

    async def _on_comment(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                          request: AsyncBoltRequest) -> None:
        self._track()
        values = (view.get("state") or {}).get("values") or {}
        text = ((values.get(COMMENT_BLOCK) or {}).get(COMMENT_INPUT) or {}).get("value") or ""
        if not isinstance(text, str) or is_blank(text):
            await ack(response_action="errors",
                      errors={COMMENT_BLOCK: "Please type your comment as text (it is empty or "
                                             "invisible), or press Cancel."})
            return
        await ack()  # closes the modal
        user_id = str((body.get("user") or {}).get("id") or "")
        try:
            hint = json.loads(view.get("private_metadata") or "{}").get("channel")
        except (ValueError, AttributeError):
            hint = None
        key = update_key("t", body.get("trigger_id"), request)
        await self._in_lane(user_id, self._text(user_id, hint, key, text))

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any],
                          request: AsyncBoltRequest) -> None:
        self._track()
        upload = event.get("subtype") == "file_share" or bool(event.get("files"))
        if (event.get("channel_type") != "im" or (event.get("subtype") and not upload)
                or event.get("bot_id") or not isinstance(event.get("user"), str)
                or not event.get("user")):
            return
        text = unescape(str(event.get("text") or ""))
        user_id = str(event["user"])
        key = update_key("e", body.get("event_id"), request)
        if upload:  # a file is answered (a comment must be typed), never silently dropped
            await self._in_lane(user_id, self._attached(user_id, event.get("channel"), key,
                                                        text))
            return
        await self._in_lane(user_id, self._text(user_id, event.get("channel"), key, text))

    async def _attached(self, user_id: str, hint: object, key: str, caption: str) -> None:
        who = await self._who(user_id, hint if isinstance(hint, str) and hint else None)
        await self._show(who, await self.dialogue.handle(Attached(who, key, "file",
                                                                   caption)))

    async def _text(self, user_id: str, hint: object, key: str, text: str) -> None:
        who = await self._who(user_id, hint if isinstance(hint, str) and hint else None)
        await self._show(who, await self.dialogue.handle(Texted(who, key, text)))

    async def _on_home_opened(self, event: dict[str, Any],
                              request: AsyncBoltRequest) -> None:
        self._track()
        if event.get("tab", "home") != "home" or first_header(request.headers, "x-slack-retry-num"):
            return  # a retry: the first delivery already published the view
        user_id = str(event.get("user") or "")
        channel = event.get("channel")
        if isinstance(channel, str) and channel.startswith("D"):
            self._dms.setdefault(user_id, channel)
        await self._in_lane(user_id, self._publish_home(user_id, str(channel or "")))

    async def _publish_home(self, user_id: str, channel: str) -> None:
        card = await self.dialogue.home(PlatformUser("slack", user_id, channel))
        view = home_view(card, self.dialogue.title)
        try:
            await self.client.views_publish(user_id=user_id, view=view)
        except SlackApiError as error:
            log.warning("slack: views.publish for %s failed: %s", user_id, error_code(error))

    async def _timezone(self, user_id: str) -> str | None:
        """Slack knows each user's time zone; deadlines and quiet hours then use it."""
        try:
            info = await self.client.users_info(user=user_id)
        except SlackApiError as error:
            log.info("slack: users.info for %s failed: %s", user_id, error_code(error))
            return None
        tz = (info.get("user") or {}).get("tz")
        return str(tz) if tz else None

    async def _who(self, user_id: str, hint: str | None = None,
                   name: object = None) -> PlatformUser:
        """The neutral identity; its chat is the DM with the bot (conversations.open once)."""
        if hint:
            self._dms[user_id] = hint
        channel = self._dms.get(user_id)
        if channel is None:
            opened = await self.client.conversations_open(users=user_id)
            channel = str(opened["channel"]["id"])
            self._dms[user_id] = channel
        label = str(name) if name else None
        return PlatformUser("slack", user_id, channel, label, label)

    # --- replies -> Slack --------------------------------------------------------------

    async def _show(self, who: PlatformUser, reply: Reply, *, trigger_id: object = None,
                    pressed: tuple[str, str] | None = None) -> None:
        """Render a committed reply; a failed call is logged, the state is already safe."""
        send = list(reply.send)
        if (reply.prompt is not None and isinstance(trigger_id, str)
                and await self._open_prompt(trigger_id, reply.prompt, who.chat_id)):
            send = []  # the modal replaces "send your comment as a message"
        try:
            if reply.edit is not None:
                if pressed is not None:
                    await self._update(pressed, reply.edit)
                else:  # pressed on the Home tab: there is no message to replace
                    send.insert(0, reply.edit)
            await self._post(self.client, who.chat_id, send)
            await self._upload(self.client, who.chat_id, reply.documents)
            if reply.alert and reply.toast and reply.edit is None and not send:
                await self.client.chat_postEphemeral(channel=who.chat_id, user=who.user_id,
                                                     text=notice_text(reply.toast))
        except SlackApiError as error:
            log.warning("slack: reply to %s not shown: %s", who.user_id, error_code(error))

    async def _open_prompt(self, trigger_id: str, prompt: Prompt, channel: str) -> bool:
        try:
            await self.client.views_open(trigger_id=trigger_id,
                                         view=comment_modal(prompt, {"channel": channel}))
        except SlackApiError as error:  # e.g. expired_trigger_id: fall back to a message
            log.info("slack: comment modal not opened: %s", error_code(error))
            return False
        return True

    async def _update(self, pressed: tuple[str, str], card: Card) -> None:
        channel, ts = pressed
        first, *rest = render(card)
        await self.client.chat_update(channel=channel, ts=ts, text=first.text,
                                      blocks=first.blocks)
        for message in rest:
            await self.client.chat_postMessage(channel=channel, text=message.text,
                                               blocks=message.blocks)

    @staticmethod
    async def _post(client: AsyncWebClient, channel: str, cards: list[Card]) -> None:
        for card in cards:
            if card.image is not None:  # a picture card: an uploaded image with its text
                text = render(card)[0].text if card.heading or card.sections else None
                await client.files_upload_v2(channel=channel, content=card.image.content,
                                             filename=card.image.filename,
                                             title=card.image.filename, initial_comment=text)
                continue
            for message in render(card):
                await client.chat_postMessage(channel=channel, text=message.text,
                                              blocks=message.blocks)

    @staticmethod
    async def _upload(client: AsyncWebClient, channel: str,
                      documents: list[Document]) -> None:
        for document in documents:
            await client.files_upload_v2(channel=channel, content=document.content,
                                         filename=document.filename,
                                         title=document.caption or document.filename)

    async def _apologise(self, user_id: str) -> None:
        channel = self._dms.get(user_id)
        if channel is None:
            return
        try:
            await self.client.chat_postEphemeral(channel=channel, user=user_id, text=SORRY)
        except Exception:  # the apology is best effort; the error is already logged
            log.debug("slack: apology to %s failed", user_id, exc_info=True)

    # --- outbox delivery ------------------------------------------------------------

    async def deliver(self, address: str, cards: list[Card],
                      documents: list[Document] | None = None) -> None:
        try:
            await self._post(self.outbox_client, address, cards)
            await self._upload(self.outbox_client, address, documents or [])
        except SlackApiError as error:
            raise delivery_error(error) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DeliveryError(f"slack: network error: {error!r}") from error


class _WorkspaceGuard(AsyncMiddleware):
    """bolt middleware (after the signature check, HTTP and Socket Mode alike): a request
    of another team, app or enterprise is refused and reaches no listener.

    A middleware object rather than a function: for a function bolt builds every listener
    argument (each payload reader among them) on every request, to pass the two it asks
    for."""

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]
                            ) -> BoltResponse | None:
        installation = self.adapter.installation
        reason = None if installation is None else foreign(req.body, installation)
        if reason is not None:
            log.warning("slack: request refused: %s", reason)
            return BoltResponse(status=403, body=FOREIGN)
        return await next()


async def _let_listeners_start() -> None:
    """Give listener tasks that bolt has just created a turn of the loop.

    For Events API requests bolt acks before it creates the listener task, so the answer
    can be out before the listener has run its first line (where it registers itself).
    A created task runs up to that line on its first turn; two turns leave a margin.
    """
    for _ in range(2):
        await asyncio.sleep(0)
