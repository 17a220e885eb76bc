"""What experts read, over a whole simulated study of the bundled example: phone-sized
messages, one way to show numbers, a keyboard that fits, summaries that promise nothing
the coordinators may change, and a result a dermatologist would find credible."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from adapters.slack.render import render as slack_render
from adapters.telegram.render import render as telegram_render
from bot.chat.cards import PHONE_LIMIT
from bot.dialogue.texts import statement_card
from bot.tools.demo import Demo, example_panel, example_study
from engine.ballots import BallotItem
from engine.db import Store
from engine.exports import export_files
from engine.loading import load_study
from engine.schema import upgrade

SIZE = 15  # the demo panel: `make demo` shows this study


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The example study run to its end by a simulated panel (SQLite, same seed)."""
    import asyncio

    folder: Path = tmp_path_factory.mktemp("demo")

    async def run() -> Demo:
        store = Store.from_url(f"sqlite:///{folder / 'demo.db'}")
        await upgrade(store.engine)
        spec = example_study()
        demo = Demo(store, spec, 7, SIZE, example_panel())
        async with store.transaction() as session:
            await load_study(session, spec, demo.clock.now())
        await demo.run()
        async with store.transaction() as session:
            demo.exports = await export_files(session, spec.study.id)  # type: ignore[attr-defined]
        await store.dispose()
        return demo

    return asyncio.run(run())


def versions(shown: object) -> list[object]:
    """Every version of a shown message: as first sent and after each edit."""
    return [*shown.history, shown.card]  # type: ignore[attr-defined]


def expert_cards(demo: Demo) -> list[str]:
    return [card.plain_text() for chat in demo.chats.values() for shown in chat.messages  # type: ignore[attr-defined]
            for card in versions(shown)]


def test_no_message_is_longer_than_a_phone_screen_allows(finished: Demo) -> None:
    """Every card every expert got, as Telegram and Slack messages: none over 1,500
    characters (a long card, the consent too, becomes several messages, buttons last)."""
    longest_card = longest_message = 0
    consent_title = finished.spec.study.title
    for chat in finished.chats.values():
        for shown in chat.messages:
            for card in versions(shown):
                if card.heading != consent_title:  # type: ignore[attr-defined]
                    longest_card = max(longest_card, len(card.plain_text()))  # type: ignore[attr-defined]
                for message in telegram_render(card):  # type: ignore[arg-type]
                    longest_message = max(longest_message, len(message.text))
                for slack in slack_render(card):  # type: ignore[arg-type]
                    text = sum(len(b["text"]["text"]) for b in slack.blocks
                               if b["type"] == "section")
                    longest_message = max(longest_message, text)
    assert 0 < longest_message <= PHONE_LIMIT
    assert longest_card > 0  # the cards themselves may run longer: they are split


def test_the_round_summary_is_short_true_and_says_what_comes_back(finished: Demo) -> None:
    transcript = finished.chats[0].transcript()
    summaries = [c for c in expert_cards(finished) if c.startswith("Round 1 summary")]
    assert summaries and all(len(s) <= PHONE_LIMIT for s in summaries)
    first = summaries[0]
    assert "The coordinators may still revise or drop some first" in first
    assert "Round 1 has closed:" in first
    every = "\n".join(c for c in expert_cards(finished) if " summary\n" in c)
    assert "✓ S15 The full pregnancy prevention programme" in every  # a short form of the text
    assert "✓ S20 Before starting low-dose isotretinoin" in every
    final = next(c for c in expert_cards(finished) if c.startswith("Round 3 summary"))
    assert "This was the final round." in final
    # Statements that come back are explained when the next round opens, when it is true.
    assert re.search(r"Round 2 is open: \d+ statements, until .*On the ballot: \d+ without "
                     r"consensus yet; \d+ revised in the light of your comments", transcript)


def test_numbers_are_shown_one_way(finished: Demo) -> None:
    text = "\n".join(expert_cards(finished))
    assert re.search(r"IQR \d+(\.\d+)?-\d+(\.\d+)?,", text)
    assert "IQR –" not in text and "– %" not in text and "–\n" not in text
    assert re.search(r"IQR \d+\.\d{3}", text) is None  # never more than the report shows
    rejected = re.findall(r"✗ S17 [^\n]*\((\d+(?:\.\d)?) % disagreed\)", text)
    assert rejected, "the rejected statement shows the share who disagreed"


