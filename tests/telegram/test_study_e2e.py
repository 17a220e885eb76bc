"""A whole two-round study in Telegram: the real PTB application against the Bot API fake.

15 experts join with invite links, consent, rate every statement (a few comments, a few
"unable to rate"), the coordinator closes round 1, revises two statements, opens round 2;
the experts re-rate with the anonymised feedback in front of them; round 2 closes. Then
the database, the export and every expert's chat are checked.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re

from sqlalchemy import func, select

from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment, Identity, Participant, Rating, RoundResult
from tests.engine.helpers import loaded
from tests.fakes.telegram_api import running_telegram_fake
from tests.fakes.telegram_model import SimulatedUser
from tests.report.test_word import word_tables
from tests.telegram.harness import card_of, command, press, running_bot

PANEL = 15
LABELS = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree",
          "Strongly agree"]
COMMENTS = {(1, "S02"): "Too broad: <i>really</i> depends @expert_2 & co",
            (2, "S03"): "Clothing is <b>not</b> practical in summer"}


def label(value: int | None) -> str:
    if value is None:
        return "Unable to rate"
    return f"{value} · {LABELS[value - 1]}" if value in (1, 5) else str(value)


def round_one(expert: int) -> dict[str, int | None]:
    return {
        "S01": 4 if expert % 3 == 0 else 5,
        "S02": None if expert == 14 else (4 if expert < 7 else 2),
        "S03": 5 if expert % 2 == 0 else 1,
        "S04": None if expert == 3 else (1 if expert % 2 else 2),
        "S05": 5,
    }


def round_two(expert: int) -> dict[str, int | None]:
    return {"S02": 3 if expert in (5, 9) else 4, "S03": 4 if expert < 10 else 2}


SEEN: dict[tuple[int, int, str], str] = {}  # (expert, round, statement) -> card as shown


async def rate_round(user: SimulatedUser, expert: int, round_number: int,
                     plan: dict[str, int | None], codes: list[str]) -> None:
    card = await user.wait_for_message(lambda m: card_of(m) == (round_number, 1, len(codes)))
    for position, code in enumerate(codes, start=1):
        assert card_of(card) == (round_number, position, len(codes)), user.transcript()
        SEEN[(expert, round_number, code)] = card.visible_text
        comment = COMMENTS.get((expert, code)) if round_number == 1 else None
        if comment:
            await press(user, card, "Comment")
            ask = await user.wait_for_message(lambda m: "Send your comment" in m.visible_text,
                                              since=card)
            assert "statement" in ask.visible_text
            sent = user.send_text(comment)
            await user.wait_for_message(lambda m: "Comment saved" in m.visible_text, since=sent)
        toast = await press(user, card, label(plan[code]))
        value = plan[code]
        assert toast == f"Recorded: {'Unable to rate' if value is None else label_long(value)}"
        wanted = (round_number, position + 1, len(codes))
        card = await user.wait_for_message(
            lambda m, wanted=wanted: card_of(m) == wanted or (
                wanted[1] > wanted[2] and "Review" in m.visible_text), since=card)
    await press(user, card, "Submit my ballot")
    await user.wait_until(lambda: "submitted" in user.message(card.message_id).visible_text)


def label_long(value: int) -> str:
    return f"{value} · {LABELS[value - 1]}"


async def count(store: Store, model: type) -> int:
    async with store.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def test_two_round_study_in_telegram(store: Store, clock: ManualClock) -> None:
    spec = await loaded(store, clock.now())
    codes = [s.id for s in spec.statements]
    async with running_telegram_fake() as fake, running_bot(fake, store, clock, spec) as bot:
        coordinator = bot.coordinator
        invites = await command(coordinator, "invite", str(PANEL), expect="single-use invites")
        tokens = re.findall(r"https://t\.me/delphi_test_bot\?start=([\w-]+)",
                            invites.visible_text)
        assert len(tokens) == PANEL
        experts = [fake.create_user(f"Alice{n}q", username=f"alice_{n}q",
                                    last_name=f"Smith{n}q") for n in range(PANEL)]

        async def join(user: SimulatedUser, token: str) -> None:
            consent = await command(user, "start", token, expect="I agree")
            await press(user, consent, "I agree to take part")
            await user.wait_for_message(lambda m: "you are on the panel" in m.visible_text)

        await asyncio.gather(*(join(u, t) for u, t in zip(experts, tokens, strict=True)))
        await command(coordinator, "openround", "7d", expect="Round 1 is open")
        await bot.deliver()
        await asyncio.gather(*(rate_round(u, i, 1, round_one(i), codes)
                               for i, u in enumerate(experts)))
        assert await count(store, Rating) == PANEL * len(codes)
        assert await count(store, Comment) == 2

        confirm = await command(coordinator, "closeround", expect="Close round 1 now?")
        assert "15 of 15 experts have submitted" in confirm.visible_text
        await press(coordinator, confirm, "Close the round")
        results = await coordinator.wait_for_message(
            lambda m: "Round 1 results" in m.visible_text, since=confirm)
        assert "S01: consensus to endorse" in results.visible_text
        assert "S04: consensus to reject" in results.visible_text
        await bot.deliver()
        for user in experts:
            await user.wait_for_message(lambda m: "Round 1 has closed" in m.visible_text)

        await command(coordinator, "revise", "S02", "Sunscreen should be reapplied every 2 "
                      "hours outdoors, and after swimming.", expect="S02 revised")
        await command(coordinator, "revise", "S03", "Protective clothing is more reliable "
                      "than sunscreen for long outdoor stays.", expect="S03 revised")
        await command(coordinator, "openround", "7d", expect="Round 2 is open")
        await bot.deliver()
        first = await experts[1].wait_for_message(lambda m: card_of(m) == (2, 1, 2))
        text = first.visible_text
        assert "Round 1 results (n = 14)" in text and "Your rating: 4 · Agree" in text
        assert "← you" in text and "Previous wording" in text
        await asyncio.gather(*(rate_round(u, i, 2, round_two(i), ["S02", "S03"])
                               for i, u in enumerate(experts)))

        confirm = await command(coordinator, "closeround", expect="Close round 2 now?")
        await press(coordinator, confirm, "Close the round")
        await coordinator.wait_for_message(lambda m: "Round 2 results" in m.visible_text,
                                           since=confirm)
        await bot.deliver()
        for user in experts:
            await user.wait_for_message(lambda m: "Round 2 has closed" in m.visible_text)
        await command(coordinator, "export", expect="Export of study tiny")
        await coordinator.wait_until(lambda: len(coordinator.documents) == 8)
        # Rendering the figures (PNG 300 dpi, SVG, PDF) and the .docx takes a few seconds
        # on a loaded machine: wait longer than for a chat answer.
        sent = coordinator.send_command("report")
        await coordinator.wait_for_message(lambda m: "Report of study tiny" in m.visible_text,
                                           since=sent, timeout=120)
        await coordinator.wait_until(lambda: len(coordinator.documents) == 11, timeout=60)

        # --- the data -----------------------------------------------------------------
        assert await count(store, Rating) == PANEL * (len(codes) + 2)
        assert await count(store, RoundResult) == len(codes) + 2
        files = {d.file_name: d.data.decode() for d in coordinator.documents
                 if d.file_name.endswith(".csv")}
        rows = list(csv.DictReader(io.StringIO(files["ratings.csv"])))
        async with store.transaction() as session:  # the test may look behind the curtain
            pseudonyms = dict((await session.execute(
                select(Identity.user_id, Participant.pseudonym)
                .join(Participant, Participant.id == Identity.participant_id))).all())
        assert len(pseudonyms) == PANEL
        by_expert: dict[str, dict[tuple[str, str], str]] = {}
        for row in rows:
            by_expert.setdefault(row["participant"], {})[(row["round"], row["statement"])] = \
                row["rating"]
        pressed = {}
        for index in range(PANEL):
            expected = {("1", c): "" if v is None else str(v) for c, v in round_one(index).items()}
            expected |= {("2", f"{c}.v2"): str(v) for c, v in round_two(index).items()}
            pressed[pseudonyms[str(experts[index].id)]] = expected
        assert by_expert == pressed

        # --- privacy: nobody's identity in anybody else's chat, or in the export -----------
        for user in experts:
            transcript = "\n".join(m.visible_text + " ".join(m.button_texts)
                                   for m in user.bot_messages)
            for other in [*experts, coordinator]:
                if other is user:
                    continue
                for secret in (other.first_name, other.username, str(other.id),
                               other.last_name):
                    assert secret is not None and secret not in transcript, (secret, user)
        for name, content in files.items():
            for user in experts:
                for secret in (user.first_name, user.username, str(user.id)):
                    assert secret is not None and secret not in content, (secret, name)
        # Feedback in round 2: others' comments as typed (escaped: no markup took effect),
        # never the expert's own comment shown back as someone else's.
        comment = COMMENTS[(1, "S02")]
        assert comment in SEEN[(3, 2, "S02")] and comment not in SEEN[(1, 2, "S02")]
        assert "Your rating: Unable to rate" in SEEN[(14, 2, "S02")]
        assert "Round 1 results (n = 15)" in SEEN[(0, 2, "S03")]
        # The report as the coordinator received it: report.docx opens, and Table 2 lists
        # every statement's final wording with the numbers of results.csv.
        docx = next(d.data for d in coordinator.documents if d.file_name == "report.docx")
        table = next(t for t in word_tables(docx) if "Final text" in t[0])
        final = {row["statement"]: row for row in csv.DictReader(io.StringIO(
            files["statements.csv"]))}
        assert [row[0] for row in table[1:]] == sorted(final)
        assert all(row[1] == final[row[0]]["text"] for row in table[1:])
        results = {(r["round"], r["statement"]): r
                   for r in csv.DictReader(io.StringIO(files["results.csv"]))}
        column = table[0].index("R2 n valid / unable")
        for row in table[1:]:
            expected = results[("2", f"{row[0]}.v2")] if ("2", f"{row[0]}.v2") in results \
                else results.get(("2", row[0]))
            if expected is not None:
                assert row[column].startswith(f"{expected['n']} / {expected['n_unable']}")
                assert row[column + 1].startswith(
                    f"{round(float(expected['pct_agree']), 1):g} % [")
        assert not fake.internal_errors
        assert not any(m.visible_text.startswith("Please use the buttons")
                       for u in experts for m in u.bot_messages)
