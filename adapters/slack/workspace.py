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

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.request.internals import extract_enterprise_id, extract_team_id

# Top-level fields that Slack always sends as objects when they are present.
_OBJECTS = ("user", "container", "view", "channel", "message", "event", "state")
_OBJECTS_OR_NULL = ("team", "enterprise")
_LISTS_OF_OBJECTS = ("actions", "authorizations")


class Malformed(ValueError):
    """The body cannot be a request from Slack."""


@dataclass(frozen=True)
class Installation:
    """The workspace, app and (Enterprise Grid) organisation this bot serves. ``None``
    for ``app_id`` means not known (not configured, and auth.test did not say)."""

    team_id: str
    app_id: str | None = None
    enterprise_id: str | None = None


def parse(raw: str, content_type: str | None) -> dict[str, Any]:
    """The request body as bolt will read it; :class:`Malformed` when it is not an
    object (broken JSON, a JSON array, a ``payload`` form field that is not JSON)."""
    try:
        if content_type == "application/json" or raw.lstrip().startswith(("{", "[")):
            body: object = json.loads(raw) if raw.strip() else {}
        else:
            params = dict(parse_qsl(raw, keep_blank_values=True))
            body = json.loads(params["payload"]) if "payload" in params else params
    except (ValueError, RecursionError) as error:
        raise Malformed(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise Malformed(f"the body is a JSON {type(body).__name__}, not an object")
    problem = malformed(body)
    if problem:
        raise Malformed(problem)
    return body


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
    if isinstance(event, dict) and not isinstance(event.get("type", ""), str):
        return "event.type is not a string"
    view = body.get("view")
    if isinstance(view, dict):
        state = view.get("state")
        if state is not None and not (isinstance(state, dict)
                                      and isinstance(state.get("values", {}), dict)):
            return "view.state is not an object"
    for name in ("user_id", "team_id", "api_app_id", "text", "trigger_id"):
        if name in body and not isinstance(body[name], str | None):
            return f"{name} is not a string"
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
