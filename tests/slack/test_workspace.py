"""Slack requests are tied to this installation's workspace and app, and malformed bodies
are refused, over HTTP at bolt's real endpoint with correctly signed requests.

A signed slash command, button press or event whose team, app or Enterprise Grid
organisation is not the installation's (configured in ``[slack]`` or learned from
``auth.test``) gets 403 and writes nothing, calls no Slack method; the coordinator's user
id in another team is nobody. A signed body Slack would never send gets 400, not 500.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import pytest

from adapters.slack.adapter import ELSEWHERE, FOREIGN, SlackAdapter
from adapters.slack.workspace import Installation
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Rating
from tests.engine.helpers import loaded
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_client import FORM, JSON, SignedRequest, Signing, SlackPlatformClient
from tests.fakes.slack_state import FakeChannel
from tests.slack.harness import (
    SIGNING_SECRET,
    SlackStudy,
    count,
    find_button,
    slack_settings,
    table_counts,
)
from tests.slack.test_requests import api_calls, ready


def resigned(study: SlackStudy, request: SignedRequest,
             change: Mapping[str, Any]) -> SignedRequest:
    """``request`` with some fields changed, correctly signed again."""
    payload = {**request.payload, **change}
    if request.kind == "slash_command":
        body, content_type = urlencode(payload).encode(), FORM
    elif request.kind == "event_callback":
        body, content_type = json.dumps(payload).encode(), JSON
    else:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        content_type = FORM
    return study.slack.build(request.kind, body, content_type, user_id=request.user_id,
                             payload=payload)


async def templates(study: SlackStudy) -> dict[str, SignedRequest]:
    """A coordinator's command, an expert's press and a DM event, as Slack would sign them
    (obtained unsigned, so nothing of them was accepted)."""
    expert = await ready(study)
    command = await study.slack.slash_command(study.coordinator, "/delphi", "invite 3",
                                              signing=Signing.MISSING)
    press = await study.slack.press(expert, find_button(expert, "4"), signing=Signing.MISSING)
    event = study.slack.event_request({
        "type": "message", "channel": expert.dm.id, "user": expert.id, "text": "hello",
        "ts": "1.000100", "event_ts": "1.000100", "channel_type": "im",
        "team": study.fake.workspace.team_id})
    assert command.status == press.status == 401
    return {"command": command.request, "press": press.request, "event": event}


FOREIGN_CHANGES: dict[str, dict[str, Mapping[str, Any]]] = {
    "team": {"command": {"team_id": "T0OTHER"},
             "press": {"team": {"id": "T0OTHER", "domain": "other"}},
             "event": {"team_id": "T0OTHER", "authorizations": [
                 {"enterprise_id": None, "team_id": "T0OTHER", "user_id": "U0DELPHIBOT",
                  "is_bot": True, "is_enterprise_install": False}]}},
    "app": {"command": {"api_app_id": "A0OTHER"}, "press": {"api_app_id": "A0OTHER"},
            "event": {"api_app_id": "A0OTHER"}},
    "enterprise": {"command": {"enterprise_id": "E0OTHER"},
                   "press": {"enterprise": {"id": "E0OTHER", "name": "Other org"}},
                   "event": {"authorizations": [
                       {"enterprise_id": "E0OTHER", "team_id": "T0DELPHI01",
                        "user_id": "U0DELPHIBOT", "is_bot": True,
                        "is_enterprise_install": False}]}},
}


@pytest.mark.parametrize("what", sorted(FOREIGN_CHANGES))
async def test_another_workspace_app_or_enterprise_is_refused(study: SlackStudy,
                                                             what: str) -> None:
    base = await templates(study)
    assert study.adapter.installation == Installation("T0DELPHI01", "A0DELPHIAPP", None)
    before, calls = await table_counts(study.store), api_calls(study)
    for kind, change in FOREIGN_CHANGES[what].items():
        reply = await study.slack.send(resigned(study, base[kind], change),
                                       apply_effects=False)
        await study.adapter.settle()
        assert (kind, reply.status, reply.body) == (kind, 403, FOREIGN)
    assert await table_counts(study.store) == before
    assert api_calls(study) == calls
    # The same requests from this workspace still work.
    reply = await study.slack.send(resigned(study, base["press"], {}), apply_effects=False)
    await study.adapter.settle()
    assert reply.status == 200 and await count(study.store, Rating) == 1


MALFORMED = [
    ("payload={not json", FORM),
    ("[1, 2, 3]", JSON),
    (urlencode({"payload": "[1]"}), FORM),
    (urlencode({"payload": json.dumps({"type": "block_actions", "user": "U0EVE",
                                       "actions": []})}), FORM),
    (json.dumps({"type": "event_callback", "team_id": "T0DELPHI01", "event": "message",
                 "event_id": "Ev1"}), JSON),
    (json.dumps({"type": "event_callback", "team_id": "T0DELPHI01",
                 "event": {"type": ["message"]}}), JSON),
    (urlencode({"payload": json.dumps({"type": "view_submission", "user": {"id": "U1"},
                                       "view": {"state": "oops"}})}), FORM),
    (urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U1"},
                                       "actions": ["4"]})}), FORM),
    ('{"type": "event_callback", "event": {"type": "message"', JSON),
]


async def test_malformed_signed_payloads_get_400_not_500(study: SlackStudy) -> None:
    await ready(study)
    before, calls = await table_counts(study.store), api_calls(study)
    for body, content_type in MALFORMED:
        reply = await study.slack.send_raw(body, content_type=content_type)
        assert reply.status == 400, (body, reply.status, reply.body)
        unsigned = await study.slack.send_raw(body, content_type=content_type,
                                              signing=Signing.MISSING)
        assert unsigned.status == 401, body
    await study.adapter.settle()
    assert await table_counts(study.store) == before
    assert api_calls(study) == calls


async def test_a_configured_workspace_wins_over_the_token(fake: FakeSlackApi, store: Store,
                                                          clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    coordinator = fake.create_user("carol")
    conductor = Conductor(StudyContext(store, clock, spec, Coordinators.of(slack=[coordinator.id])))
    adapter = SlackAdapter(conductor, slack_settings(fake, team_id="T0CONFIGURED",
                                                     app_id="A0CONFIGURED"), port=0)
    await adapter.start()
    try:
        assert adapter.installation == Installation("T0CONFIGURED", "A0CONFIGURED", None)
        assert adapter.url is not None
        async with SlackPlatformClient(fake, bolt_url=adapter.url,
                                       signing_secret=SIGNING_SECRET) as slack:
            reply = await slack.slash_command(coordinator, "/delphi", "invite 2")
            await adapter.settle()
        assert (reply.status, reply.body) == (403, FOREIGN)
        assert fake.call_count("chat.postMessage") == 0
    finally:
        await adapter.stop()


async def test_a_card_pressed_in_a_channel_records_and_edits_nothing(study: SlackStudy) -> None:
    base = await templates(study)
    expert = study.fake.workspace.users[str(base["press"].user_id)]
    channel = FakeChannel("C0PUBLIC", user_id=None, created=0)
    study.fake.workspace.channels[channel.id] = channel
    before, calls = await table_counts(study.store), api_calls(study)
    for where in ("C0PUBLIC", "G0GROUPDM"):
        change = {"container": {**base["press"].payload["container"], "channel_id": where},
                  "channel": {"id": where, "name": "dermatology"}}
        reply = await study.slack.send(resigned(study, base["press"], change),
                                       apply_effects=False)
        await study.adapter.settle()
        assert reply.status == 200
    assert await table_counts(study.store) == before
    after = api_calls(study)
    # one notice each (the group DM is unknown to the fake, so that one fails, logged)
    assert after.pop("chat.postEphemeral") == calls.pop("chat.postEphemeral") + 2
    assert after == calls  # no chat.update, no message posted anywhere
    notice = await expert.wait_for_ephemeral()
    assert notice.visible_text == ELSEWHERE and notice.channel == "C0PUBLIC"


def _junk(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any shape, biased to the field names and values Slack uses."""
    kinds = ["str", "int", "none", "bool", "list", "dict"] if depth < 3 else ["str", "int"]
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice(["", "message", "block_actions", "view_submission", "event_callback",
                           "app_home_opened", "T0DELPHI01", "A0DELPHIAPP", "U0EVE", "D0X",
                           "1|r|1|S01|4", "²", "\u202e", "x" * 300])
    if kind == "int":
        return rng.choice([0, -1, 2**63, 7])
    if kind == "none":
        return None
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "list":
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["type", "user", "team", "team_id", "api_app_id", "event", "actions", "view",
            "container", "channel", "trigger_id", "state", "values", "id", "value", "text",
            "enterprise", "authorizations", "channel_type", "subtype", "files", "tab"]
    return {rng.choice(keys): _junk(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def _mutated(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """``value`` with one field somewhere inside replaced by junk (or dropped)."""
    if isinstance(value, dict) and value and (depth < 3 and rng.random() < 0.7):
        key = rng.choice(sorted(value))
        copy = dict(value)
        if rng.random() < 0.15:
            del copy[key]
        else:
            copy[key] = _mutated(rng, value[key], depth + 1)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.7:
        index = rng.randrange(len(value))
        return [*value[:index], _mutated(rng, value[index], depth + 1), *value[index + 1:]]
    return _junk(rng, depth)


async def test_any_signed_body_gets_an_answer_never_a_500(
        study: SlackStudy, caplog: pytest.LogCaptureFixture) -> None:
    """Real requests (a command, a press, a DM event) with one field anywhere replaced by
    a value of another shape, and bodies of any shape, all signed (fixed seed): each is
    answered (200, 400, 403 or bolt's 404), none crashes the endpoint or a listener."""
    base = await templates(study)
    rng = random.Random(14)  # also tried with seeds 1-35
    caplog.set_level(logging.ERROR)
    statuses: set[int] = set()
    for index in range(240):
        if index % 4 == 3:
            text = json.dumps(_junk(rng))
            reply = await study.slack.send_raw(
                text if index % 8 == 3 else urlencode({"payload": text}),
                content_type=JSON if index % 8 == 3 else FORM)
        else:
            template = base[("command", "press", "event")[index % 4]]
            payload = _mutated(rng, dict(template.payload))
            if not isinstance(payload, dict):
                payload = {"junk": payload}
            if template.kind == "slash_command":
                payload = {k: v if isinstance(v, str) else json.dumps(v)
                           for k, v in payload.items()}
            text = json.dumps(payload)
            reply = await study.slack.send(_signed_as(study, template, payload),
                                           apply_effects=False)
        await study.adapter.settle()
        assert reply.status in (200, 400, 403, 404), (text, reply.status, reply.body)
        statuses.add(reply.status)
    assert {200, 400, 403} <= statuses
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def _signed_as(study: SlackStudy, template: SignedRequest,
               payload: Mapping[str, Any]) -> SignedRequest:
    """``payload`` (replacing the template's entirely) signed as the template's kind."""
    return resigned(study, SignedRequest(template.kind, b"", {}, template.user_id, {}),
                    payload)
