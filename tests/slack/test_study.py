"""A whole two-round study in Slack: signed requests to bolt's real endpoint, the real
conductor and store, the Web API fake. The same story as the in-memory scenario in
tests/bot/test_conductor.py, told in Block Kit."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from engine.clock import ManualClock
from engine.db import Store
from engine.models import Comment, Participant, Rating, RoundResult
from engine.studyfile import load_study_file
from tests.engine.helpers import EXAMPLES, loaded
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.harness import (
    TOKENS,
    SlackStudy,
    bare_commands,
    card_of,
    count,
    everything_seen,
    last_text,
    rate_round,
    rating_card,
    running_study,
)

# Round 1 ratings per expert, statement positions 1-5 (S01-S05); None: unable to rate.
PLAN: dict[int, list[int | None]] = {0: [5, 5, 4, 2, 5], 1: [4, 5, 4, 1, 5],
                                     2: [5, 4, 1, 2, 4], 3: [4, 2, 2, None, 5]}
INJECTION = "Not in summer <@U123> <!channel> & <https://evil|click>"
ESCAPED = "Not in summer &lt;@U123&gt; &lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
COMMENTS = {(1, 3): "Depends on skin type, e.g. *fair* skin", (2, 3): INJECTION}
LIKERT = ["1 · Strongly disagree", "2", "3", "4", "5 · Strongly agree"]


def plan_of(expert: int) -> Callable[[int], int | None]:
    return lambda position: PLAN[expert][position - 1]


async def test_two_rounds_with_feedback_and_no_names(study: SlackStudy) -> None:
    experts = await study.enrol(4)
    assert "when the first round opens" in last_text(experts[0])

    await study.command(study.coordinator, "openround 7d")
    assert "Round 1 is open" in last_text(study.coordinator)
    assert await study.deliver() == 4
    first = rating_card(experts[0], 1, 1)
    assert card_of(first) == (1, 1, 5)
    assert first.blocks[0] == {"type": "header", "block_id": first.blocks[0]["block_id"],
                               "text": {"type": "plain_text", "emoji": True,
                                        "text": "Round 1 · Statement 1 of 5 · Sun protection"}}
    labels = [b.text for b in first.buttons]
    assert labels == [*LIKERT, "Unable to rate", "Comment"]
    assert all(label and label[0].isdigit() for label in labels[:5])
    assert len({(b.block_id, b.action_id) for b in first.buttons}) == len(labels)

    for index, user in enumerate(experts):
        comments = {p: text for (e, p), text in COMMENTS.items() if e == index}
        await rate_round(study, user, 1, plan_of(index), comments)
    assert await count(study.store, Rating) == 20
    assert await count(study.store, Comment) == 2

    await study.command(study.coordinator, "closeround")
    confirm = study.coordinator.last_message
    assert confirm is not None and "4 of 4 experts have submitted" in confirm.visible_text
    await study.press(study.coordinator, "Close the round", confirm)
    assert "Round 1 closed." in study.coordinator.message(confirm.ts).visible_text
    results = last_text(study.coordinator)
    assert "Round 1 results" in results and "S01: consensus to endorse" in results
    assert await count(study.store, RoundResult) == 5
    assert await study.deliver() == 4
    for user in experts:
        assert "Round 1 has closed" in last_text(user)
        assert "4 of 4 experts submitted" in last_text(user)

    await study.command(study.coordinator, "revise S03 Protective clothing is more reliable "
                                           "than sunscreen in strong sun.")
    assert "S03 revised" in last_text(study.coordinator)
    await study.command(study.coordinator, "openround 7d")
    assert await study.deliver() == 4

    card = rating_card(experts[0], 2, 1)
    text = card.visible_text
    assert "more reliable than sunscreen in strong sun" in text
    assert "Revised since round 1" in text
    assert "Your rating: 4 · Agree" in text
    sections = [b["text"]["text"] for b in card.blocks if b["type"] == "section"]
    histogram = next(s for s in sections if s.startswith("```"))
    assert histogram.endswith("```") and "← you" in histogram
    assert any(s.startswith("*Round 1 results (n = 4)") for s in sections)
    assert ">Depends on skin type, e.g. *fair* skin" in sections
    assert f">{ESCAPED}" in sections  # shown literally: no mention, no ping, no link
    for user in experts:
        for seen in everything_seen(user):
            assert "<@U123>" not in seen and "<!channel>" not in seen
            assert "<https://evil" not in seen

    for user in experts:
        await rate_round(study, user, 2, lambda position: 4)
    round_two = card_of(card)
    assert round_two is not None
    assert await count(study.store, Rating) == 20 + 4 * round_two[2]

    everyone = [*experts, study.coordinator]
    for user in everyone:
        assert bare_commands(user) == [], user.name
    for user in experts:
        seen = "\n".join(everything_seen(user))
        assert "Alice" not in seen and "Carol" not in seen
        for other in everyone:
            if other is not user:
                for identity in (other.id, other.name, other.real_name, other.display_name,
                                 other.dm.id):
                    assert identity not in seen, (user.name, identity)


async def test_app_home_for_coordinator_expert_and_stranger(study: SlackStudy) -> None:
    [expert] = await study.enrol(1)
    stranger = study.fake.create_user("mallory")
    await study.command(study.coordinator, "openround 7d")
    await study.deliver()
    await study.press(expert, "4", rating_card(expert, 1, 1))

    await study.open_home(study.coordinator)
    home = study.coordinator.home
    assert home is not None and home.type == "home"
    assert "Tiny pilot study · round 1" in home.visible_text
    assert "Submitted 0 of 1; started 1." in home.visible_text
    assert "S01: consensus to endorse · n=1" in home.visible_text

    await study.open_home(expert)
    assert expert.home is not None
    assert "Round 1: 1 of 5 answered; not submitted yet" in expert.home.visible_text
    messages = len(expert.messages)
    await study.press(expert, "Continue")  # a button on the Home tab: the card goes to the DM
    assert len(expert.messages) == messages + 1
    assert card_of(expert.messages[-1]) == (1, 2, 5)

    await study.open_home(stranger)
    assert stranger.home is not None and "invite" in stranger.home.visible_text
    assert study.fake.call_count("views.publish", ok=False) == 0


async def test_export_is_uploaded_to_the_coordinators_dm(study: SlackStudy) -> None:
    [expert] = await study.enrol(1)
    await study.command(study.coordinator, "openround 7d")
    await study.deliver()
    await rate_round(study, expert, 1, lambda position: 4)
    await study.command(study.coordinator, "export")
    texts = [m.visible_text for m in study.coordinator.messages]
    assert any("Export of study tiny" in t for t in texts)
    assert {f.filename for f in study.coordinator.files} == {
        "ratings.csv", "results.csv", "statements.csv", "comments.csv", "participants.csv",
        "flow.csv", "panel.csv", "study.xlsx"}
    files = {f.filename: (f.content or b"").decode() for f in study.coordinator.files
             if f.filename.endswith(".csv")}
    ratings = list(csv.DictReader(io.StringIO(files["ratings.csv"])))
    assert len(ratings) == 5
    assert expert.id not in files["ratings.csv"] and expert.name not in files["ratings.csv"]
    assert expert.files == []


async def test_refusals_and_the_comment_fallback(study: SlackStudy) -> None:
    [expert] = await study.enrol(1)
    stranger = study.fake.create_user("mallory")
    await study.command(stranger, "closeround")
    assert "only for the study coordinators" in last_text(stranger)
    await study.command(stranger, "join not-a-token")
    assert "not valid" in last_text(stranger)
    await study.command(stranger)
    assert "invite" in last_text(stranger)
    await study.command(expert, "help")
    help_text = last_text(expert)
    assert "/delphi ballot continues your ballot" in help_text
    assert "/delphi status" not in help_text  # coordinator commands are for coordinators

    await study.command(study.coordinator, "openround 7d")
    await study.deliver()
    card = rating_card(expert, 1, 1)

    # The trigger_id has expired before views.open: the conductor's "send it as a message"
    # card is shown instead, and a DM message becomes the comment.
    study.fake.trigger_ttl = 0
    await study.press(expert, "Comment", card)
    assert expert.modal is None
    assert "as your next message" in last_text(expert)
    await study.slack.send_dm(expert, "Only with SPF 50 & a hat")
    await study.adapter.settle()
    assert "Comment saved on statement 1" in last_text(expert)
    study.fake.trigger_ttl = 3.0
    await study.slack.send_dm(expert, "hello?")
    await study.adapter.settle()
    assert "Sent to the study coordinators" in last_text(expert)

    await study.press(expert, "4", card)
    await study.command(study.coordinator, "closeround")
    await study.press(study.coordinator, "Close the round")
    await study.deliver()
    messages = len(expert.messages)
    stale = rating_card(expert, 1, 2)
    await study.press(expert, "5", stale)  # round 1 is closed: an alert, shown ephemerally
    assert len(expert.messages) == messages
    notice = await expert.wait_for_ephemeral()
    assert "Round 1 has closed" in notice.text and "/delphi ballot" in notice.text
    for user in (expert, stranger, study.coordinator):  # every command the Slack way
        assert bare_commands(user) == [], user.name
    assert await count(study.store, Rating) == 1
    async with study.store.transaction() as session:
        participant = await session.get(Participant, 1)
        assert participant is not None and participant.pseudonym == "P01"


async def test_slash_command_outside_the_dm_answers_in_the_dm(study: SlackStudy) -> None:
    reply = await study.slack.slash_command(study.coordinator, "/delphi", "status",
                                            channel_id="C0GENERAL")
    await study.adapter.settle()
    assert reply.status == 200 and "direct messages" in reply.body
    assert "No round is open" in last_text(study.coordinator)
    assert study.coordinator.last_message is not None
    assert study.coordinator.last_message.channel == study.coordinator.dm.id


async def test_back_change_resume_progress_and_withdraw(study: SlackStudy) -> None:
    [expert] = await study.enrol(1)
    await study.command(study.coordinator, "openround 7d")
    await study.deliver()
    await study.press(expert, "4", rating_card(expert, 1, 1))
    await study.press(expert, "Back", rating_card(expert, 1, 2))
    again = rating_card(expert, 1, 1)
    assert "Your current answer: 4 · Agree" in again.visible_text
    await study.press(expert, "2", again)
    assert await count(study.store, Rating) == 1  # an upsert: the answer changed
    await study.press(expert, "Change")  # on the rated card: that statement again
    assert card_of(expert.messages[-1]) == (1, 1, 5)

    await study.command(expert, "ballot")  # resumes at the first unanswered statement
    assert card_of(expert.messages[-1]) == (1, 2, 5)
    await study.command(expert, "progress")
    assert "Round 1: 1 of 5 answered; not submitted yet" in last_text(expert)
    await study.press(expert, "Continue")
    assert card_of(expert.messages[-1]) == (1, 2, 5)

    await study.command(expert, "withdraw")
    confirm = expert.last_message
    await study.press(expert, "No, stay", confirm)
    assert confirm is not None and "You stay on the panel." in \
        expert.message(confirm.ts).visible_text
    await study.command(expert, "withdraw")
    await study.press(expert, "Yes, withdraw")
    assert "You have withdrawn" in last_text(expert)
    async with study.store.transaction() as session:
        participant = await session.get(Participant, 1)
        assert participant is not None and participant.status == "withdrawn"


async def test_a_long_invite_list_is_split_across_sections(study: SlackStudy) -> None:
    await study.command(study.coordinator, "invite 200")
    messages = [m for m in study.coordinator.messages if "/delphi join" in m.visible_text]
    tokens = {t for m in messages for t in TOKENS.findall(m.visible_text)}
    assert len(tokens) == 200 and study.fake.call_count("chat.postMessage", ok=False) == 0
    sections = [b for m in messages for b in m.blocks if b["type"] == "section"]
    assert len(sections) > 2 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert all(b["text"]["text"].startswith("```") for b in sections[1:])


async def test_screening_and_a_nine_point_scale(fake: FakeSlackApi, store: Store,
                                               clock: ManualClock) -> None:
    spec = await loaded(store, clock.now(),
                        load_study_file(EXAMPLES / "isotretinoin-rejuvenation.toml"))
    async with running_study(fake, store, clock, spec) as study:
        await study.command(study.coordinator, "invite 1")
        [token] = TOKENS.findall(last_text(study.coordinator))
        expert = fake.create_user("derm1")
        await study.command(expert, f"join {token}")
        await study.press(expert, "I agree to take part")
        for index, question in enumerate(spec.screening, start=1):
            card = expert.last_message
            assert card is not None
            assert f"Your declarations · {index} of {len(spec.screening)}" in card.visible_text
            assert [b.text for b in card.buttons] == question.options
            await study.press(expert, (question.eligible or question.options)[0], card)
        assert "you are on the panel" in last_text(expert)

        await study.command(study.coordinator, "openround 14d")
        await study.deliver()
        first = rating_card(expert, 1, 1)
        labels = [b.text or "" for b in first.buttons]
        assert [label.split(" ")[0] for label in labels[:9]] == [str(v) for v in range(1, 10)]
        assert all(len(label) <= 75 for label in labels)
        await study.press(expert, "7", first)
        assert card_of(expert.messages[-1]) == (1, 2, len(spec.statements))


async def test_an_experts_slack_time_zone_is_used(study: SlackStudy) -> None:
    """Slack knows where each expert is: deadlines and quiet hours then use their zone."""
    from sqlalchemy import select

    [expert] = await study.enrol(1)  # the fake's users are in Europe/Berlin
    async with study.store.transaction() as session:
        zones = (await session.scalars(select(Participant.timezone))).all()
    assert zones == ["Europe/Berlin"]
    await study.command(study.coordinator, "openround 2026-03-01")
    await study.deliver()
    assert any("(Europe/Berlin)" in m.visible_text for m in expert.messages)
