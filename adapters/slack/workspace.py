"""Which Slack requests this installation answers: its own workspace and app, well formed.

A request signed with our signing secret can still come from another workspace the same
app is installed in, from another app sharing the secret, or from another organisation of
an Enterprise Grid; and Slack's signature says nothing about the shape of the body. So
before bolt routes a request:

- :func:`malformed` names what is wrong with a body that is not the JSON / form shape
  Slack sends (``payload={not json``, a JSON array, ``user`` or ``event`` as a string):
  the endpoint answers 400 and nothing runs;
- :func:`foreign` names a team, app or enterprise that is not this installation's: the
  endpoint answers 403 and nothing runs. The installation's ids come from ``[slack]
  team_id`` / ``app_id`` / ``enterprise_id`` or, when not set, from ``auth.test`` at
  start-up. Coordinators are listed by bare user id in the config; because every request
  of another team is refused here, a coordinator is matched on (this team, user id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.request import payload_utils
from slack_bolt.request.internals import extract_enterprise_id, extract_team_id

# Top-level fields that Slack always sends as objects when they are present.
_OBJECTS = ("user", "container", "view", "channel", "message", "event", "state")
_OBJECTS_OR_NULL = ("team", "enterprise")
_LISTS_OF_OBJECTS = ("actions", "authorizations")
# Read as text by bolt's listener matchers wherever they appear.
_STRINGS = ("type", "command", "callback_id", "action_id", "block_id", "channel_type",
            "subtype", "tab", "user_id", "team_id", "api_app_id", "trigger_id")
_CALLBACK_KINDS = ("shortcut", "message_action", "interactive_message", "dialog_submission",
                   "dialog_cancellation", "workflow_step_edit")


class Malformed(ValueError):
    """The body cannot be a request from Slack."""


@dataclass(frozen=True)
class Installation:
    """The workspace, app and (Enterprise Grid) organisation this bot serves. ``None``
    for ``app_id`` means not known (not configured, and auth.test did not say)."""

    team_id: str
    app_id: str | None = None
    enterprise_id: str | None = None


def check(body: object) -> None:
    """Raise :class:`Malformed` unless ``body`` (as bolt parsed it) has the shape Slack
    sends and every reader bolt runs before a listener can read it."""
    if not isinstance(body, dict):
        raise Malformed(f"the body is a JSON {type(body).__name__}, not an object")
    problem = malformed(body) or _unreadable_for_bolt(body)
    if problem:
        raise Malformed(problem)


_BOLT_READERS = (payload_utils.to_options, payload_utils.to_shortcut, payload_utils.to_action,
                 payload_utils.to_view, payload_utils.to_command, payload_utils.to_event,
                 payload_utils.to_message, payload_utils.to_step)


def _unreadable_for_bolt(body: dict[str, Any]) -> str | None:
    """Run the argument extraction bolt runs before any listener (its context it built
    already); a body it would crash on (``"actions": []`` on a button press) is ours to
    refuse with 400 instead of bolt's 500."""
    try:
        for read in _BOLT_READERS:
            read(body)
    except (LookupError, TypeError, AttributeError, ValueError) as error:
        return f"not a request bolt can read ({type(error).__name__})"
    return None


def malformed(body: Mapping[str, Any]) -> str | None:
    """What in ``body`` Slack never sends, or None."""
    for name in _OBJECTS:
        if name in body and not isinstance(body[name], dict):
            return f"{name} is not an object"
    for name in _OBJECTS_OR_NULL:
        if body.get(name) is not None and not isinstance(body[name], dict | str):
            return f"{name} is not an object"
    for name in _LISTS_OF_OBJECTS:
        value = body.get(name)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, dict) for v in value)):
            return f"{name} is not a list of objects"
    event = body.get("event")
    if event is not None and not isinstance(event.get("type"), str):
        return "event.type is not a string"
    kind = body.get("type")
    actions = body.get("actions")
    if kind == "block_actions" and not (actions and isinstance(actions[0].get("action_id"),
                                                                str)):
        return "a button press without an action_id"
    view = body.get("view")
    if kind in ("view_submission", "view_closed") and not (
            isinstance(view, dict) and isinstance(view.get("callback_id"), str)):
        return "a view without a callback_id"
    if kind in _CALLBACK_KINDS and not isinstance(body.get("callback_id"), str):
        return "a callback without a callback_id"
    for where, fields in (("", body), ("event.", event or {}), ("view.", view or {}),
                          ("actions[0].", (actions or [{}])[0])):
        for name in _STRINGS:
            if fields.get(name) is not None and not isinstance(fields[name], str):
                return f"{where}{name} is not a string"
    if body.get("text") is not None and not isinstance(body["text"], str):
        return "text is not a string"
    if isinstance(view, dict):
        state = view.get("state")
        if state is not None and not (isinstance(state, dict)
                                      and isinstance(state.get("values", {}), dict)):
            return "view.state is not an object"
    return None


def foreign(body: Mapping[str, Any], ours: Installation) -> str | None:
    """Why ``body`` is not for this installation (another team, app or enterprise), or
    None. Slack's endpoint check (``url_verification``) carries none of them."""
    if body.get("type") == "url_verification":
        return None
    plain = dict(body)
    team = extract_team_id(plain)
    if team != ours.team_id:
        return f"team {team!r} is not this installation's"
    app = body.get("api_app_id")
    if ours.app_id is not None and app != ours.app_id:
        return f"app {app!r} is not this installation's"
    enterprise = extract_enterprise_id(plain) or None
    if enterprise != ours.enterprise_id:
        return f"enterprise {enterprise!r} is not this installation's"
    return None
