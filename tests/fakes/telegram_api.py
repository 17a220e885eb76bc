"""A loopback fake of the Telegram Bot API for end-to-end tests of the real bot stack.

The bot talks to it through python-telegram-bot exactly as it would to Telegram
(``{base_url}{token}/{method}``, form-encoded or multipart, ``{"ok": ..., "result": ...}``
answers), so the adapter, PTB's request layer, polling and webhook handling all run for
real. Simulated users (:class:`SimulatedUser`) send messages, press buttons and read their
chats as a human would; test controls inject failures, flood limits and blocked users.

Typical use::

    async with running_telegram_fake() as fake:
        app = (ApplicationBuilder().token(fake.token)
               .base_url(fake.base_url).base_file_url(fake.base_file_url).build())
        ...
        alice = fake.create_user("Alice")
        sent = alice.start("INVITE-TOKEN")
        reply = await alice.wait_for_message(since=sent)
        query = alice.press_button(reply, "Agree")
        await query.wait_answered()

Everything runs in the test's event loop on 127.0.0.1 with an ephemeral port; nothing here
sleeps to synchronise, waiting is on :class:`~tests.fakes.telegram_model.Signal` s.

Modules: ``telegram_model`` (users, chats, messages), ``telegram_markup`` (HTML
parsing), ``telegram_rules`` (request decoding, validation, error texts),
``telegram_controls`` (failures, flood limits, call records), ``telegram_updates``
(getUpdates queue, webhook sender) and this module (the HTTP server and the Bot API methods).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import mimetypes
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Final

from aiohttp import web

from tests.fakes import telegram_rules as rules
from tests.fakes.telegram_controls import (
    ApiCall,
    ApiError,
    FailurePlan,
    HoldPlan,
    InjectedFailure,
    RateLimiter,
    UploadedFile,
    WebhookDelivery,
)
from tests.fakes.telegram_model import (
    CallbackQueryRecord,
    ChatMessage,
    GroupChat,
    InlineButton,
    Signal,
    SimulatedUser,
    StoredFile,
    wait_for,
)
from tests.fakes.telegram_rules import Params
from tests.fakes.telegram_updates import UpdateQueue, WebhookSender

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "CallbackQueryRecord",
    "ChatMessage",
    "FakeTelegram",
    "GroupChat",
    "InjectedFailure",
    "InlineButton",
    "SimulatedUser",
    "StoredFile",
    "WebhookDelivery",
    "running_telegram_fake",
]

JsonDict = dict[str, Any]
Handler = Callable[[Params, dict[str, UploadedFile]], Any]

DEFAULT_TOKEN: Final = "123456789:AAF-fake-token-for-loopback-tests_0123"
_MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024
_CONFLICT_WEBHOOK: Final = ("Conflict: can't use getUpdates method while webhook is active; "
                            "use deleteWebhook to delete the webhook first")
_CONFLICT_POLL: Final = ("Conflict: terminated by other getUpdates request; make sure that "
                         "only one bot instance is running")


class FakeTelegram:
    """The fake Bot API server, its simulated users and its test controls.

    Args:
        token: the bot token; requests with another token get 401 like the real API.
        clock: monotonic clock for callback-query expiry and flood limits (inject a manual
            clock to test them without waiting).
        callback_query_ttl: seconds after which an unanswered button press can no longer be
            answered ("query is too old").
        webhook_max_attempts / webhook_retry_delay: how often an update the webhook refused
            is re-sent before it is dropped (Telegram retries for hours; tests want an end).
        record_calls: keep an :class:`ApiCall` per request (switch off in big benchmarks;
            :attr:`failed_calls` still counts every refused request).
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, bot_username: str = "delphi_test_bot",
                 bot_first_name: str = "Delphi Test Bot",
                 clock: Callable[[], float] = time.monotonic,
                 callback_query_ttl: float = 15.0, webhook_max_attempts: int = 1,
                 webhook_retry_delay: float = 0.05, webhook_timeout: float = 10.0,
                 record_calls: bool = True) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_user: JsonDict = {
            "id": int(prefix) if prefix.isdigit() else 1, "is_bot": True,
            "first_name": bot_first_name, "username": bot_username, "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False,
            "can_connect_to_business": False, "has_main_web_app": False,
        }
        self.callback_query_ttl = callback_query_ttl
        self.record_calls = record_calls
        self._clock = clock
        self.failures = FailurePlan()
        self.holds = HoldPlan()
        self.rate_limits = RateLimiter(clock)
        self._queue = UpdateQueue()
        self.webhook = WebhookSender(self._queue, clock, max_attempts=webhook_max_attempts,
                                     retry_delay=webhook_retry_delay, timeout=webhook_timeout)
        self._users: dict[int, SimulatedUser] = {}
        self._groups: dict[int, GroupChat] = {}
        self._group_ids = itertools.count(-1_001_000_000_001, -1)
        self._user_ids = itertools.count(10_000_001)
        self._queries: dict[str, CallbackQueryRecord] = {}
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        #: the command menu the bot set with ``setMyCommands`` (default scope and language)
        self.commands: list[JsonDict] = []
        self._calls_by_method: dict[str, list[ApiCall]] = {}
        self._calls_changed = Signal()
        #: every answer other than 200, by (method, status, description); kept even with
        #: ``record_calls=False``, so a long benchmark can still count its failures
        self.failed_calls: collections.Counter[tuple[str, int, str]] = collections.Counter()
        self._poll_generation = 0
        self._parked_polls = 0
        self._polls_changed = Signal()
        self._closing = False
        #: exceptions raised by the fake itself (a bug here, not in the bot); answered 500
        self.internal_errors: list[Exception] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._methods: dict[str, Handler] = {
            "getme": lambda _p, _f: self.bot_user,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "answercallbackquery": self._answer_callback_query,
            "senddocument": lambda p, f: self._send_file(p, f, "document"),
            "sendphoto": lambda p, f: self._send_file(p, f, "photo"),
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "setmycommands": self._set_my_commands,
        }

    # lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 with an ephemeral port (must run in the test's loop)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        # handler_cancellation: a long poll whose client went away must not linger
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        await self.webhook.start()

    async def stop(self) -> None:
        """Release pending long polls, stop webhook delivery and close the server."""
        self._closing = True
        self._queue.signal.notify()
        await self.webhook.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``: PTB appends ``{token}/{method}``."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``; the fake serves no downloads (the
        bot never fetches a file), so this only keeps PTB away from the real server."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    # users ---------------------------------------------------------------------------------

    def create_user(self, first_name: str | None = None, *, username: str | None = None,
                    user_id: int | None = None, last_name: str | None = None,
                    language_code: str | None = "en", started: bool = False) -> SimulatedUser:
        """A new user with a private chat. The bot may write to them only after they wrote
        to it (e.g. ``/start``), unless ``started`` says they already did."""
        uid = user_id if user_id is not None else next(self._user_ids)
        if uid in self._users:
            raise ValueError(f"user {uid} exists already")
        user = SimulatedUser(self, uid, first_name or f"User {uid}", username=username,
                             last_name=last_name, language_code=language_code, started=started)
        self._users[uid] = user
        return user

    def create_users(self, count: int, *, prefix: str = "Expert",
                     started: bool = False) -> list[SimulatedUser]:
        """``count`` users named "Expert 1"... with usernames expert_1..., for panels."""
        return [self.create_user(f"{prefix} {n}", username=f"{prefix.lower()}_{n}",
                                 started=started)
                for n in range(1, count + 1)]

    def create_group(self, title: str = "Panel group", *,
                     supergroup: bool = False) -> GroupChat:
        """A group (or supergroup) with the bot in it; its chat id is negative, as in
        Telegram."""
        group = GroupChat(self, next(self._group_ids), title,
                          "supergroup" if supergroup else "group")
        self._groups[group.id] = group
        return group

    def user(self, user_id: int) -> SimulatedUser:
        return self._users[user_id]

    # UserHost protocol (called by SimulatedUser) -------------------------------------------

    def push_update(self, kind: str, payload: JsonDict) -> int:
        return self._queue.push(kind, payload)

    def register_callback_query(self, user: SimulatedUser, message: ChatMessage,
                                data: str) -> CallbackQueryRecord:
        query = CallbackQueryRecord(str(4_000_000_000_000_000 + next(self._query_ids)),
                                    user.id, message.message_id, data, self._clock())
        self._queries[query.id] = query
        return query

    # test controls -------------------------------------------------------------------------

    def inject_failure(self, failure: InjectedFailure, *, method: str | None = None,
                       chat_id: int | None = None, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (any if ``None``) to ``chat_id`` (any if
        ``None``) fail with ``failure``, e.g. ``InjectedFailure.flood(retry_after=1)``."""
        self.failures.inject(failure, method=method, chat_id=chat_id, times=times)

    def hold_chats(self, chat_ids: Iterable[int]) -> None:
        """Calls to these chats wait, unprocessed, until :meth:`release_chats` (see
        :class:`HoldPlan`); :attr:`holds` ``.waiting`` counts the calls held."""
        self.holds.hold(chat_ids)

    def release_chats(self) -> None:
        self.holds.release()

    def override_webhook_secret(self, secret: str | None) -> None:
        """Deliver webhook updates with this secret header (``None``: without the header)."""
        self.webhook.override_secret(secret)

    # records and waiting -------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        """Calls of one method (case-insensitive), oldest first."""
        return list(self._calls_by_method.get(method.lower(), ()))

    def clear_calls(self) -> None:
        self._calls_by_method.clear()

    async def wait_for_call(self, method: str, predicate: Callable[[ApiCall], bool] | None = None,
                            *, timeout: float = 5.0) -> ApiCall:  # noqa: ASYNC109
        """The first recorded call of ``method`` matching ``predicate``, waiting if needed."""
        def probe() -> ApiCall | None:
            calls = self._calls_by_method.get(method.lower(), ())
            return next((call for call in calls if predicate is None or predicate(call)), None)

        return await wait_for(self._calls_changed, probe, limit=timeout,
                              describe=lambda: f"no matching {method} call among "
                              f"{len(self.calls_to(method))}")

    async def wait_until_polling(self, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a ``getUpdates`` long poll is parked here, i.e. the bot is polling and
        the next user action will be answered at once rather than at the next poll."""
        await wait_for(self._polls_changed, lambda: True if self._parked_polls else None,
                       limit=timeout, describe=lambda: "no getUpdates long poll arrived")

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        return list(self.webhook.deliveries)

    async def wait_for_webhook_delivery(self, update_id: int, *, attempt: int = 1,
                                        timeout: float = 5.0,  # noqa: ASYNC109
                                        ) -> WebhookDelivery:
        """The ``attempt``-th POST of ``update_id`` to the webhook (1 = the first), waiting
        for it if needed; its ``status`` is what the bot's server answered."""
        def probe() -> WebhookDelivery | None:
            attempts = self.webhook.deliveries_for(update_id)
            return attempts[attempt - 1] if len(attempts) >= attempt else None

        return await wait_for(self.webhook.delivered, probe, limit=timeout,
                              describe=lambda: f"update {update_id} was not delivered "
                              f"(webhook {self.webhook.url!r})")

    # HTTP ----------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        try:
            params, files = await _read_request(request)
        except ValueError:
            error = ApiError.bad_request("can't parse request body")
            return web.json_response(error.body(), status=error.status)
        call = ApiCall(method, params.decoded(), self._clock(), files)
        try:
            result = await self._dispatch(method.lower(), params, files)
        except ApiError as error:
            call.status, call.description = error.status, error.description
            self._record(call)
            if error.raw_body is not None:
                return web.Response(status=error.status, text=error.raw_body,
                                    content_type="text/html")
            return web.json_response(error.body(), status=error.status)
        except asyncio.CancelledError:
            call.status, call.description = 499, "client closed the connection"
            self._record(call)
            raise
        except Exception as exc:  # a bug in the fake: make it visible, not a hang
            self.internal_errors.append(exc)
            call.status, call.description = 500, f"fake internal error: {exc!r}"
            self._record(call)
            return web.json_response({"ok": False, "error_code": 500,
                                      "description": call.description}, status=500)
        call.status, call.result = 200, result
        self._record(call)
        return web.json_response({"ok": True, "result": result})

    async def _dispatch(self, method: str, params: Params,
                        files: dict[str, UploadedFile]) -> Any:
        chat_id = params.chat_id_or_none()
        await self.holds.wait(chat_id)
        failure = self.failures.take(method, chat_id)
        if failure is not None:
            raise failure.to_error()
        if method == "getupdates":
            return await self._get_updates(params)
        handler = self._methods.get(method)
        if handler is None:
            raise ApiError(404, "Not Found")
        self.rate_limits.check(method, chat_id)
        result = handler(params, files)
        self.rate_limits.record(method, chat_id)
        return result

    def _record(self, call: ApiCall) -> None:
        if call.status != 200:
            self.failed_calls[(call.method, call.status, call.description or "")] += 1
        if not self.record_calls:
            return
        self._calls_by_method.setdefault(call.method.lower(), []).append(call)
        self._calls_changed.notify()

    # getUpdates ----------------------------------------------------------------------------

    async def _get_updates(self, params: Params) -> list[JsonDict]:
        """Long poll: answer as soon as an update is pending, or with ``[]`` at timeout."""
        if self.webhook.url:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        offset = params.get_int("offset")
        if offset:
            self._queue.confirm(offset)
        limit = min(max(params.get_int("limit") or 100, 1), 100)
        timeout = max(params.get_float("timeout") or 0.0, 0.0)
        allowed = params.get_json("allowed_updates", "allowed_updates")
        if isinstance(allowed, list):
            self._queue.allowed = frozenset(allowed) if allowed else None
        self._poll_generation += 1
        generation = self._poll_generation
        self._queue.signal.notify()  # an older long poll ends with 409, as on Telegram
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._closing:
                return []
            if generation != self._poll_generation:
                raise ApiError(409, _CONFLICT_POLL)
            if self.webhook.url:
                raise ApiError(409, _CONFLICT_WEBHOOK)
            batch = self._queue.peek(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            self._parked_polls += 1
            self._polls_changed.notify()
            try:
                await self._queue.signal.wait(remaining)
            finally:
                self._parked_polls -= 1

    # messages ------------------------------------------------------------------------------

    def _chat_user(self, params: Params) -> SimulatedUser:
        if params.get_str("chat_id") in (None, ""):
            raise ApiError.bad_request("chat_id is empty")
        chat_id = params.chat_id_or_none()
        user = self._users.get(chat_id) if chat_id is not None else None
        if user is None:
            raise ApiError.bad_request("chat not found")
        return user

    @staticmethod
    def _ensure_reachable(user: SimulatedUser) -> None:
        if user.blocked:
            raise ApiError.forbidden(rules.BLOCKED)
        if not user.has_started:
            raise ApiError.forbidden(rules.CANT_INITIATE)

    def _post(self, user: SimulatedUser, **content: Any) -> ChatMessage:
        message = ChatMessage(
            message_id=user.chat.next_message_id(), chat=user.chat.api_chat,
            sender=self.bot_user, from_bot=True, date=int(time.time()), **content)
        user.chat.add(message)
        return message

    def _send_message(self, params: Params, _files: dict[str, UploadedFile]) -> JsonDict:
        group = self._groups.get(params.chat_id_or_none() or 0)
        if group is not None:
            text = rules.formatted_text(params)
            message = ChatMessage(
                message_id=group.chat.next_message_id(), chat=group.chat.api_chat,
                sender=self.bot_user, from_bot=True, date=int(time.time()), text=text.text,
                entities=text.entities_list(), reply_markup=rules.reply_markup(params))
            group.chat.add(message)
            return message.to_api()
        user = self._chat_user(params)
        text = rules.formatted_text(params)
        markup = rules.reply_markup(params)
        self._ensure_reachable(user)
        return self._post(user, text=text.text, entities=text.entities_list(),
                          reply_markup=markup).to_api()

    def _message_to_edit(self, params: Params) -> tuple[SimulatedUser, ChatMessage]:
        user = self._chat_user(params)
        message_id = params.get_int("message_id")
        if message_id is None:
            raise ApiError.bad_request("message identifier is not specified")
        message = user.chat.get(message_id)
        if message is None:
            raise ApiError.bad_request("message to edit not found")
        if not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        return user, message

    def _apply_edit(self, user: SimulatedUser, message: ChatMessage, **changes: Any) -> JsonDict:
        """Edit in place, or refuse like Telegram when nothing would change."""
        if all(getattr(message, name) == value for name, value in changes.items()):
            raise ApiError.bad_request(rules.NOT_MODIFIED)
        if user.blocked:
            raise ApiError.forbidden(rules.BLOCKED)
        for name, value in changes.items():
            setattr(message, name, value)
        message.edit_date = int(time.time())
        message.edit_count += 1
        user.chat.changed.notify()
        return message.to_api()

    def _edit_message_text(self, params: Params, _files: dict[str, UploadedFile]) -> JsonDict:
        # Telegram drops the keyboard when an edit does not repeat reply_markup
        text, markup = rules.formatted_text(params), rules.reply_markup(params)
        user, message = self._message_to_edit(params)
        if message.text is None:
            raise ApiError.bad_request("there is no text in the message to edit")
        return self._apply_edit(user, message, text=text.text, entities=text.entities_list(),
                                reply_markup=markup)

    def _answer_callback_query(self, params: Params, _files: dict[str, UploadedFile]) -> bool:
        query = self._queries.get(params.get_str("callback_query_id") or "")
        if query is None or query.answered or (
            self._clock() - query.created_at > self.callback_query_ttl
        ):
            raise ApiError.bad_request(rules.QUERY_TOO_OLD)
        text = params.get_str("text")
        if text is not None and len(text) > rules.MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError.bad_request("MESSAGE_TOO_LONG")
        query.mark_answered(text or None, params.get_bool("show_alert"))
        user = self._users.get(query.user_id)
        if user is not None:
            user.chat.changed.notify()
        return True

    # files ---------------------------------------------------------------------------------

    def _send_file(self, params: Params, files: dict[str, UploadedFile], kind: str) -> JsonDict:
        stored = self._input_file(params, files, kind)
        caption, markup = rules.formatted_caption(params), rules.reply_markup(params)
        user = self._chat_user(params)
        self._ensure_reachable(user)
        return self._post(user, caption=caption.text or None,
                          caption_entities=caption.entities_list(), reply_markup=markup,
                          **{kind: stored}).to_api()

    def _input_file(self, params: Params, files: dict[str, UploadedFile], kind: str) -> StoredFile:
        """The multipart part named ``kind``: the bot always uploads its bytes (re-sending by
        ``file_id`` or URL is not modelled)."""
        upload = files.get(kind)
        if upload is None:
            raise ApiError.bad_request(f"there is no {kind} in the request")
        if len(upload.data) > _MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        return self._store(upload, kind)

    def _store(self, upload: UploadedFile, kind: str) -> StoredFile:
        number = next(self._file_ids)
        name = upload.filename or f"file_{number}"
        mime = upload.content_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(name)[0] or mime
        return StoredFile(
            file_id=f"{kind.upper()}-fake-{number:06d}", file_unique_id=f"uniq{number:06d}",
            file_name=name if kind == "document" else None, mime_type=mime, data=upload.data)

    # webhook -------------------------------------------------------------------------------

    def _set_webhook(self, params: Params, _files: dict[str, UploadedFile]) -> bool:
        url = params.get_str("url") or ""
        secret = rules.webhook_secret(params)
        allowed = params.get_json("allowed_updates", "allowed_updates")
        if url and not url.startswith(("http://", "https://")):
            raise ApiError.bad_request("bad webhook: invalid webhook URL specified")
        if not url:
            self.webhook.clear()
            return True
        if isinstance(allowed, list):
            self._queue.allowed = frozenset(allowed) if allowed else None
        self.webhook.configure(url, secret)
        return True

    def _delete_webhook(self, params: Params, _files: dict[str, UploadedFile]) -> bool:
        self.webhook.clear()
        return True

    # commands ------------------------------------------------------------------------------

    def _set_my_commands(self, params: Params, _files: dict[str, UploadedFile]) -> bool:
        self.commands = rules.bot_commands(params)
        return True


async def _read_request(request: web.Request) -> tuple[Params, dict[str, UploadedFile]]:
    """Query string plus a form, multipart or JSON body, as the real API accepts."""
    raw: JsonDict = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.body_exists:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                raw.update(body)
        else:
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    with contextlib.closing(value.file):
                        data = value.file.read()
                    files[name] = UploadedFile(name, value.filename, value.content_type, data)
                else:
                    raw[name] = value if isinstance(value, str) else bytes(value).decode()
    return Params(raw), files


@contextlib.asynccontextmanager
async def running_telegram_fake(token: str = DEFAULT_TOKEN,
                                **options: Any) -> AsyncIterator[FakeTelegram]:
    """Start a :class:`FakeTelegram` on a loopback port for the duration of the block.

    ``options`` go to :class:`FakeTelegram` (``clock``, ``callback_query_ttl``...).
    """
    fake = FakeTelegram(token, **options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()

