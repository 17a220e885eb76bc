"""Erasure of a participant's identity (CLI and on withdrawal) and the database file's mode."""

from __future__ import annotations

import asyncio
import re
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.memory import MemoryMessenger
from bot.app.cli import main
from bot.chat.cards import card
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.outbox import enqueue
from bot.dialogue.conductor import Conductor
from bot.dialogue.context import Coordinators, StudyContext
from engine.ballots import record_rating
from engine.clock import ManualClock, SystemClock
from engine.conversation import expect_comment
from engine.db import Store
from engine.models import (
    AuditEntry,
    Ballot,
    Identity,
    OutboxMessage,
    Participant,
    PendingInput,
    Rating,
)
from engine.rounds import open_round
from engine.studyfile import load_study_file, parse_study
from tests.engine.helpers import EXAMPLES, enrol_panel, loaded

PLATFORM = "memory"


def write_workdir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "tiny.toml", tmp_path / "study.toml")
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "sqlite:///data/delphi.db"\n'
                      '[study]\nfile = "study.toml"\n[telegram]\ntoken = "123:abc"\n'
                      '[coordinators]\ntelegram = [42]\n')
    return config


def delphi(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def count(store: Store, model: type) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


def test_erase_via_cli_keeps_ratings_and_drops_the_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_workdir(tmp_path))
    assert delphi(capsys, "db", "upgrade", "--config", config)[0] == 0
    assert delphi(capsys, "study", "load", "--config", config)[0] == 0
    url = f"sqlite:///{tmp_path / 'data' / 'delphi.db'}"

    async def prepare() -> None:
        store = Store.from_url(url)
        now = SystemClock().now()
        try:
            ids = await enrol_panel(store, "tiny", 2, now)
            async with store.transaction() as session:
                await open_round(session, "tiny", now)
            async with store.transaction() as session:
                for code, value in (("S01", 4), ("S02", 2)):
                    await record_rating(session, ids[0], 1, code, value, now)
                await record_rating(session, ids[1], 1, "S01", 5, now)
                await expect_comment(session, ids[0], 1, "S03", now)
                await enqueue(session, "tiny", "note", [card("hello")], "note:p01", now,
                              participant_id=ids[0])
        finally:
            await store.dispose()

    asyncio.run(prepare())
    code, out, err = delphi(capsys, "participant", "erase", "P01", "--config", config)
    assert code == 0 and err == "" and out.count("\n") == 1
    assert "Erased the identity of P01" in out and "withdrawn" in out

    async def inspect() -> tuple[list[str], list[tuple[str, int | None]], str, list[str]]:
        store = Store.from_url(url)
        try:
            async with store.transaction() as session:
                users = list((await session.scalars(select(Identity.user_id))).all())
                rated = [(p, v) for p, v in (await session.execute(
                    select(Participant.pseudonym, Rating.value)
                    .join(Ballot, Ballot.id == Rating.ballot_id)
                    .join(Participant, Participant.id == Ballot.participant_id)
                    .where(Participant.pseudonym == "P01"))).all()]
                status = await session.scalar(select(Participant.status).where(
                    Participant.pseudonym == "P01"))
                audit = list((await session.scalars(select(AuditEntry.actor).where(
                    AuditEntry.action == "erase_identity"))).all())
                assert await session.scalar(select(func.count()).select_from(
                    PendingInput)) == 0
            # The dispatcher fails the erased participant's queued message, and goes on.
            messenger = MemoryMessenger()
            dispatcher = Dispatcher(store, SystemClock(), {"telegram": messenger})
            assert await dispatcher.run_once() == 0
            async with store.transaction() as session:
                row = await session.scalar(select(OutboxMessage).where(
                    OutboxMessage.dedupe_key == "note:p01"))
                assert row is not None and row.status == "failed"
                assert "no identity" in (row.last_error or "")
            return users, rated, status or "", audit
        finally:
            await store.dispose()

    users, rated, status, audit = asyncio.run(inspect())
    assert users == ["1001"]  # only P02's identity is left
    assert sorted(rated) == [("P01", 2), ("P01", 4)] and status == "withdrawn" and audit == ["cli"]

    out_dir = tmp_path / "export"
    assert delphi(capsys, "export", "--config", config, "--out", str(out_dir))[0] == 0
    rows = (out_dir / "ratings.csv").read_text().splitlines()
    assert "1,S01,P01,4," in rows and "1,S02,P01,2," in rows and "1,S01,P02,5," in rows
    everything = b"".join(p.read_bytes() for p in out_dir.rglob("*") if p.is_file())
    for secret in (b"Expert 0", b"expert0", b"1000"):
        assert secret not in everything

    # An unknown pseudonym: exit 2, one clear line, nothing written.
    code, out, err = delphi(capsys, "participant", "erase", "P99", "--config", config)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "no participant 'P99'" in err and "nothing" in err
    assert asyncio.run(_audit_count(url)) == 1


