"""Block Kit validation and inspection for the Slack fake.

Slack rejects malformed Block Kit with ``invalid_blocks`` (messages) or ``invalid_arguments``
(view-level fields) and points at the offending field with a JSON pointer. The bot renders
study statements, rating buttons and modals dynamically, so the limits that bite in
production (button text 75, section text 3000, 50 blocks per message, ...) must bite in the
tests too: this module checks them the way Slack reports them, and also finds the interactive
elements a human would see, so simulated users can "press" them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_BLOCKS: dict[Surface, int] = {"message": 50, "modal": 100, "home": 100}
MESSAGE_TEXT_LIMIT = 40_000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
SECTION_TEXT_LIMIT = 3000
SECTION_FIELD_LIMIT = 2000
SECTION_MAX_FIELDS = 10
HEADER_TEXT_LIMIT = 150
ID_LIMIT = 255  # action_id, block_id, callback_id, external_id
VIEW_TEXT_LIMIT = 24  # modal title, submit, close
PRIVATE_METADATA_LIMIT = 3000
ACTIONS_MAX_ELEMENTS = 25
CONTEXT_MAX_ELEMENTS = 10
OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
PLACEHOLDER_LIMIT = 150
LABEL_LIMIT = 2000
URL_LIMIT = 3000

KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
SELECT_TYPES = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
INPUT_ELEMENT_TYPES = frozenset(
    {
        "plain_text_input",
        "number_input",
        "email_text_input",
        "url_text_input",
        "rich_text_input",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "checkboxes",
        "radio_buttons",
        "file_input",
    }
    | SELECT_TYPES
)
INTERACTIVE_ELEMENT_TYPES = INPUT_ELEMENT_TYPES | {"button", "overflow", "workflow_button"}
OPTION_LIMITS: dict[str, int] = {"overflow": 5, "radio_buttons": 10, "checkboxes": 10}


class _Errors:
    """Collects Slack-style error strings: ``<problem> [json-pointer:<path>]``."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, problem: str, path: str) -> None:
        self.items.append(f"{problem} [json-pointer:{path}]")

    def too_long(self, value: Any, limit: int, path: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(f"must be less than {limit + 1} characters", path)

    def too_many(self, value: Any, limit: int, path: str) -> None:
        if isinstance(value, list) and len(value) > limit:
            self.add(f"no more than {limit} items allowed", path)


def validate_blocks(blocks: Any, surface: Surface, *, path: str = "/blocks") -> list[str]:
    """Return Slack-style error strings for ``blocks`` on ``surface`` (empty list = valid)."""
    errors = _Errors()
    if not isinstance(blocks, list):
        errors.add("must be an array", path)
        return errors.items
    errors.too_many(blocks, MAX_BLOCKS[surface], path)
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        block_path = f"{path}/{index}"
        if not isinstance(block, dict):
            errors.add("must be an object", block_path)
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id:
                errors.add("must be a non-empty string", f"{block_path}/block_id")
            else:
                errors.too_long(block_id, ID_LIMIT, f"{block_path}/block_id")
                if block_id in seen_block_ids:
                    errors.add(f"duplicate block_id: {block_id}", f"{block_path}/block_id")
                seen_block_ids.add(block_id)
        _validate_block(block, block_path, errors)
    return errors.items


def _validate_block(block: Mapping[str, Any], path: str, errors: _Errors) -> None:
    kind = block.get("type")
    if kind not in KNOWN_BLOCK_TYPES:
        errors.add(f"unsupported type: {kind}", f"{path}/type")
        return
    if kind == "section":
        _validate_section(block, path, errors)
    elif kind == "header":
        _validate_text(block.get("text"), HEADER_TEXT_LIMIT, f"{path}/text", errors, plain=True)
    elif kind == "actions":
        _validate_element_list(block, path, errors, ACTIONS_MAX_ELEMENTS, context=False)
    elif kind == "context":
        _validate_element_list(block, path, errors, CONTEXT_MAX_ELEMENTS, context=True)
    elif kind == "input":
        _validate_text(block.get("label"), LABEL_LIMIT, f"{path}/label", errors, plain=True)
        if "hint" in block:
            _validate_text(block.get("hint"), LABEL_LIMIT, f"{path}/hint", errors, plain=True)
        element = block.get("element")
        if not isinstance(element, dict):
            errors.add("missing required field: element", path)
        elif element.get("type") not in INPUT_ELEMENT_TYPES:
            errors.add(f"unsupported type: {element.get('type')}", f"{path}/element/type")
        else:
            _validate_element(element, f"{path}/element", errors)
    elif kind == "image":
        errors.too_long(block.get("image_url"), URL_LIMIT, f"{path}/image_url")
        errors.too_long(block.get("alt_text"), LABEL_LIMIT, f"{path}/alt_text")
        if not block.get("alt_text"):
            errors.add("missing required field: alt_text", path)
    elif kind == "markdown":
        errors.too_long(block.get("text"), 12_000, f"{path}/text")


def _validate_section(block: Mapping[str, Any], path: str, errors: _Errors) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        errors.add("must provide either text or fields", path)
    if text is not None:
        _validate_text(text, SECTION_TEXT_LIMIT, f"{path}/text", errors)
    if fields is not None:
        if not isinstance(fields, list):
            errors.add("must be an array", f"{path}/fields")
        else:
            errors.too_many(fields, SECTION_MAX_FIELDS, f"{path}/fields")
            for i, item in enumerate(fields):
                _validate_text(item, SECTION_FIELD_LIMIT, f"{path}/fields/{i}", errors)
    accessory = block.get("accessory")
    if accessory is not None:
        if not isinstance(accessory, dict):
            errors.add("must be an object", f"{path}/accessory")
        else:
            _validate_element(accessory, f"{path}/accessory", errors)


def _validate_element_list(
    block: Mapping[str, Any], path: str, errors: _Errors, limit: int, *, context: bool
) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        errors.add("must provide at least one element", f"{path}/elements")
        return
    errors.too_many(elements, limit, f"{path}/elements")
    seen_action_ids: set[str] = set()
    for i, element in enumerate(elements):
        element_path = f"{path}/elements/{i}"
        if not isinstance(element, dict):
            errors.add("must be an object", element_path)
            continue
        if context:
            if element.get("type") == "image":
                continue
            _validate_text(element, SECTION_TEXT_LIMIT, element_path, errors)
            continue
        action_id = element.get("action_id")
        if isinstance(action_id, str):
            if action_id in seen_action_ids:
                errors.add(f"duplicate action_id: {action_id}", f"{element_path}/action_id")
            seen_action_ids.add(action_id)
        _validate_element(element, element_path, errors)


def _validate_element(element: Mapping[str, Any], path: str, errors: _Errors) -> None:
    kind = element.get("type")
    if kind == "image":  # allowed as a section accessory
        return
    if kind not in INTERACTIVE_ELEMENT_TYPES:
        errors.add(f"unsupported type: {kind}", f"{path}/type")
        return
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not action_id:
            errors.add("must be a non-empty string", f"{path}/action_id")
        else:
            errors.too_long(action_id, ID_LIMIT, f"{path}/action_id")
    if kind == "button":
        _validate_text(element.get("text"), BUTTON_TEXT_LIMIT, f"{path}/text", errors, plain=True)
        errors.too_long(element.get("value"), BUTTON_VALUE_LIMIT, f"{path}/value")
        errors.too_long(element.get("url"), URL_LIMIT, f"{path}/url")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.add(f"unsupported style: {style}", f"{path}/style")
    if "placeholder" in element:
        _validate_text(
            element.get("placeholder"), PLACEHOLDER_LIMIT, f"{path}/placeholder", errors, plain=True
        )
    if kind in SELECT_TYPES or kind in OPTION_LIMITS:
        _validate_options(element, path, errors, OPTION_LIMITS.get(kind, 100))
    if kind == "plain_text_input":
        errors.too_long(element.get("initial_value"), SECTION_TEXT_LIMIT, f"{path}/initial_value")


def _validate_options(element: Mapping[str, Any], path: str, errors: _Errors, limit: int) -> None:
    options = element.get("options")
    if options is None:
        return  # option_groups / external data sources are not checked
    if not isinstance(options, list):
        errors.add("must be an array", f"{path}/options")
        return
    errors.too_many(options, limit, f"{path}/options")
    for i, option in enumerate(options):
        option_path = f"{path}/options/{i}"
        if not isinstance(option, dict):
            errors.add("must be an object", option_path)
            continue
        _validate_text(option.get("text"), OPTION_TEXT_LIMIT, f"{option_path}/text", errors)
        errors.too_long(option.get("value"), OPTION_VALUE_LIMIT, f"{option_path}/value")


def _validate_text(
    obj: Any, limit: int, path: str, errors: _Errors, *, plain: bool = False
) -> None:
    """Check a composition text object (``{"type": "plain_text", "text": ...}``)."""
    if not isinstance(obj, dict):
        errors.add("must be a text object", path)
        return
    kind = obj.get("type")
    allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if kind not in allowed:
        errors.add(f"must be one of {', '.join(allowed)}", f"{path}/type")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.add("must be more than 0 characters", f"{path}/text")
        return
    errors.too_long(text, limit, f"{path}/text")


def validate_view(view: Any, *, publish: bool) -> tuple[list[str], list[str]]:
    """Validate a view payload; return ``(argument_errors, block_errors)``.

    Slack reports view-level field problems (title too long, bad type) as
    ``invalid_arguments`` and block problems as ``invalid_blocks``; keeping them apart lets
    the fake answer with the right error code.
    """
    errors = _Errors()
    if not isinstance(view, dict):
        errors.add("must be an object", "/view")
        return errors.items, []
    kind = view.get("type")
    expected = "home" if publish else "modal"
    if kind != expected:
        errors.add(f"must be {expected}", "/view/type")
        return errors.items, []
    if kind == "modal":
        _validate_text(view.get("title"), VIEW_TEXT_LIMIT, "/view/title", errors, plain=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                _validate_text(view.get(key), VIEW_TEXT_LIMIT, f"/view/{key}", errors, plain=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and view.get("submit") is None:
            errors.add("submit is required when an input block is present", "/view/submit")
    errors.too_long(view.get("private_metadata"), PRIVATE_METADATA_LIMIT, "/view/private_metadata")
    errors.too_long(view.get("callback_id"), ID_LIMIT, "/view/callback_id")
    errors.too_long(view.get("external_id"), ID_LIMIT, "/view/external_id")
    block_errors = validate_blocks(view.get("blocks", []), kind, path="/view/blocks")
    return errors.items, block_errors


# --------------------------------------------------------------------------------------------
# Normalisation and inspection (what a human sees and can press)


def normalise_blocks(
    blocks: Sequence[Mapping[str, Any]], ids: Iterator[int]
) -> list[dict[str, Any]]:
    """Deep-copy blocks and fill in missing block_id / action_id like Slack does.

    Slack stores generated ids and sends them back in interaction payloads, so the fake must
    too, or handlers that route on ``block_id`` would see ``None`` only in tests.
    """
    result: list[dict[str, Any]] = []
    for block in blocks:
        copy = _deep_copy(block)
        copy.setdefault("block_id", f"b{next(ids):06x}")
        for element in _elements_of(copy):
            if element.get("type") in INTERACTIVE_ELEMENT_TYPES:
                element.setdefault("action_id", f"a{next(ids):06x}")
        result.append(copy)
    return result


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _elements_of(block: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    kind = block.get("type")
    if kind == "actions":
        for element in block.get("elements") or []:
            if isinstance(element, dict):
                yield element
    elif kind == "section" and isinstance(block.get("accessory"), dict):
        yield block["accessory"]
    elif kind == "input" and isinstance(block.get("element"), dict):
        yield block["element"]


@dataclass(frozen=True)
class Option:
    """One choice of a select menu, overflow menu, radio group or checkbox group."""

    text: str
    value: str


@dataclass(frozen=True)
class Element:
    """An interactive element a human can operate (button, select, ...), with its location."""

    type: str
    action_id: str
    block_id: str
    text: str | None
    value: str | None
    url: str | None
    style: str | None
    options: tuple[Option, ...] = field(default=())
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_button(self) -> bool:
        return self.type == "button"


def interactive_elements(
    blocks: Sequence[Mapping[str, Any]], *, include_inputs: bool = False
) -> list[Element]:
    """List the interactive elements in ``blocks`` in display order.

    Inputs of ``input`` blocks are skipped unless asked for: they are filled in and sent with
    the view submission, not pressed.
    """
    found: list[Element] = []
    for block in blocks:
        if block.get("type") == "input" and not include_inputs and not block.get("dispatch_action"):
            continue
        for element in _elements_of(block):
            kind = str(element.get("type"))
            if kind not in INTERACTIVE_ELEMENT_TYPES:
                continue
            found.append(
                Element(
                    type=kind,
                    action_id=str(element.get("action_id", "")),
                    block_id=str(block.get("block_id", "")),
                    text=_text_of(element.get("text")),
                    value=element.get("value"),
                    url=element.get("url"),
                    style=element.get("style"),
                    options=tuple(_options_of(element)),
                    raw=element,
                )
            )
    return found


def _options_of(element: Mapping[str, Any]) -> Iterator[Option]:
    groups = element.get("option_groups") or []
    grouped = (g.get("options") or [] for g in groups if isinstance(g, dict))
    for option in itertools.chain(element.get("options") or [], *grouped):
        if isinstance(option, dict):
            yield Option(text=_text_of(option.get("text")) or "", value=str(option.get("value")))


def _text_of(obj: Any) -> str | None:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else None
    return obj if isinstance(obj, str) else None


def visible_text(blocks: Sequence[Mapping[str, Any]]) -> str:
    """All human-readable text of ``blocks`` joined by newlines (for ``in`` assertions)."""
    parts: list[str] = []
    for block in blocks:
        _collect_text(block, parts)
    return "\n".join(parts)


def _collect_text(node: Any, parts: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn", "text", "markdown") and isinstance(
            node.get("text"), str
        ):
            parts.append(node["text"])
            return
        for key, value in node.items():
            if key not in ("action_id", "block_id", "value", "url", "image_url", "type"):
                _collect_text(value, parts)
    elif isinstance(node, list):
        for item in node:
            _collect_text(item, parts)
