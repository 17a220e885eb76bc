"""Slack's rules for each Web API method the bot uses, applied to a ``SlackWorkspace``.

Kept apart from the HTTP server (``slack_api``) so that what a method *means* (which error
for which mistake, what it changes, what it answers) is in one place, independent of
transport, authentication and the test controls around it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from .slack_blockkit import MESSAGE_TEXT_LIMIT, validate_blocks, validate_view
from .slack_state import FakeChannel, FakeFile, FakeMessage, SimulatedUser, SlackWorkspace

TRIGGER_TTL = 3.0  # seconds a trigger_id stays valid for views.open


class SlackApiFailure(Exception):
    """Raised inside a method implementation to answer ``{"ok": false, "error": ...}``."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


class Params(dict[str, Any]):
    """Merged query/form/JSON parameters; JSON values may arrive as strings (form encoding)."""

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else str(value)

    def required(self, name: str, error: str = "invalid_arguments") -> str:
        value = self.get(name)
        if value is None or value == "":
            raise SlackApiFailure(error, extra=_messages(f"missing required field: {name}"))
        return str(value)

    def structured(self, name: str, error: str) -> Any:
        """A JSON parameter that form-encoding clients send as a string."""
        value = self.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise SlackApiFailure(error) from None
        return value


def _messages(*problems: str) -> dict[str, Any]:
    return {
        "errors": list(problems),
        "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]},
    }


def _block_failure(problems: list[str]) -> SlackApiFailure:
    return SlackApiFailure("invalid_blocks", extra=_messages(*problems))


MethodImpl = Callable[[Params], dict[str, Any]]


