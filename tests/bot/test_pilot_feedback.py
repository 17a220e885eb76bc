"""`delphi pilot` shows what the feedback settings ask and show: confidence on the rated
card (^N answers it), and round 2 with group figures, comments to reply to and the
reason question."""

from __future__ import annotations

import io
from pathlib import Path

from bot.tools.pilot import run_pilot
from tests.bot.test_feedback_extras import study_text

SCREENING = '''
[[screening]]
id = "setting"
question = "Where do you work?"
options = ["Clinic", "Hospital"]
assigns_group = true
'''


async def test_pilot_shows_confidence_and_round_two(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    text = study_text('confidence = "per_statement"',
                      '[feedback]\nask_reason = "outside_iqr"\nby_group = true\n'
                      'replies = true')
    study.write_text(text.replace("[[statements]]", SCREENING + "\n[[statements]]", 1))
    # consent, group; round 1: rate 4 and say "medium" on the card above, then 5, 4, 2, 3
    # and submit (review choice 6); round 2: rate 1, give a reason, then whatever follows.
    keys = ["1", "1", "4", "^2", "5", "4", "2", "3", "6", "1",
            "Outside my experience", *["1"] * 6]
    out = io.StringIO()
    assert await run_pilot(study, 3, out=out, source=io.StringIO("\n".join(keys) + "\n")) == 0
    screen = out.getvalue()
    assert "How sure are you of this rating?" in screen
    assert "(Noted: confidence medium)" in screen
    assert "Round 2 opens, as the experts see it" in screen
    assert "By stakeholder group:" in screen and "Reply to [" in screen
    assert "In a line, why 1?" in screen
    assert "Reason saved on statement 1" in screen
    assert screen.rstrip().endswith("Pilot ended.")
