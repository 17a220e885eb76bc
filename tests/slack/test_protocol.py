"""Slack's conventions as small pure pieces: keys, command text, errors, lanes, manifest."""

from __future__ import annotations

import asyncio
from pathlib import Path

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.adapter import COMMAND, EVENTS_PATH
from adapters.slack.protocol import (
    MAX_KEY,
    Lanes,
    delivery_error,
    parse_command,
    retry_after,
    update_key,
)

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yml"


def test_parse_command() -> None:
    assert parse_command("") == ("start", "")
    assert parse_command("  JOIN  abc-123 ") == ("join", "abc-123")
    assert parse_command("join") == ("start", "")
    assert parse_command("revise S03 New\nwording") == ("revise", "S03 New\nwording")
    assert parse_command("/ballot") == ("ballot", "")


def test_update_keys_use_slack_ids_else_the_body() -> None:
    http = AsyncBoltRequest(body="payload=%7B%7D", headers={})
    assert update_key("t", "123.456.abc", http) == "t:123.456.abc"
    hashed = update_key("t", None, http)
    assert hashed.startswith("t#") and hashed == update_key("t", "", http)
    socket_a = AsyncBoltRequest(body={"type": "x", "n": 1}, mode="socket_mode")
    socket_b = AsyncBoltRequest(body={"n": 2, "type": "x"}, mode="socket_mode")
    assert update_key("e", None, socket_a) != update_key("e", None, socket_b)
    assert len(update_key("t", "x" * 500, http)) <= MAX_KEY


def _error(status: int, body: dict[str, object], headers: dict[str, str]) -> SlackApiError:
    response = AsyncSlackResponse(client=None, http_verb="POST", api_url="x", req_args={},
                                  data=body, headers=headers, status_code=status)
    return SlackApiError("failed", response)


def test_delivery_errors_map_onto_the_outbox_rules() -> None:
    limited = delivery_error(_error(429, {"ok": False, "error": "ratelimited"},
                                    {"retry-after": "12"}))
    assert limited.retry_after == 12.0 and not limited.permanent
    gone = delivery_error(_error(200, {"ok": False, "error": "account_inactive"}, {}))
    assert gone.permanent and gone.retry_after is None
    flaky = delivery_error(_error(500, {"ok": False, "error": "internal_error"}, {}))
    assert not flaky.permanent and flaky.retry_after is None
    assert retry_after({"Retry-After": ["3"]}) == 3.0
    assert retry_after({"Retry-After": "soon"}) == 1.0 and retry_after(None) == 1.0


async def test_lanes_keep_one_users_requests_in_order() -> None:
    lanes, order = Lanes(), []

    async def work(user: str, label: str, gate: asyncio.Event | None) -> None:
        async with lanes.lane(user):
            if gate is not None:
                await gate.wait()
            order.append(label)

    gate = asyncio.Event()
    first = asyncio.create_task(work("u1", "u1-first", gate))
    await asyncio.sleep(0)
    second = asyncio.create_task(work("u1", "u1-second", None))
    other = asyncio.create_task(work("u2", "u2", None))
    await other
    assert order == ["u2"]  # another user is not held up
    gate.set()
    await asyncio.gather(first, second)
    assert order == ["u2", "u1-first", "u1-second"] and len(lanes) == 0


def test_the_manifest_declares_what_the_adapter_needs() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    assert f"command: {COMMAND}\n" in text
    assert text.count(f"https://delphi.example.org{EVENTS_PATH}") == 3
    for needed in ("- app_home_opened", "- message.im", "home_tab_enabled: true",
                   "is_enabled: true", "- chat:write", "- commands", "- files:write",
                   "- im:history", "- im:write", "messages_tab_read_only_enabled: false"):
        assert needed in text, needed


def test_the_manifest_comments_say_what_the_code_does() -> None:
    """Each scope's comment names a Web API call the adapter makes, and the slash
    command's usage hint offers only subcommands the conductor knows."""
    import re

    from bot.chat.commands import EXPERT_COMMANDS

    text = MANIFEST.read_text(encoding="utf-8")
    adapter = (Path(__file__).resolve().parents[2] / "adapters" / "slack" / "adapter.py"
               ).read_text(encoding="utf-8")
    assert "does not call" not in text and "not yet" not in text
    for scope, call in (("users:read", "users_info"), ("im:write", "conversations_open"),
                        ("files:write", "files_upload_v2"), ("chat:write", "chat_update")):
        assert re.search(rf"- {scope} .*#", text), scope
        assert f"client.{call}(" in adapter, call
    hint = re.search(r'usage_hint: "(.*)"', text)
    assert hint is not None
    offered = {part.split()[0] for part in hint.group(1).split(" | ")}
    assert offered <= {"join", *EXPERT_COMMANDS}, offered - {"join", *EXPERT_COMMANDS}
    assert {"ask", "whoami"} <= offered