def test_nobody_could_rate_it_is_said_in_words() -> None:
    from bot.dialogue.texts import feedback_sections
    from engine.feedback import Feedback
    from engine.statement_statistics import StatementStatistics

    spec = example_study()
    empty = Feedback(StatementStatistics(round=1, code="S01", version=1, n_unable=3),
                     own_rating=None, own_rated=True, comments=[], previous_text=None,
                     change_note=None)
    line = feedback_sections(spec, empty)[0].text
    assert "no one could rate this" in line and "%" not in line and "IQR" not in line


def test_a_nine_point_keyboard_fits_a_phone_in_three_rows() -> None:
    spec = example_study()
    item = BallotItem(round=1, position=2, total=30, code="S02", domain="Dosing",
                      text=spec.statements[1].text, version_id=2, version=1,
                      revised_from_id=None, change_note=None)
    card = statement_card(spec, item, None)
    rows = [[b.label for b in row] for row in card.buttons]
    assert rows[:3] == [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]]
    assert "1 = Strongly disagree · 9 = Strongly agree" in card.plain_text()
    (message,) = telegram_render(card)
    assert [len(r) for r in message.markup.inline_keyboard][:3] == [3, 3, 3]  # type: ignore[union-attr]
    for slack in slack_render(card):
        actions = [b for b in slack.blocks if b["type"] == "actions"]
        assert [len(b["elements"]) for b in actions][:3] == [3, 3, 3]
        assert all(len(e["text"]["text"]) <= 75 for b in actions for e in b["elements"])


def test_the_demo_panel_reads_like_a_credible_consensus(finished: Demo) -> None:
    results = list(csv.DictReader(io.StringIO(finished.exports["results.csv"].decode())))  # type: ignore[attr-defined]
    last: dict[str, dict[str, str]] = {}
    for row in results:
        last[row["statement"].split(".")[0]] = row
    verdicts = {code: row["verdict"] for code, row in last.items()}
    # Pregnancy prevention, depression screening, baseline labs, sun protection: endorsed.
    for code in ("S15", "S20", "S12", "S18"):
        assert verdicts[code] == "endorsed", (code, verdicts[code])
    assert verdicts["S17"] == "rejected"  # a blanket exclusion of anyone who can conceive
    unsettled = [c for c, v in verdicts.items() if v not in ("endorsed", "rejected")]
    assert 4 <= len(unsettled) <= 14  # a few real disagreements, not a coin toss
    comments = [row for row in csv.DictReader(io.StringIO(
        finished.exports["comments.csv"].decode()))  # type: ignore[attr-defined]
        if row.get("kind", "comment") == "comment"]  # reasons and replies: feat19's lines
    panel = example_panel()
    for row in comments:
        code = row["statement"].split(".")[0]
        written = (*panel.opinions[code].comments, *panel.unable.values())
        text = row.get("comment") or row.get("text") or ""
        assert text.lstrip("'") in written, (code, text)
    statements = list(csv.DictReader(io.StringIO(finished.exports["statements.csv"].decode())))  # type: ignore[attr-defined]
    revised = [s for s in statements if s["version"] != "1"]
    assert revised
    for row in revised:
        original = next(s for s in statements
                        if s["statement"] == row["statement"] and s["version"] == "1")
        assert row["text"] != original["text"]
        assert row["text"] == panel.opinions[row["statement"]].revision
        assert row["text"][0].isupper() and row["text"].endswith(".")


def test_the_consent_is_plain_and_the_declarations_are_called_so(finished: Demo) -> None:
    chat = finished.chats[0]
    card = next(card for shown in chat.messages for card in versions(shown)
                if card.heading == finished.spec.study.title)  # type: ignore[attr-defined]
    consent = "\n".join(str(s.text) for s in card.sections[1:])  # type: ignore[attr-defined]
    for jargon in ("table", "database", "pseudonym"):
        assert jargon not in consent.lower(), jargon
    assert "under a code name instead of your name" in consent
    headings = [card.heading or "" for shown in chat.messages for card in versions(shown)]  # type: ignore[attr-defined]
    assert "Your declarations · 1 of 7" in headings
    assert not any(h.startswith("Eligibility") for h in headings)

