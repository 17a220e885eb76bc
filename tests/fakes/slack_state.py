"""The state behind the Slack fake: a workspace with simulated users, their DMs, views, files.

This is what a human would see in their Slack client, kept apart from the HTTP layer so that
tests read it directly (``user.messages``, ``user.modal``, ``user.home``, ``user.files``) and
await changes without fixed sleeps (``await user.wait_for_message(...)``).

Everything is indexed per channel and per user, and every waiter listens on its own user's
notifier, so hundreds of simulated users do not make each change wake every waiter.
"""

# The waiting helpers take ``timeout=`` on purpose: tests read best as
# ``await user.wait_for_message(pred, timeout=5)``, and the timeout names what was awaited.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from .slack_blockkit import Element, interactive_elements, normalise_blocks, visible_text

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0


class FakeClock:
    """Monotonic clock for trigger expiry and rate limits that tests can move forward.

    Expiry rules ("trigger_id valid about 3 s", "1 message per second per channel") are then
    tested with ``clock.advance(3.1)`` instead of real sleeps.
    """

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        self._offset += seconds


class Notifier:
    """Wakes coroutines waiting for a condition on some state whenever that state changes.

    The event is created lazily and replaced on every change, so a change nobody waits for
    costs nothing and waiters re-check their condition exactly once per change.
    """

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait_for(
        self, check: Callable[[], T | None], *, timeout: float = DEFAULT_TIMEOUT, what: str
    ) -> T:
        """Return ``check()`` as soon as it is not None; raise TimeoutError after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
            if self._event is None:
                self._event = asyncio.Event()
            event = self._event
            try:
                async with asyncio.timeout(remaining):
                    await event.wait()
            except TimeoutError:
                continue


# --------------------------------------------------------------------------------------------
# What a user sees


@dataclass
class FakeMessage:
    """A message as it currently stands (edits applied), in a channel or as an ephemeral."""

    channel: str
    ts: str
    seq: int
    user: str
    text: str
    blocks: list[dict[str, Any]]
    team: str
    bot_id: str | None = None
    app_id: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    ephemeral: bool = False
    edits: int = 0
    edited_ts: str | None = None

    @property
    def from_bot(self) -> bool:
        return self.bot_id is not None

    @property
    def visible_text(self) -> str:
        """The fallback text plus all text in the blocks: what a human can read."""
        block_text = visible_text(self.blocks)
        return f"{self.text}\n{block_text}" if block_text else self.text

    @property
    def elements(self) -> list[Element]:
        return interactive_elements(self.blocks)

    @property
    def buttons(self) -> list[Element]:
        return [e for e in self.elements if e.is_button]

    def to_payload(self) -> dict[str, Any]:
        """The message as Slack embeds it in ``block_actions`` payloads and API answers."""
        payload: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": self.team,
        }
        if self.bot_id is not None:
            payload["bot_id"] = self.bot_id
            payload["app_id"] = self.app_id
        if self.blocks:
            payload["blocks"] = self.blocks
        if self.files:
            payload["files"] = self.files
        if self.edited_ts is not None:
            payload["edited"] = {"user": self.user, "ts": self.edited_ts}
        return payload


@dataclass
class FakeView:
    """A modal or App Home view as Slack keeps it (with its id and submitted state)."""

    id: str
    team_id: str
    user_id: str
    app_id: str
    bot_id: str
    type: str
    blocks: list[dict[str, Any]]
    hash: str
    title: dict[str, Any] | None = None
    submit: dict[str, Any] | None = None
    close: dict[str, Any] | None = None
    callback_id: str = ""
    private_metadata: str = ""
    state_values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    closed: bool = False

    @property
    def title_text(self) -> str:
        return str((self.title or {}).get("text", ""))

    @property
    def visible_text(self) -> str:
        return visible_text(self.blocks)

    @property
    def elements(self) -> list[Element]:
        return interactive_elements(self.blocks)

    @property
    def inputs(self) -> list[Element]:
        """The input-block elements a human fills in before submitting."""
        return [
            e
            for e in interactive_elements(self.blocks, include_inputs=True)
            if e.block_id in self._input_block_ids
        ]

    @property
    def _input_block_ids(self) -> set[str]:
        return {str(b.get("block_id")) for b in self.blocks if b.get("type") == "input"}

    def to_payload(self) -> dict[str, Any]:
        """The view as Slack sends it in API answers and interaction payloads."""
        return {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "blocks": self.blocks,
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": self.state_values},
            "hash": self.hash,
            "title": self.title,
            "close": self.close,
            "submit": self.submit,
            "root_view_id": self.id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }


@dataclass
class FakeFile:
    """A file uploaded through files.getUploadURLExternal + upload URL + completeUploadExternal."""

    id: str
    filename: str
    length: int
    user: str
    created: int
    title: str = ""
    content: bytes | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None

    @property
    def uploaded(self) -> bool:
        return self.content is not None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.filename,
            "title": self.title or self.filename,
            "user": self.user,
            "size": len(self.content or b""),
            "channels": list(self.channels),
            "ims": [c for c in self.channels if c.startswith("D")],
            "groups": [],
            "is_public": False,
            "url_private": f"https://files.example.invalid/{self.id}/{self.filename}",
        }


@dataclass(frozen=True)
class Control:
    """An interactive element together with where it lives: a message or a view."""

    element: Element
    message: FakeMessage | None = None
    view: FakeView | None = None


class FakeChannel:
    """A conversation; messages are kept in posting order, keyed by ts for O(1) edits."""

    def __init__(self, channel_id: str, *, user_id: str | None, created: int) -> None:
        self.id = channel_id
        self.user_id = user_id  # the human member of a DM
        self.created = created
        self.opened = False
        self.messages: dict[str, FakeMessage] = {}
        self.next_seq = 0

    def add(self, message: FakeMessage) -> None:
        self.messages[message.ts] = message
        self.next_seq = message.seq + 1

    def current(self) -> list[FakeMessage]:
        return list(self.messages.values())

    def newest_first(self) -> Iterator[FakeMessage]:
        return reversed(self.messages.values())


class SimulatedUser:
    """A human in the fake workspace and everything they currently see of the bot."""

    def __init__(
        self,
        *,
        user_id: str,
        team_id: str,
        name: str,
        real_name: str,
        display_name: str,
        tz: str,
        email: str,
        dm: FakeChannel,
    ) -> None:
        self.id = user_id
        self.team_id = team_id
        self.name = name
        self.real_name = real_name
        self.display_name = display_name
        self.tz = tz
        self.email = email
        self.dm = dm
        self.inactive_error: str | None = None  # set by deactivate_user
        self.deleted = False  # set by delete_user: gone from the workspace
        self.ephemerals: dict[str, FakeMessage] = {}
        self.modal: FakeView | None = None  # the open modal (the bot never stacks them)
        self.closed_modals: list[FakeView] = []
        self.home: FakeView | None = None
        self.files: list[FakeFile] = []
        self.notifier = Notifier()

    def __repr__(self) -> str:
        return f"SimulatedUser({self.id!r}, {self.name!r})"

    # -- profile -----------------------------------------------------------------------------

    @property
    def tz_offset(self) -> int:
        """Seconds east of UTC right now, as Slack's users.info reports it."""
        offset = datetime.now(UTC).astimezone(ZoneInfo(self.tz)).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    @property
    def tz_label(self) -> str:
        return datetime.now(UTC).astimezone(ZoneInfo(self.tz)).tzname() or self.tz

    def to_api(self) -> dict[str, Any]:
        """The users.info ``user`` object."""
        user: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": self.inactive_error is not None,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz_label,
            "tz_offset": self.tz_offset,
            "profile": {
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.display_name,
                "display_name_normalized": self.display_name,
                "email": self.email,
                "team": self.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": self.dm.created,
        }
        return user

    def to_payload_user(self) -> dict[str, Any]:
        """The ``user`` object of interaction payloads."""
        return {"id": self.id, "username": self.name, "name": self.name, "team_id": self.team_id}

    # -- reading the DM ----------------------------------------------------------------------

    @property
    def messages(self) -> list[FakeMessage]:
        """Current DM messages in order, edits applied, deletions removed."""
        return self.dm.current()

    @property
    def last_message(self) -> FakeMessage | None:
        return next(self.dm.newest_first(), None)

    def message(self, ts: str) -> FakeMessage:
        return self.dm.messages[ts]

    def controls(self) -> Iterator[Control]:
        """Everything the user can press, newest first: open modal, DM messages, App Home."""
        if self.modal is not None:
            for element in self.modal.elements:
                yield Control(element, view=self.modal)
        for message in itertools.chain(reversed(self.ephemerals.values()), self.dm.newest_first()):
            for element in message.elements:
                yield Control(element, message=message)
        if self.home is not None:
            for element in self.home.elements:
                yield Control(element, view=self.home)

    # -- waiting -----------------------------------------------------------------------------

    async def wait_until(
        self,
        check: Callable[[], T | None],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        what: str = "state",
    ) -> T:
        """Await any condition on this user's view of Slack (re-checked on each change)."""
        return await self.notifier.wait_for(check, timeout=timeout, what=f"{self.id}: {what}")

    async def wait_for_message(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        new_only: bool = False,
        from_bot: bool = True,
    ) -> FakeMessage:
        """The newest DM message (bot's by default) that matches ``predicate``.

        The predicate sees the message as it currently stands, so waiting for an edit is
        ``wait_for_message(lambda m: m.ts == ts and "Thanks" in m.text)``. With ``new_only``
        only messages posted after the call count.
        """
        start = self.dm.next_seq

        def check() -> FakeMessage | None:
            for message in self.dm.newest_first():
                if new_only and message.seq < start:
                    return None
                if from_bot and not message.from_bot:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_until(check, timeout=timeout, what="a DM message")

    async def wait_for_ephemeral(
        self,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> FakeMessage:
        def check() -> FakeMessage | None:
            for message in reversed(self.ephemerals.values()):
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_until(check, timeout=timeout, what="an ephemeral message")


# --------------------------------------------------------------------------------------------
# The workspace


@dataclass
class Trigger:
    """A trigger_id the fake handed out with an interaction; views.open may exchange it once."""

    user_id: str
    issued_at: float
    used: bool = False


class SlackWorkspace:
    """Users, DMs, views and files of one workspace with the bot installed.

    Mutators here do no Slack-rule checking (the Web API layer does that); they keep the
    indexes consistent and wake the affected user's waiters.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0DELPHI01",
        team_domain: str = "delphi-test",
        team_name: str = "Delphi Test",
        bot_token: str = "xoxb-delphi-fake-token",
        bot_user_id: str = "U0DELPHIBOT",
        bot_id: str = "B0DELPHIBOT",
        app_id: str = "A0DELPHIAPP",
        clock: FakeClock | None = None,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.team_name = team_name
        self.bot_token = bot_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.clock = clock or FakeClock()
        self.users: dict[str, SimulatedUser] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.views: dict[str, FakeView] = {}
        self.files: dict[str, FakeFile] = {}
        self.triggers: dict[str, Trigger] = {}
        self._counter = itertools.count(1)
        self._block_ids = itertools.count(1)
        self._ts_base = int(time.time())
        self._ts_seq = itertools.count(1)

    # -- ids ---------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """Slack-like ids: ``U00000001``, ``D00000002``, ``V00000003``, ..."""
        return f"{prefix}{next(self._counter):08X}"

    def new_ts(self) -> str:
        """Unique, increasing message timestamps in Slack's ``seconds.micros`` format."""
        n = next(self._ts_seq)
        return f"{self._ts_base + n // 1_000_000}.{n % 1_000_000:06d}"

    # -- users -------------------------------------------------------------------------------

    def create_user(
        self,
        name: str | None = None,
        *,
        tz: str = "Europe/Berlin",
        real_name: str | None = None,
        display_name: str | None = None,
        email: str | None = None,
    ) -> SimulatedUser:
        """Add a human with a DM channel to the bot (the channel exists before it is opened)."""
        ZoneInfo(tz)  # fail early on a typo
        user_id = self.new_id("U")
        name = name or f"user{user_id[-4:].lower()}"
        dm = FakeChannel(self.new_id("D"), user_id=user_id, created=int(time.time()))
        self.channels[dm.id] = dm
        user = SimulatedUser(
            user_id=user_id,
            team_id=self.team_id,
            name=name,
            real_name=real_name or name.replace(".", " ").title(),
            display_name=display_name if display_name is not None else name,
            tz=tz,
            email=email or f"{name}@example.invalid",
            dm=dm,
        )
        self.users[user_id] = user
        return user

    def create_users(
        self, count: int, *, prefix: str = "expert", **kwargs: Any
    ) -> list[SimulatedUser]:
        return [self.create_user(f"{prefix}{i}", **kwargs) for i in range(1, count + 1)]

    def deactivate_user(self, user_id: str, *, error: str = "account_inactive") -> None:
        """Deactivate: DM-related calls answer ``error``; users.info reports ``deleted``."""
        user = self.users[user_id]
        user.inactive_error = error
        user.notifier.notify()

    def delete_user(self, user_id: str) -> None:
        """The user vanishes: users.info answers user_not_found, their DM channel_not_found."""
        user = self.users[user_id]
        user.deleted = True
        user.notifier.notify()

    def dm_owner(self, channel_id: str) -> SimulatedUser | None:
        channel = self.channels.get(channel_id)
        if channel is None or channel.user_id is None:
            return None
        return self.users.get(channel.user_id)

    # -- messages ----------------------------------------------------------------------------

    def normalise_blocks(self, blocks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return normalise_blocks(blocks, self._block_ids)

    def post_message(
        self,
        channel: FakeChannel,
        *,
        user: str,
        text: str,
        blocks: Sequence[Mapping[str, Any]] = (),
        from_bot: bool = True,
        files: Iterable[dict[str, Any]] = (),
    ) -> FakeMessage:
        message = FakeMessage(
            channel=channel.id,
            ts=self.new_ts(),
            seq=channel.next_seq,
            user=user,
            text=text,
            blocks=self.normalise_blocks(blocks),
            team=self.team_id,
            bot_id=self.bot_id if from_bot else None,
            app_id=self.app_id if from_bot else None,
            files=list(files),
        )
        channel.add(message)
        self._notify_channel(channel)
        return message

    def update_message(
        self,
        message: FakeMessage,
        *,
        text: str | None = None,
        blocks: Sequence[Mapping[str, Any]] | None = None,
    ) -> FakeMessage:
        """Apply an edit; fields not given are kept, as chat.update does."""
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self.normalise_blocks(blocks)
        message.edits += 1
        message.edited_ts = self.new_ts()
        if message.ephemeral:
            self._notify_user(self.users.get(message.user))
        else:
            self._notify_channel(self.channels[message.channel])
        return message

    def post_ephemeral(
        self,
        channel: FakeChannel,
        user: SimulatedUser,
        *,
        text: str,
        blocks: Sequence[Mapping[str, Any]] = (),
    ) -> FakeMessage:
        """An ephemeral is stored with the user it is shown to (``message.user``)."""
        message = FakeMessage(
            channel=channel.id,
            ts=self.new_ts(),
            seq=len(user.ephemerals),
            user=user.id,
            text=text,
            blocks=self.normalise_blocks(blocks),
            team=self.team_id,
            bot_id=self.bot_id,
            app_id=self.app_id,
            ephemeral=True,
        )
        user.ephemerals[message.ts] = message
        self._notify_user(user)
        return message

    # -- interactions ------------------------------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        """Hand out a trigger_id like Slack does with every interaction."""
        trigger_id = f"{next(self._counter)}.{self.team_id[1:]}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = Trigger(user_id=user_id, issued_at=self.clock.now())
        return trigger_id

    # -- views -------------------------------------------------------------------------------

    def build_view(
        self,
        user: SimulatedUser,
        spec: Mapping[str, Any],
        *,
        view_id: str | None = None,
    ) -> FakeView:
        """A view from a (validated) views.* ``view`` argument."""
        view_id = view_id or self.new_id("V")
        blocks = self.normalise_blocks(spec.get("blocks") or [])
        view = FakeView(
            id=view_id,
            team_id=self.team_id,
            user_id=user.id,
            app_id=self.app_id,
            bot_id=self.bot_id,
            type=str(spec.get("type")),
            blocks=blocks,
            hash=self._view_hash(view_id),
            title=spec.get("title"),
            submit=spec.get("submit"),
            close=spec.get("close"),
            callback_id=str(spec.get("callback_id") or ""),
            private_metadata=str(spec.get("private_metadata") or ""),
            state_values=initial_state(blocks),
        )
        return view

    def _view_hash(self, view_id: str) -> str:
        digest = hashlib.sha1(f"{view_id}:{next(self._counter)}".encode()).hexdigest()[:12]
        return f"{int(time.time())}.{digest}"

    def open_modal(self, user: SimulatedUser, view: FakeView) -> None:
        """views.open replaces a modal that is still open, as Slack does."""
        if user.modal is not None:
            self.close_modal(user)
        user.modal = view
        self.views[view.id] = view
        self._notify_user(user)

    def publish_home(self, user: SimulatedUser, view: FakeView) -> None:
        user.home = view
        self.views[view.id] = view
        self._notify_user(user)

    def close_modal(self, user: SimulatedUser) -> None:
        """Close the open modal, as Slack does after a submission answered without errors."""
        if user.modal is not None:
            user.modal.closed = True
            user.closed_modals.append(user.modal)
            user.modal = None
        self._notify_user(user)

    def deliver_file(self, user: SimulatedUser, file: FakeFile) -> None:
        user.files.append(file)
        self._notify_user(user)

    # -- notification ------------------------------------------------------------------------

    def _notify_channel(self, channel: FakeChannel) -> None:
        if channel.user_id is not None:
            self._notify_user(self.users.get(channel.user_id))

    @staticmethod
    def _notify_user(user: SimulatedUser | None) -> None:
        if user is not None:
            user.notifier.notify()


def initial_state(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``view.state.values`` of a freshly opened view: every input at its initial value.

    Slack sends an entry for every input block on submission, with ``None`` for untouched
    inputs, so handlers must cope with that; the fake does the same.
    """
    values: dict[str, Any] = {}
    for block in blocks:
        if block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element = block["element"]
        values[str(block["block_id"])] = {
            str(element.get("action_id")): element_state(element, element.get("initial_value"))
        }
    return values


def element_state(element: Mapping[str, Any], value: str | None) -> dict[str, Any]:
    """The state entry Slack reports for a text input holding ``value`` (what a test types).

    The bot's modals hold ``plain_text_input`` only; selects, pickers and checkboxes report
    other shapes and are not modelled.
    """
    kind = str(element.get("type"))
    if kind != "plain_text_input":
        raise NotImplementedError(f"input {kind!r} is not modelled by the fake")
    return {"type": kind, "value": value}
