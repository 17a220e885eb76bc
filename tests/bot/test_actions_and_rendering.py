"""Button data and message rendering: what the platforms' limits and hostile input demand."""

from __future__ import annotations

import html

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.telegram.render import MESSAGE_LIMIT, render
from bot.chat import actions
from bot.chat.cards import Button, Card, Section
from bot.chat.splitting import split_text

ACTIONS = st.one_of(
    st.builds(actions.Consent, st.booleans()),
    st.builds(actions.Screen, st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True),
              st.integers(0, 7)),
    st.builds(actions.Rate, st.integers(1, 99),
              st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", fullmatch=True),
              st.none() | st.integers(1, 9)),
    st.builds(actions.AskComment, st.integers(1, 99),
              st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", fullmatch=True)),
    st.builds(actions.Goto, st.integers(1, 99), st.integers(1, 999)),
    st.builds(actions.Submit, st.integers(1, 99)),
    st.builds(actions.CloseRound, st.integers(1, 99), st.booleans()),
)


@given(ACTIONS)
def test_every_action_fits_telegram_and_round_trips(action: actions.Action) -> None:
    data = actions.encode(action)
    assert 1 <= len(data.encode()) <= 64
    assert actions.decode(data) == action


@given(st.text(max_size=80))
@settings(max_examples=500)
def test_garbled_data_is_refused_or_understood_never_crashes(data: str) -> None:
    try:
        decoded = actions.decode(data)
    except actions.BadAction:
        return
    assert actions.encode(decoded) == data  # only canonical data is accepted


@given(st.text(min_size=0, max_size=12000), st.integers(20, 5000))
@settings(max_examples=200)
def test_split_text_keeps_every_word_and_respects_the_limit(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    assert "".join("".join(p.split()) for p in pieces) == "".join(text.split())
    if all(len(word) <= limit for word in text.split()):
        assert " ".join(pieces).split() == text.split()  # no word was cut


def test_long_card_is_split_under_4096_with_buttons_on_the_last_part() -> None:
    words = " ".join(f"word{i}" for i in range(3000))
    card = Card(heading="Round 1 summary", sections=(Section(words), Section("end", "bold")),
                buttons=((Button("Continue", actions.encode(actions.Resume())),),))
    messages = render(card)
    assert len(messages) > 1
    assert all(len(m.text) <= MESSAGE_LIMIT for m in messages)
    assert all(m.markup is None for m in messages[:-1]) and messages[-1].markup is not None
    visible = " ".join(html.unescape(m.text) for m in messages)
    assert all(f"word{i}" in visible for i in (0, 1500, 2999))


def test_user_text_is_escaped_for_html() -> None:
    [message] = render(Card(sections=(Section("<b>x</b> & <a href='http://e'>y</a>", "quote"),)))
    assert message.text == ("<blockquote>&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href='http://e'&gt;y"
                            "&lt;/a&gt;</blockquote>")


def test_a_telegram_card_rendered_again_is_the_same_and_the_list_is_the_callers() -> None:
    """render() reuses the HTML and keyboard built for an equal card (every expert sees
    the same statement cards); what one caller does to its list does not reach the next."""
    rate = (Button("1 · Strongly disagree", "1|r|1|S01|1"), Button("2", "1|r|1|S01|2"))
    statement = Card(heading="Round 1 · Statement 1 of 5 · Sun <protection>",
                     sections=(Section("Broad-spectrum sunscreen & shade."),), buttons=(rate,))
    first = render(statement)
    first.clear()
    [again] = render(Card(heading="Round 1 · Statement 1 of 5 · Sun <protection>",
                          sections=(Section("Broad-spectrum sunscreen & shade."),),
                          buttons=(rate,)))
    assert again.text == ("<b>Round 1 · Statement 1 of 5 · Sun &lt;protection&gt;</b>\n\n"
                          "Broad-spectrum sunscreen &amp; shade.")
    assert again.markup is not None
    assert [b.callback_data for b in again.markup.inline_keyboard[0]] == ["1|r|1|S01|1",
                                                                        "1|r|1|S01|2"]
    assert render(statement) == [again]
