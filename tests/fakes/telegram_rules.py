"""Request decoding and the Bot API's validation rules, as the Telegram fake enforces them.

The real API answers a bad request with a specific ``description``; PTB turns it into an
exception whose message our bot may inspect (e.g. to treat "message is not modified" as
harmless). The texts below are the ones Telegram sends, so code written against the fake
behaves the same against the real service.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from tests.fakes.telegram_controls import ApiError
from tests.fakes.telegram_markup import EntityParseError, FormattedText, parse_formatted

JsonDict = dict[str, Any]

MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
MAX_CALLBACK_DATA_BYTES: Final = 64
MAX_CALLBACK_ANSWER_LENGTH: Final = 200
MAX_BUTTONS: Final = 100
MAX_BUTTONS_PER_ROW: Final = 8

NOT_MODIFIED: Final = ("message is not modified: specified new message content and reply "
                       "markup are exactly the same as a current content and reply markup of "
                       "the message")
QUERY_TOO_OLD: Final = "query is too old and response timeout expired or query ID is invalid"
BLOCKED: Final = "bot was blocked by the user"
CANT_INITIATE: Final = "bot can't initiate conversation with a user"

_COMMAND_RE: Final = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")

#: parameters whose form value is a plain string, never JSON
_STRING_PARAMS: Final = frozenset({
    "text", "caption", "parse_mode", "callback_query_id", "url", "secret_token", "document",
    "photo",
})


class Params:
    """Request parameters as PTB sends them: form fields whose values are JSON-encoded
    unless they are strings (``chat_id=123``, ``reply_markup={"inline_keyboard": ...}``),
    or a JSON body. Accessors decode on demand and fail the way Telegram does."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw: JsonDict = dict(raw)

    def decoded(self) -> JsonDict:
        """Everything decoded as far as possible, for the call record."""
        decoded: JsonDict = {}
        for name, value in self.raw.items():
            if isinstance(value, str) and name not in _STRING_PARAMS:
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            decoded[name] = value
        return decoded

    def has(self, name: str) -> bool:
        return name in self.raw

    def get_str(self, name: str) -> str | None:
        value = self.raw.get(name)
        return None if value is None else str(value)

    def get_int(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request(f'field "{name}" must be of type Integer') from None

    def get_float(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ApiError.bad_request(f'field "{name}" must be of type Float') from None

    def get_bool(self, name: str) -> bool:
        value = self.raw.get(name)
        return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))

    def get_json(self, name: str, what: str | None = None) -> Any:
        value = self.raw.get(name)
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError.bad_request(f"can't parse {what or name} JSON object") from None

    def chat_id_or_none(self) -> int | None:
        """The numeric ``chat_id``, if any (for failure injection and flood counters)."""
        try:
            return int(self.raw["chat_id"])
        except (KeyError, TypeError, ValueError):
            return None


def formatted_text(params: Params) -> FormattedText:
    """``text`` after parsing: 1-4096 characters (code points) once entities are parsed."""
    formatted = _parse(params, "text", "entities")
    if not formatted.text:
        raise ApiError.bad_request("message text is empty")
    if len(formatted.text) > MAX_TEXT_LENGTH:
        raise ApiError.bad_request("message is too long")
    return formatted


def formatted_caption(params: Params) -> FormattedText:
    """``caption`` after parsing: optional, at most 1024 characters."""
    formatted = _parse(params, "caption", "caption_entities")
    if len(formatted.text) > MAX_CAPTION_LENGTH:
        raise ApiError.bad_request("message caption is too long")
    return formatted


def _parse(params: Params, field: str, entities_field: str) -> FormattedText:
    entities = params.get_json(entities_field, "entities")
    if entities is not None and not isinstance(entities, list):
        raise ApiError.bad_request("can't parse entities JSON object")
    try:
        return parse_formatted(params.get_str(field) or "", params.get_str("parse_mode"),
                               entities)
    except EntityParseError as exc:
        raise ApiError.bad_request(str(exc)) from None


def reply_markup(params: Params) -> JsonDict | None:
    """The inline keyboard a message will show, validated; ``None`` when it shows none.

    The bot only sends inline keyboards of callback buttons; reply keyboards and the other
    button kinds are refused as not modelled rather than accepted unchecked.
    """
    markup = params.get_json("reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError.bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        raise ApiError.bad_request("reply keyboards are not modelled by the fake")
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError.bad_request('field "inline_keyboard" of the InlineKeyboardMarkup '
                                   "should be an Array of Arrays")
    if sum(len(row) for row in rows) > MAX_BUTTONS or any(
        len(row) > MAX_BUTTONS_PER_ROW for row in rows
    ):
        raise ApiError.bad_request("BUTTONS_TOO_MUCH")
    for row in rows:
        for button in row:
            _check_button(button)
    rows = [row for row in rows if row]
    return {"inline_keyboard": rows} if rows else None


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise ApiError.bad_request("can't find field \"text\"")
    if not button["text"]:
        raise ApiError.bad_request("BUTTON_TEXT_INVALID")
    if "callback_data" not in button:
        raise ApiError.bad_request("buttons without callback_data are not modelled by the fake")
    data = button["callback_data"]
    if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
        raise ApiError.bad_request("BUTTON_DATA_INVALID")


def bot_commands(params: Params) -> list[JsonDict]:
    """``setMyCommands``: at most 100 commands, ``[a-z0-9_]{1,32}``, descriptions 1-256.
    Menus per scope or language are not modelled; the bot sets one default menu."""
    if params.has("scope") or params.has("language_code"):
        raise ApiError.bad_request("command scopes and languages are not modelled by the fake")
    commands = params.get_json("commands", "commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise ApiError.bad_request("can't parse commands JSON object")
    checked: list[JsonDict] = []
    for command in commands:
        if not isinstance(command, dict):
            raise ApiError.bad_request("can't parse BotCommand JSON object")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not _COMMAND_RE.fullmatch(name):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
            raise ApiError.bad_request("command description is empty")
        checked.append({"command": name, "description": description})
    return checked


def webhook_secret(params: Params) -> str | None:
    secret = params.get_str("secret_token")
    if secret is not None and not _SECRET_RE.fullmatch(secret):
        raise ApiError.bad_request("secret token contains unallowed characters")
    return secret or None
