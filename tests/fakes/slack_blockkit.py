"""Block Kit validation and inspection for the Slack fake.

Slack rejects malformed Block Kit with ``invalid_blocks`` (messages) or ``invalid_arguments``
(view-level fields) and points at the offending field with a JSON pointer. The bot renders
study statements, rating buttons and modals dynamically, so the limits that bite in
production (button text 75, section text 3000, 50 blocks per message, ...) must bite in the
tests too: this module checks them the way Slack reports them, and also finds the interactive
elements a human would see, so simulated users can "press" them.

Only the blocks and elements the bot renders are modelled (section text, header, actions of
buttons, context, an input holding a plain text input); any other type is refused with an
"unsupported type ... not modelled by the fake" error rather than accepted unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_BLOCKS: dict[Surface, int] = {"message": 50, "modal": 100, "home": 100}
MESSAGE_TEXT_LIMIT = 40_000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
ID_LIMIT = 255  # action_id, block_id, callback_id
VIEW_TEXT_LIMIT = 24  # modal title, submit, close
PRIVATE_METADATA_LIMIT = 3000
ACTIONS_MAX_ELEMENTS = 25
CONTEXT_MAX_ELEMENTS = 10
LABEL_LIMIT = 2000
PLACEHOLDER_LIMIT = 150

#: the block types the bot renders; Slack has more, the fake refuses those as not modelled
MODELLED_BLOCK_TYPES = frozenset({"actions", "context", "header", "input", "section"})
#: the interactive elements the bot renders: buttons, and a text input in its comment modal
INTERACTIVE_ELEMENT_TYPES = frozenset({"button", "plain_text_input"})


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

    def not_modelled(self, kind: Any, path: str) -> None:
        self.add(f"unsupported type: {kind} (not modelled by the fake; see "
                 "tests/fakes/README.md)", path)


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
    if kind not in MODELLED_BLOCK_TYPES:
        errors.not_modelled(kind, f"{path}/type")
    elif kind == "section":
        if set(block) - {"type", "block_id", "text"}:
            errors.add("only section text is modelled by the fake", path)
        _validate_text(block.get("text"), SECTION_TEXT_LIMIT, f"{path}/text", errors)
    elif kind == "header":
        _validate_text(block.get("text"), HEADER_TEXT_LIMIT, f"{path}/text", errors, plain=True)
    elif kind == "actions":
        _validate_element_list(block, path, errors, ACTIONS_MAX_ELEMENTS, context=False)
    elif kind == "context":
        _validate_element_list(block, path, errors, CONTEXT_MAX_ELEMENTS, context=True)
    else:
        _validate_text(block.get("label"), LABEL_LIMIT, f"{path}/label", errors, plain=True)
        element = block.get("element")
        if not isinstance(element, dict):
            errors.add("missing required field: element", path)
        elif element.get("type") != "plain_text_input":
            errors.not_modelled(element.get("type"), f"{path}/element/type")
        else:
            _validate_element(element, f"{path}/element", errors)


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
        elif context:
            _validate_text(element, SECTION_TEXT_LIMIT, element_path, errors)
        elif element.get("type") != "button":
            errors.not_modelled(element.get("type"), f"{element_path}/type")
        else:
            action_id = element.get("action_id")
            if isinstance(action_id, str):
                if action_id in seen_action_ids:
                    errors.add(f"duplicate action_id: {action_id}", f"{element_path}/action_id")
                seen_action_ids.add(action_id)
            _validate_element(element, element_path, errors)


def _validate_element(element: Mapping[str, Any], path: str, errors: _Errors) -> None:
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not action_id:
            errors.add("must be a non-empty string", f"{path}/action_id")
        else:
            errors.too_long(action_id, ID_LIMIT, f"{path}/action_id")
    if element.get("type") == "button":
        _validate_text(element.get("text"), BUTTON_TEXT_LIMIT, f"{path}/text", errors, plain=True)
        errors.too_long(element.get("value"), BUTTON_VALUE_LIMIT, f"{path}/value")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.add(f"unsupported style: {style}", f"{path}/style")
    else:
        if "placeholder" in element:
            _validate_text(element.get("placeholder"), PLACEHOLDER_LIMIT,
                           f"{path}/placeholder", errors, plain=True)
        errors.too_long(element.get("initial_value"), SECTION_TEXT_LIMIT, f"{path}/initial_value")


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
    elif kind == "input" and isinstance(block.get("element"), dict):
        yield block["element"]


@dataclass(frozen=True)
class Element:
    """An interactive element a human can operate (a button or a text input), with its
    location."""

    type: str
    action_id: str
    block_id: str
    text: str | None
    value: str | None
    style: str | None
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
        if block.get("type") == "input" and not include_inputs:
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
                    style=element.get("style"),
                    raw=element,
                )
            )
    return found


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
        if node.get("type") in ("plain_text", "mrkdwn") and isinstance(
            node.get("text"), str
        ):
            parts.append(node["text"])
            return
        for key, value in node.items():
            if key not in ("action_id", "block_id", "value", "type"):
                _collect_text(value, parts)
    elif isinstance(node, list):
        for item in node:
            _collect_text(item, parts)
