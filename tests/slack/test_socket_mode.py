"""Socket Mode and the composition root.

A real Socket Mode connection needs Slack's WebSocket server, so ``connect_async`` is
replaced by a recorder; everything else is real: the adapter builds bolt's aiohttp
``AsyncSocketModeHandler`` with the app-level token and our Web API client, and envelopes
fed to ``handler.handle`` (what the WebSocket reader does) reach the same listeners as
HTTP requests, through ``app.async_dispatch``, with acknowledgements sent back per envelope.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from adapters.slack import build_slack_adapter
from adapters.slack.adapter import SlackAdapter
from bot.app.config import parse_config
from bot.app.runtime import build_adapters
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.clock import ManualClock
from engine.db import Store
from engine.models import Participant
from tests.engine.helpers import loaded
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_client import BoltReply, SignedRequest, SlackPlatformClient
from tests.slack.harness import TOKENS, find_button, last_text, slack_settings

APP_TOKEN = "xapp-1-A0DELPHIAPP-1-test"
KINDS = {"slash_command": "slash_commands", "event_callback": "events_api"}


class OverSocket(SlackPlatformClient):
    """Slack's side of a Socket Mode connection: the same requests as the HTTP client,
    delivered as envelopes to the handler; it also plays the SocketModeClient the handler
    sends its acknowledgements to."""

    def __init__(self, fake: FakeSlackApi, handler: AsyncSocketModeHandler,
                 adapter: SlackAdapter) -> None:
        super().__init__(fake, bolt_url="wss://unused", signing_secret="unused")
        self.handler, self.adapter = handler, adapter
        self.logger = logging.getLogger("tests.socket")
        self.acks: list[SocketModeResponse] = []
        self._envelopes = itertools.count(1)

    async def send_socket_mode_response(self, response: SocketModeResponse) -> None:
        self.acks.append(response)

    async def send(self, request: SignedRequest, *, apply_effects: bool = True) -> BoltReply:
        envelope = SocketModeRequest(type=KINDS.get(request.kind, "interactive"),
                                     envelope_id=f"env-{next(self._envelopes)}",
                                     payload=dict(request.payload))
        started = time.perf_counter()
        await self.handler.handle(self, envelope)  # type: ignore[arg-type]
        await self.adapter.settle()
        ack = self.acks[-1]
        assert ack.envelope_id == envelope.envelope_id
        body = json.dumps(ack.payload) if ack.payload else ""
        return BoltReply(200, body, {}, request, time.perf_counter() - started)


async def test_socket_mode_reaches_the_same_handlers(
        fake: FakeSlackApi, store: Store, clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    connected: list[AsyncSocketModeHandler] = []

    async def connect(self: AsyncSocketModeHandler) -> None:
        connected.append(self)

    monkeypatch.setattr(AsyncSocketModeHandler, "connect_async", connect)
    spec = await loaded(store, clock.now())
    coordinator = fake.create_user("carol")
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators.of(slack=[coordinator.id]),
        invite_link=SlackAdapter.invite_form))
    adapter = SlackAdapter(conductor, slack_settings(
        fake, mode="socket", app_token=SecretStr(APP_TOKEN), signing_secret=SecretStr("")))
    await adapter.start()
    try:
        handler = adapter.socket
        assert handler is not None and connected == [handler]
        assert handler.app is adapter.app and handler.app_token == APP_TOKEN
        assert handler.client.web_client is adapter.client
        assert adapter.client.base_url == fake.api_url and adapter.url is None
        slack = OverSocket(fake, handler, adapter)

        await slack.slash_command(coordinator, "/delphi", "invite 1")
        [token] = TOKENS.findall(last_text(coordinator))
        expert = fake.create_user("expert1")
        await slack.slash_command(expert, "/delphi", f"join {token}")
        await slack.press(expert, find_button(expert, "I agree to take part"))
        assert "you are on the panel" in last_text(expert)
        await slack.open_app_home(expert)
        assert expert.home is not None and "Your participation status" not in \
            expert.home.visible_text
        assert len(slack.acks) == 4
        async with store.transaction() as session:
            participant = await session.get(Participant, 1)
            assert participant is not None and participant.status == "active"
    finally:
        await adapter.stop()
    assert handler.client.closed and adapter.socket is None


async def test_the_runtime_builds_the_slack_adapter(fake: FakeSlackApi, store: Store,
                                                   clock: ManualClock, tmp_path: Path) -> None:
    spec = await loaded(store, clock.now())
    config = parse_config(
        '[slack]\nbot_token_env = "T"\nsigning_secret_env = "S"\n'
        f'api_url = "{fake.api_url}"\nport = 3999\n', tmp_path / "config.toml",
        env={"T": fake.bot_token, "S": "secret"})
    conductor = Conductor(StudyContext(store, clock, spec, Coordinators.of()))
    [adapter] = build_adapters(conductor, config)
    assert isinstance(adapter, SlackAdapter) and adapter.platform == "slack"
    assert adapter.port == 3999 and adapter.mode == "http"
    assert adapter.invite_form("abc") == "/delphi join abc"
    assert config.slack is not None
    assert isinstance(build_slack_adapter(conductor, config.slack), SlackAdapter)


async def test_stop_waits_for_work_in_flight(fake: FakeSlackApi, store: Store,
                                            clock: ManualClock) -> None:
    """A request acknowledged just before shutdown is still answered."""
    spec = await loaded(store, clock.now())
    coordinator = fake.create_user("carol")
    conductor = Conductor(StudyContext(store, clock, spec, Coordinators.of(slack=[coordinator.id])))
    adapter = SlackAdapter(conductor, slack_settings(fake), port=0)
    await adapter.start()
    assert adapter.url is not None
    gate = asyncio.Event()
    original = conductor.handle

    async def slow(event: Any) -> Any:
        await gate.wait()
        return await original(event)

    conductor.handle = slow  # type: ignore[method-assign]
    async with SlackPlatformClient(fake, bolt_url=adapter.url,
                                   signing_secret="delphi-test-signing-secret") as slack:
        reply = await slack.slash_command(coordinator, "/delphi", "status")
    assert reply.status == 200 and coordinator.messages == []  # acked, still working
    stopping = asyncio.create_task(adapter.stop())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not stopping.done()
    gate.set()
    await stopping
    assert "No round" in last_text(coordinator)