async def _audit_count(url: str) -> int:
    store = Store.from_url(url)
    try:
        async with store.transaction() as session:
            return await session.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "erase_identity")) or 0
    finally:
        await store.dispose()


def test_privacy_section_defaults_keep_the_content_hash() -> None:
    text = (EXAMPLES / "tiny.toml").read_text()
    plain = load_study_file(EXAMPLES / "tiny.toml")
    explicit = parse_study(text + "\n[privacy]\nerase_on_withdrawal = false\n")
    erasing = parse_study(text + "\n[privacy]\nerase_on_withdrawal = true\n")
    assert not plain.privacy.erase_on_withdrawal and erasing.privacy.erase_on_withdrawal
    assert "privacy" not in plain.canonical_json()
    assert explicit.content_hash() == plain.content_hash()
    assert erasing.content_hash() != plain.content_hash()


@pytest.mark.parametrize("erase", [True, False])
async def test_withdrawal_erases_the_identity_when_the_study_says_so(
    store: Store, clock: ManualClock, erase: bool
) -> None:
    text = (EXAMPLES / "tiny.toml").read_text()
    spec = await loaded(store, clock.now(), parse_study(
        text + f"\n[privacy]\nerase_on_withdrawal = {'true' if erase else 'false'}\n"))
    conductor = Conductor(StudyContext(
        store, clock, spec, Coordinators(frozenset({(PLATFORM, "coord")})),
        invite_link=lambda token: f"token:{token}"))
    messenger = MemoryMessenger()
    dispatcher = Dispatcher(store, clock, {PLATFORM: messenger})
    coordinator = messenger.chat(conductor, "coord", "Dr Coordinator")
    await coordinator.command("invite", "2")
    tokens = [line.split("token:")[1].split()[0]
              for line in coordinator.last.plain_text().splitlines() if "token:" in line]
    experts = []
    for index, token in enumerate(tokens):
        chat = messenger.chat(conductor, f"u{index}", f"Alice Expert{index}")
        await chat.command("start", token)
        await chat.press("I agree to take part")
        experts.append(chat)
    await coordinator.command("openround", "7d")
    await dispatcher.run_once()
    leaver = experts[0]
    await leaver.press("4")
    await leaver.press("Comment")
    await leaver.command("withdraw")
    await leaver.press("Yes, withdraw")
    assert "withdrawn" in leaver.last.plain_text()

    async with store.transaction() as session:
        users = sorted((await session.scalars(select(Identity.user_id))).all())
        status = await session.scalar(select(Participant.status).where(
            Participant.pseudonym == "P01"))
        values = list((await session.scalars(select(Rating.value))).all())
        audit = list((await session.scalars(select(AuditEntry.actor).where(
            AuditEntry.action == "erase_identity"))).all())
        pending = await session.scalar(select(func.count()).select_from(PendingInput))
    assert status == "withdrawn" and values == [4] and pending == 0
    if erase:
        assert users == ["u1"] and audit == ["P01"]
        # Coming back with /start: nobody known any more, a clear answer, nothing written.
        await leaver.command("start")
        assert "invite" in leaver.last.plain_text().lower()
    else:
        assert users == ["u0", "u1"] and audit == []
    # A round closing later queues nothing the dispatcher cannot handle.
    await coordinator.command("closeround")
    await coordinator.press("Close the round")
    await dispatcher.run_once()
    assert await count(store, Identity) == (1 if erase else 2)


