"""Cards as Block Kit: escaping, splitting and Slack's limits, checked with the fake's own
Block Kit validator (the rules Slack answers ``invalid_blocks`` for)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.render import (
    BUTTON_TEXT_LIMIT,
    SECTION_TEXT_LIMIT,
    button_text,
    comment_modal,
    escape,
    home_view,
    notice_text,
    render,
    section_texts,
    unescape,
)
from bot.chat.cards import Button, Card, Prompt, Section, card
from bot.chat.text import Step, say
from tests.fakes.slack_blockkit import validate_blocks, validate_view

WORDS = st.lists(st.text(alphabet="ab<>&*_`~ü\n", min_size=1, max_size=12)
                 .filter(lambda w: w.strip() != ""), max_size=1500)
STYLES = st.sampled_from(["plain", "bold", "italic", "quote", "mono"])


def _unformat(text: str, style: str) -> str:
    if style == "mono":
        text = text.removeprefix("```\n").removesuffix("\n```")
    elif style == "quote":
        text = "\n".join(line.removeprefix(">") for line in text.split("\n"))
    elif style in ("bold", "italic"):  # one marker at each end of every non-blank line
        text = "\n".join(line[1:-1] if line.strip() else line for line in text.split("\n"))
    return unescape(text)


@settings(max_examples=60, deadline=None)
@given(words=WORDS, separator=st.sampled_from([" ", "\n", "\n\n"]), style=STYLES)
def test_sections_fit_and_keep_every_word(words: list[str], separator: str,
                                          style: str) -> None:
    text = separator.join(words)
    pieces = section_texts(Section(text, style))  # type: ignore[arg-type]
    assert all(0 < len(p) <= SECTION_TEXT_LIMIT for p in pieces)
    joined = " ".join(_unformat(p, style) for p in pieces)
    assert joined.split() == text.split()  # nothing lost, nothing cut mid-word


def test_escaping_defuses_mentions_pings_and_links() -> None:
    hostile = "<@U123> <!channel> & <https://evil|click>"
    [piece] = section_texts(Section(hostile, "quote"))
    assert piece == ">&lt;@U123&gt; &lt;!channel&gt; &amp; &lt;https://evil|click&gt;"
    assert unescape(escape(hostile)) == hostile
    [message] = render(card(hostile, heading="<!here>"))
    assert "<" not in message.text  # the notification text is escaped too
    assert all(b["text"].get("verbatim") for b in message.blocks if b["type"] == "section")


def test_commands_are_named_the_slack_way() -> None:
    text = say("Send ", Step("ballot"), " to continue; ", Step("help"),
               " lists the commands; ", Step("start"), ".")
    [piece] = section_texts(Section(text))
    assert piece == "Send /delphi ballot to continue; /delphi help lists the commands; /delphi."
    [piece] = section_texts(Section(say(Step("timezone"), " Europe/Berlin"), "bold"))
    assert piece == "*/delphi timezone Europe/Berlin*"
    assert notice_text(say("Round 1 has closed. Send ", Step("ballot"), ".")) == (
        "Round 1 has closed. Send /delphi ballot.")
    [message] = render(card(say(Step("ballot"), " continues your ballot")))
    assert message.text == "/delphi ballot continues your ballot"  # the notification too


def test_words_as_written_are_never_read_for_commands() -> None:
    for style in ("plain", "quote"):  # an expert's or a coordinator's words stay theirs
        [piece] = section_texts(Section("Try /help or /ballot", style))  # type: ignore[arg-type]
        assert piece.removeprefix(">") == "Try /help or /ballot"


def test_button_text_keeps_the_scale_number() -> None:
    long = "7 · " + "Agree, with reservations about the wording " * 3
    text = button_text(long)
    assert len(text) == BUTTON_TEXT_LIMIT and text.startswith("7 · ") and text.endswith("…")
    assert button_text("4") == "4"


def test_a_long_card_is_split_within_block_kit_limits() -> None:
    words = " ".join(f"word{i:05d}" for i in range(4000))  # 40,000 characters
    sections = [Section(words), Section("&<>" * 1500, "quote"),
                *(Section(f"Comment {i}", "quote") for i in range(80))]
    buttons = (tuple(Button(f"{i} · " + "x" * 100, f"1|r|1|S01|{i % 9 + 1}")
                     for i in range(30)),)
    messages = render(Card(tuple(sections), buttons, heading="H" * 300))
    assert len(messages) > 1
    for message in messages:
        assert validate_blocks(message.blocks, "message") == []
    assert all(b["type"] != "actions" for m in messages[:-1] for b in m.blocks)
    last = messages[-1].blocks
    assert [b["type"] for b in last[-2:]] == ["actions", "actions"]  # 30 buttons: 25 + 5
    action_ids = [e["action_id"] for b in last if b["type"] == "actions" for e in b["elements"]]
    assert len(set(action_ids)) == 30
    shown = " ".join(b["text"]["text"] for m in messages for b in m.blocks
                     if b["type"] == "section")
    assert [w for w in shown.split() if w.startswith("word")] == words.split()


def test_empty_cards_and_sections_still_render_valid_blocks() -> None:
    [message] = render(Card(sections=(Section("   "),)))
    assert validate_blocks(message.blocks, "message") == [] and message.blocks
    [only_buttons] = render(Card(sections=(), buttons=((Button("", "1|n"),),)))
    assert validate_blocks(only_buttons.blocks, "message") == []


def test_home_view_is_capped_at_100_blocks() -> None:
    big = Card(tuple(Section(f"line {i}") for i in range(150)), heading="Dashboard")
    view = home_view(big, "Tiny pilot study")
    assert validate_view(view, publish=True) == ([], [])
    assert len(view["blocks"]) == 100 and "/delphi status" in str(view["blocks"][-1])
    small = home_view(card("Round 1: 0 of 5 answered"), "Tiny pilot study")
    assert small["blocks"][0]["text"]["text"] == "Tiny pilot study"


def test_comment_modal_respects_view_limits() -> None:
    prompt = Prompt("Comment on a very long statement code", "Your comment on statement 3",
                    5000)
    view = comment_modal(prompt, {"channel": "D1"})
    assert validate_view(view, publish=False) == ([], [])
    assert len(view["title"]["text"]) <= 24
    assert view["blocks"][0]["element"]["max_length"] == 3000


def test_a_card_rendered_again_is_the_same_and_the_list_is_the_callers() -> None:
    """render() reuses Block Kit built for an equal card (every expert sees the same
    statement cards); what one caller does to its list does not reach the next."""
    statement = card("Broad-spectrum sunscreen every day.", heading="Round 1 · Statement 1",
                     buttons=((Button("1 · Strongly disagree", "1|r|1|S01|1"),),))
    first = render(statement)
    first.clear()
    again = render(Card(sections=statement.sections, buttons=statement.buttons,
                        heading="Round 1 · Statement 1"))
    assert len(again) == 1 and again == render(statement)
    assert again[0].blocks[0]["text"]["text"] == "Round 1 · Statement 1"
    assert validate_blocks(again[0].blocks, "message") == []