class SlackWebMethods:
    """The implemented Web API methods; each takes merged parameters and returns the
    answer's fields (``ok`` is added by the server) or raises ``SlackApiFailure``."""

    def __init__(self, workspace: SlackWorkspace, *, trigger_ttl: float = TRIGGER_TTL) -> None:
        self.workspace = workspace
        self.trigger_ttl = trigger_ttl
        self.base_url = ""  # set by the server once it listens; upload URLs point there
        self._uploads: dict[str, str] = {}  # upload key -> file id
        self.table: dict[str, MethodImpl] = {
            "auth.test": self._auth_test,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }

    @property
    def clock_now(self) -> float:
        return self.workspace.clock.now()

    def store_upload(self, key: str, data: bytes) -> bool:
        """Bytes POSTed to an upload URL; False if the URL was never issued or already used."""
        file_id = self._uploads.pop(key, None)
        if file_id is None:
            return False
        self.workspace.files[file_id].content = data
        return True

    # -- resolving ---------------------------------------------------------------------------

    def resolve_channel_id(self, channel: Any) -> str | None:
        """Channel ids pass through; a user id means the bot's DM with that user."""
        if not isinstance(channel, str):
            return None
        user = self.workspace.users.get(channel)
        return user.dm.id if user is not None else channel

    def _channel_for_posting(self, params: Params, key: str = "channel"
                             ) -> tuple[FakeChannel, SimulatedUser | None]:
        channel_id = self.resolve_channel_id(params.required(key, "channel_not_found"))
        channel = self.workspace.channels.get(channel_id or "")
        if channel is None:
            raise SlackApiFailure("channel_not_found")
        owner = self.workspace.dm_owner(channel.id)
        if owner is not None:
            self._check_user_reachable(owner, missing="channel_not_found")
        return channel, owner

    def _user_param(self, params: Params, name: str) -> SimulatedUser:
        user_id = params.required(name, "user_not_found")
        user = self.workspace.users.get(user_id)
        if user is None or user.deleted:
            raise SlackApiFailure("user_not_found")
        return user

    @staticmethod
    def _check_user_reachable(user: SimulatedUser, *, missing: str) -> None:
        if user.deleted:
            raise SlackApiFailure(missing)
        if user.inactive_error is not None:
            raise SlackApiFailure(user.inactive_error)

    # -- methods: auth, conversations, users -------------------------------------------------

    def _auth_test(self, params: Params) -> dict[str, Any]:
        ws = self.workspace
        return {
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": "delphi",
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "app_id": ws.app_id,
            "is_enterprise_install": False,
        }

    def _conversations_open(self, params: Params) -> dict[str, Any]:
        """The bot's DM with one user (``users=U123``); group DMs are not modelled."""
        raw = params.required("users", "users_list_not_supplied")
        user_ids = [u.strip() for u in raw.split(",") if u.strip()]
        if len(user_ids) != 1:
            raise SlackApiFailure("not_supported_by_fake", extra=_messages("only 1:1 DMs"))
        user = self.workspace.users.get(user_ids[0])
        if user is None or user.deleted:
            raise SlackApiFailure("user_not_found")
        self._check_user_reachable(user, missing="user_not_found")
        channel = user.dm
        already_open = channel.opened
        channel.opened = True
        result: dict[str, Any] = {"channel": {"id": channel.id}}
        if already_open:
            result.update({"no_op": True, "already_open": True})
        return result

    def _users_info(self, params: Params) -> dict[str, Any]:
        user = self._user_param(params, "user")
        return {"user": user.to_api()}

    # -- methods: chat ------------------------------------------------------------------------

    def _message_content(
        self, params: Params, *, require_content: bool
    ) -> tuple[str | None, list[dict[str, Any]] | None]:
        text = params.text("text")
        blocks = params.structured("blocks", "invalid_blocks_format")
        if blocks is not None:
            problems = validate_blocks(blocks, "message")
            if problems:
                raise _block_failure(problems)
        if require_content and not text and not blocks:
            raise SlackApiFailure("no_text")
        if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
            raise SlackApiFailure("msg_too_long")
        return text, blocks

    def _chat_post_message(self, params: Params) -> dict[str, Any]:
        channel, _ = self._channel_for_posting(params)
        text, blocks = self._message_content(params, require_content=True)
        message = self.workspace.post_message(
            channel, user=self.workspace.bot_user_id, text=text or "", blocks=blocks or []
        )
        return {"channel": channel.id, "ts": message.ts, "message": message.to_payload()}

    def _existing_bot_message(self, params: Params) -> FakeMessage:
        channel, _ = self._channel_for_posting(params)
        ts = params.required("ts", "message_not_found")
        message = channel.messages.get(ts)
        if message is None:
            raise SlackApiFailure("message_not_found")
        if not message.from_bot:
            raise SlackApiFailure("cant_update_message")
        return message

    def _chat_update(self, params: Params) -> dict[str, Any]:
        message = self._existing_bot_message(params)
        text, blocks = self._message_content(params, require_content=False)
        self.workspace.update_message(message, text=text, blocks=blocks)
        return {
            "channel": message.channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_payload(),
        }

    def _chat_post_ephemeral(self, params: Params) -> dict[str, Any]:
        channel, owner = self._channel_for_posting(params)
        user = self._user_param(params, "user")
        if owner is not None and owner is not user:
            raise SlackApiFailure("user_not_in_channel")
        self._check_user_reachable(user, missing="user_not_found")
        text, blocks = self._message_content(params, require_content=True)
        message = self.workspace.post_ephemeral(channel, user, text=text or "", blocks=blocks or [])
        return {"message_ts": message.ts}

    # -- methods: views ----------------------------------------------------------------------

    def _view_spec(self, params: Params, *, publish: bool) -> dict[str, Any]:
        spec = params.structured("view", "invalid_arguments")
        if spec is None:
            raise SlackApiFailure(
                "invalid_arguments", extra=_messages("missing required field: view")
            )
        argument_errors, block_errors = validate_view(spec, publish=publish)
        if argument_errors:
            raise SlackApiFailure("invalid_arguments", extra=_messages(*argument_errors))
        if block_errors:
            raise _block_failure(block_errors)
        if not isinstance(spec, dict):  # for the type checker; validate_view rejected it
            raise SlackApiFailure("invalid_arguments")
        return spec

    def _exchange_trigger(self, params: Params) -> SimulatedUser:
        trigger_id = params.text("trigger_id") or params.text("interactivity_pointer")
        if trigger_id is None:
            raise SlackApiFailure(
                "invalid_arguments", extra=_messages("missing required field: trigger_id")
            )
        trigger = self.workspace.triggers.get(trigger_id)
        if trigger is None:
            raise SlackApiFailure("invalid_trigger_id")
        if self.clock_now - trigger.issued_at > self.trigger_ttl:
            raise SlackApiFailure("expired_trigger_id")
        if trigger.used:
            raise SlackApiFailure("exchanged_trigger_id")
        user = self.workspace.users[trigger.user_id]
        self._check_user_reachable(user, missing="user_not_found")
        trigger.used = True
        return user

    def _views_open(self, params: Params) -> dict[str, Any]:
        spec = self._view_spec(params, publish=False)
        user = self._exchange_trigger(params)
        view = self.workspace.build_view(user, spec)
        self.workspace.open_modal(user, view)
        return {"view": view.to_payload()}

    def _views_publish(self, params: Params) -> dict[str, Any]:
        user = self._user_param(params, "user_id")
        self._check_user_reachable(user, missing="user_not_found")
        spec = self._view_spec(params, publish=True)
        view_id = user.home.id if user.home is not None else None
        view = self.workspace.build_view(user, spec, view_id=view_id)
        self.workspace.publish_home(user, view)
        return {"view": view.to_payload()}

    # -- methods: files ----------------------------------------------------------------------

    def _files_get_upload_url(self, params: Params) -> dict[str, Any]:
        filename = params.required("filename")
        try:
            length = int(params.required("length"))
        except ValueError:
            raise SlackApiFailure(
                "invalid_arguments", extra=_messages("length must be an integer")
            ) from None
        file = FakeFile(
            id=self.workspace.new_id("F"),
            filename=filename,
            length=length,
            user=self.workspace.bot_user_id,
            created=int(time.time()),
        )
        self.workspace.files[file.id] = file
        key = f"{file.id}-{secrets.token_urlsafe(12)}"
        self._uploads[key] = file.id
        return {"upload_url": f"{self.base_url}upload/v1/{key}", "file_id": file.id}

    def _files_complete_upload(self, params: Params) -> dict[str, Any]:
        """Share uploaded files into ``channel_id`` (the bot always names its DM channel)."""
        entries = params.structured("files", "invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise SlackApiFailure(
                "invalid_arguments", extra=_messages("files must be a non-empty array")
            )
        files: list[FakeFile] = []
        for entry in entries:
            file = (
                self.workspace.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            )
            if file is None or not file.uploaded:
                raise SlackApiFailure("file_not_found")
            if entry.get("title"):
                file.title = str(entry["title"])
            files.append(file)
        channel, owner = self._channel_for_posting(params, "channel_id")
        comment = params.text("initial_comment")
        for file in files:
            file.initial_comment = comment
            file.channels.append(channel.id)
        self.workspace.post_message(
            channel,
            user=self.workspace.bot_user_id,
            text=comment or "",
            files=[f.to_api() for f in files],
        )
        if owner is not None:
            for file in files:
                self.workspace.deliver_file(owner, file)
        return {"files": [f.to_api() for f in files]}
