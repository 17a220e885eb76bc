"""The one parser of coordinator numbers and deadlines: any text is a bounded value or an
``InvalidValue`` sentence, in every time zone, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dialogue import arguments
from engine.errors import InvalidValue

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ZONES = ["UTC", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago",
         "Europe/Berlin", "Asia/Kathmandu"]
DEADLINE_TEXT = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"\+?[0-9٠-٩²]{1,25} ?[dhDH]", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}( [0-9]{2}:[0-9]{2})?", fullmatch=True))


@given(st.text(max_size=30))
def test_any_number_text_is_a_bounded_number_or_a_sentence(text: str) -> None:
    try:
        value = arguments.number(text, 1, 200, "Use: /invite <number from 1 to 200>")
    except InvalidValue as refusal:
        assert str(refusal).startswith("Use: /invite")
    else:
        assert 1 <= value <= 200 and text.strip().isascii()


@given(DEADLINE_TEXT, st.sampled_from(ZONES), st.integers(0, 400))
def test_any_deadline_text_is_a_bounded_moment_or_a_sentence(text: str, zone: str,
                                                             days: int) -> None:
    base = NOW + timedelta(days=days)
    try:
        moment = arguments.deadline(text, NOW, zone, base)
    except InvalidValue as refusal:
        assert str(refusal).endswith(".")
    else:
        assert (moment is None and not text.strip()) or (
            moment is not None and NOW < moment <= NOW + arguments.MAX_AHEAD)


@pytest.mark.parametrize(("text", "expected"), [
    ("14d", NOW + timedelta(days=14)), ("+36h", NOW + timedelta(hours=36)),
    ("2026-12-01", datetime(2026, 12, 2, 4, 59, tzinfo=UTC)),
    ("2026-03-08 02:30", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),  # in the DST gap
    ("2026-12-01T18:00", datetime(2026, 12, 1, 23, 0, tzinfo=UTC)),
    ("365d", NOW + timedelta(days=365))])
def test_deadlines_in_new_york(text: str, expected: datetime) -> None:
    assert arguments.deadline(text, NOW, "America/New_York") == expected


@pytest.mark.parametrize(("text", "sentence"), [
    ("366d", "at most 365 days ahead"), ("8761h", "at most 365 days ahead"),
    ("9999-12-31 23:59", "at most 365 days ahead"), ("0001-01-01", "in the future"),
    ("2026-01-05 03:59", "in the future"), ("2027-02-30", "There is no date"),
    ("next week", "Cannot read the deadline")])
def test_bad_deadlines_are_told_why(text: str, sentence: str) -> None:
    with pytest.raises(InvalidValue, match=sentence):
        arguments.deadline(text, NOW, "America/New_York")