async def test_database_files_are_private_to_the_owner(tmp_path: Path,
                                                       clock: ManualClock) -> None:
    path = tmp_path / "private" / "delphi.db"
    store = Store.from_url(f"sqlite:///{path}")
    try:
        await store.create_all()
        await loaded(store, clock.now())
        await enrol_panel(store, "tiny", 1, clock.now())
        files = [path, path.with_name("delphi.db-wal"), path.with_name("delphi.db-shm")]
        for file in files:
            assert file.exists(), file
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    finally:
        await store.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_feedback_settings_off_keep_the_content_and_protocol_hash() -> None:
    """The four settings of issue 19 default off and leave older hashes as they were."""
    text = (EXAMPLES / "tiny.toml").read_text()
    plain = load_study_file(EXAMPLES / "tiny.toml")
    explicit = parse_study(text.replace("[consensus]", 'confidence = "off"\n\n[consensus]')
                           + '\n[feedback]\nask_reason = "off"\nby_group = false\n'
                             'replies = false\n')
    assert explicit.content_hash() == plain.content_hash()
    assert explicit.protocol() == plain.protocol() and "feedback" not in plain.protocol()
    asking = parse_study(text + '\n[feedback]\nask_reason = "outside_iqr"\n')
    assert asking.protocol()["feedback"] == {"ask_reason": "outside_iqr"}


async def test_reasons_replies_and_group_figures_never_say_who(store: Store,
                                                               clock: ManualClock) -> None:
    """Every text an expert is sent with all four settings on: no other expert's name,
    platform id or pseudonym; a group under 3 valid ratings has no figure of its own; the
    coordinator's /comments lists reasons and replies by number, without pseudonyms."""
    from tests.bot.test_feedback_extras import GROUPS, Panel, spec_with

    spec = spec_with("all")
    await loaded(store, clock.now(), spec)
    panel = Panel(store, clock, spec)
    await panel.enrol(GROUPS)
    await panel.round_one()
    first, second = panel.experts[0], panel.experts[2]
    await first.press("Reply to [1]")
    await first.say("Reply text from the first expert")
    await first.press("5 · Strongly agree")
    await first.say("Reason text from the first expert")
    await second.press("1 · Strongly disagree")
    await second.say("Reason text from another expert")
    async with store.transaction() as session:
        pseudonyms = (await session.scalars(select(Participant.pseudonym))).all()
    for chat in panel.experts:
        consent = chat.messages[0].first  # names a sample pseudonym as an example
        assert any(b.label == "I agree to take part" for row in consent.buttons for b in row)
        cards = [c for m in chat.messages for c in (*m.history, m.card)  # edits too
                 if c is not consent]
        seen = "\n".join([*(c.plain_text() for c in cards), *(b.label for c in cards
                                                              for row in c.buttons
                                                              for b in row),
                          *chat.toasts])
        for other in panel.experts:
            if other is not chat:
                assert other.name not in seen
                assert not re.search(rf"\b{other.user_id}\b", seen)
        for pseudonym in pseudonyms:
            assert pseudonym not in seen
        hospital = [line for line in seen.splitlines() if "Hospital" in line]
        assert hospital and all(line == "Hospital: too few to show" for line in hospital)
    await panel.coordinator.command("comments", "2")
    listed = panel.coordinator.last.plain_text()
    assert "Reason text from the first expert" in listed
    assert "Reply text from the first expert" in listed
    for pseudonym in pseudonyms:
        assert pseudonym not in listed
